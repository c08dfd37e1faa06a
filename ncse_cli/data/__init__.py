"""Data: manifests, corpus preparation, mixing, augmentation and datasets.

========================  ===========================================================================
``manifest``              JSONL manifests (:class:`Utterance`, ``read_manifest``, ``write_manifest``)
``synth``                 synthetic talkers, speech-like utterances and noises (the offline demo)
``mixing``                power and ITU-T P.56 active-level SNR, ``mix_at_snr``, cross-fades, noise blends
``noise``                 noise clips, reading at the model rate, mixture/reference cuts that never overlap
``corpora``               indexers for official layouts: VoiceBank-DEMAND, ESC-50, UrbanSound8K, WHAM!, DEMAND
``nonstationary``         noise processes that change within a file (concat, ramp, step, events)
``recipes``               ``prepare_demo``, ``prepare_vbdemand``, ``prepare_ood``, ``prepare_nonstationary``
``config``                ``DataConfig`` (the ``data:`` section of a run) and ``data_config_from_path``
``pools``, ``augment``    weighted noise pools and audiomentations augmentation for dynamic mixing
``datasets``              ``ManifestDataset``, ``DynamicMixingDataset`` and ``build_dataset``
``seeding``               per-item random generators (results independent of workers)
========================  ===========================================================================
"""
