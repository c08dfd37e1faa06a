"""Enhancing audio files with a trained model: the use case behind ``ncse enhance`` and ``ncse evaluate``.

``settings``  how to enhance (:class:`~settings.EnhanceSettings`: guidance scale w, steps, seed, batch size,
              device); imports nothing heavy, so the CLI and :mod:`ncse_cli.api` can read it at start-up
``jobs``      what to enhance: a file, a folder or a manifest as jobs writing into one output folder
``enhancer``  the use case: :class:`~enhancer.Enhancer` (a model and its sampler, loaded once) and
              :func:`~enhancer.enhance_files` (``ncse enhance``)
``batches``   files to tensors at the model's rate, batched by shape, one generator per utterance
``outputs``   tensors to files at their input's rate and length, and the output folder's record

This package's ``__init__`` imports nothing, so that importing ``settings`` does not import torch.
"""
