"""The one module of test factories: synthetic audio, tiny manifests, small corpus trees in each official layout,
tiny models and signals, pre-trained tower checkpoints in their official layouts, and small test helpers.

Everything is deterministic for its ``seed`` and small enough to build in well under a second. Colleagues'
tests import from here (``from tests.dummies import make_manifest``); keep it general.

Layouts built here (``root`` is the corpus folder a user would pass on the command line):

* :func:`make_voicebank_tree` - VoiceBank-DEMAND, 28 speakers: ``clean_trainset_28spk_wav/``,
  ``noisy_trainset_28spk_wav/``, ``clean_testset_wav/``, ``noisy_testset_wav/``, ``logfiles/log_trainset_28spk.txt``,
  ``logfiles/log_testset.txt``
* :func:`make_esc50_tree` - ESC-50: ``meta/esc50.csv`` + ``audio/<fold>-<src>-<take>-<target>.wav``
* :func:`make_urbansound_tree` - UrbanSound8K: ``metadata/UrbanSound8K.csv`` + ``audio/fold<k>/...``
* :func:`make_wham_tree` - WHAM! noise: ``tr/``, ``cv/``, ``tt/``
* :func:`make_demand_tree` - DEMAND: ``<ENV>/ch01.wav`` ...
* :func:`make_audioset_tree` - AudioSet: the segment lists, ``class_labels_indices.csv`` and clips named as
  downloaders name them
"""

from __future__ import annotations

import contextlib
import math
import resource
import signal
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from ncse_cli.config import from_dict
from ncse_cli.data.manifest import Utterance, write_manifest
from ncse_cli.data.mixing import mix_at_snr
from ncse_cli.data.synth import make_talkers, synth_noise, synth_speech
from ncse_cli.model import ModelConfig, ScoreModel, build_model


def rng_for(seed: int) -> np.random.Generator:
    """The generator every factory uses."""
    return np.random.default_rng(seed)


def speech(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0, talker: int = 0) -> np.ndarray:
    """Speech-like float32 audio (a synthetic talker; ``talker`` picks one of eight voices)."""
    voices = make_talkers(8, rng_for(1234))
    return synth_speech(voices[talker % 8], int(round(seconds * sample_rate)), sample_rate, rng_for(seed))


def noise(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0, kind: str = "pink",
          level: float = 0.1) -> np.ndarray:
    """Synthetic noise (``white``, ``pink``, ``brown``, ``babble``, ``hum``, ``clicks``) at RMS ``level``."""
    return (synth_noise(kind, int(round(seconds * sample_rate)), sample_rate, rng_for(seed)) * level).astype(
        np.float32)


def sine(seconds: float = 1.0, sample_rate: int = 16000, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_with_pauses(layout: Sequence[tuple[str, float]], sample_rate: int = 16000, seed: int = 0,
                       noise_level: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """``(recording, speech)``: speech bursts and pauses in steady pink noise, and the speech alone (zero in the
    pauses, so where speech is active can be measured from it).

    ``layout`` is ``[("speech", 1.5), ("pause", 0.8), ...]``; each burst is another synthetic talker at peak 0.5
    (synthetic utterances start and end with 0.1-0.25 s of silence and may hold word pauses), and the noise runs
    under everything at RMS ``noise_level``.
    """
    parts = []
    for index, (kind, seconds) in enumerate(layout):
        count = int(round(seconds * sample_rate))
        burst = speech(seconds, sample_rate, seed=seed + index, talker=index) if kind == "speech" else np.zeros(count)
        parts.append(0.5 * burst / max(float(np.abs(burst).max()), 1e-9))
    clean = np.concatenate(parts).astype(np.float32)
    background = noise(len(clean) / sample_rate, sample_rate, seed=seed + 999, level=noise_level)[:len(clean)]
    return (clean + background).astype(np.float32), clean


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT",
              channels: int = 1) -> Path:
    """Write audio (duplicated to ``channels`` channels; ``subtype`` ``PCM_16`` like most corpora)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples, dtype=np.float32)
    if channels > 1:
        data = np.stack([data] * channels, axis=1)
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return path


def cut_wav(path: str | Path, keep: float = 0.5) -> Path:
    """Cut a written WAV file to ``keep`` of its bytes, leaving its header as it was (an interrupted copy)."""
    path = Path(path)
    with path.open("r+b") as handle:
        handle.truncate(int(path.stat().st_size * keep))
    return path


def set_wav_data_size(path: str | Path, size: int) -> Path:
    """Overwrite the size field of a WAV file's ``data`` chunk (0xFFFFFFFF is what streaming writers put there,
    who cannot know the length when they write the header)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@contextlib.contextmanager
def file_size_limit(num_bytes: int) -> Iterator[None]:
    """Files of this process cannot grow beyond ``num_bytes`` inside the block: a write past it fails with EFBIG
    ('File too large'), as a write to a full disk fails with ENOSPC, from the kernel itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process at the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (num_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def read_wav(path: str | Path) -> np.ndarray:
    """A file's samples exactly as stored (float32; mono files as 1-D)."""
    data, _ = sf.read(str(path), dtype="float32")
    return data


def make_manifest(folder: str | Path, count: int = 4, *, sample_rate: int = 16000, seconds: float = 1.0,
                  ref_seconds: float = 0.25, name: str = "tiny", split: str = "train", seed: int = 0,
                  with_ref: bool = True, with_clean: bool = True, kinds: Sequence[str] = ("pink",)) -> Path:
    """A manifest of ``count`` mixtures (speech + noise at 5 dB) with references, files beside it; row i's noise
    (and its reference) is of synthetic kind ``kinds[i % len(kinds)]``, its ``noise_type``. ``with_ref`` /
    ``with_clean`` False leave those fields null (a noisy-only row)."""
    folder = Path(folder)
    rows = []
    for i in range(count):
        key, kind = f"{name}_{i:03d}", kinds[i % len(kinds)]
        mix = mix_at_snr(speech(seconds, sample_rate, seed + i, talker=i),
                         noise(seconds, sample_rate, seed + 100 + i, kind=kind), 5.0)
        clean = mix.clean
        write_wav(folder / name / "clean" / f"{key}.wav", clean, sample_rate)
        write_wav(folder / name / "noisy" / f"{key}.wav", mix.noisy, sample_rate)
        ref = None
        if with_ref:
            ref_audio = noise(ref_seconds, sample_rate, seed + 200 + i, kind=kind) * mix.reference_scale
            write_wav(folder / name / "noise_ref" / f"{key}.wav", ref_audio, sample_rate)
            ref = f"{name}/noise_ref/{key}.wav"
        rows.append(Utterance(id=key, noisy=f"{name}/noisy/{key}.wav",
                              clean=f"{name}/clean/{key}.wav" if with_clean else None,
                              noise_ref=ref, snr_db=5.0, noise_type=kind, noise_source="synthetic",
                              split=split, sample_rate=sample_rate, num_samples=len(clean)))
    return write_manifest(folder / f"{name}.jsonl", rows)


def make_clean_dir(folder: str | Path, count: int = 3, *, sample_rate: int = 16000, seconds: float = 1.0,
                   speaker: str = "p232", seed: int = 0) -> Path:
    """A folder of clean speech files named like VoiceBank's (``p232_001.wav`` ...)."""
    folder = Path(folder)
    for i in range(count):
        write_wav(folder / f"{speaker}_{i + 1:03d}.wav", speech(seconds, sample_rate, seed + i, talker=i),
                  sample_rate, subtype="PCM_16")
    return folder


def _vb_split(root: Path, clean_dir: str, noisy_dir: str, speakers: Sequence[str], per_speaker: int,
              noise_types: Sequence[str], snrs: Sequence[float], sample_rate: int, seconds: float,
              seed: int) -> list[str]:
    lines, rng = [], rng_for(seed)
    for s, spk in enumerate(speakers):
        for i in range(per_speaker):
            utt = f"{spk}_{i + 1:03d}"
            clean = speech(seconds * rng.uniform(0.9, 1.1), sample_rate, seed + 31 * s + i, talker=s)
            kind = noise_types[(s + i // 2) % len(noise_types)]
            snr = snrs[(s * per_speaker + i) % len(snrs)]
            noise_part = synth_noise("pink" if i % 2 else "brown", len(clean), sample_rate, rng)
            noise_part *= np.sqrt(np.mean(clean ** 2) / 10 ** (snr / 10))
            write_wav(root / clean_dir / f"{utt}.wav", clean, sample_rate, "PCM_16")
            write_wav(root / noisy_dir / f"{utt}.wav", clean + noise_part, sample_rate, "PCM_16")
            lines.append(f"{utt} {kind} {snr:g}")
    return lines


def make_voicebank_tree(root: str | Path, *, train_speakers: Sequence[str] = ("p226", "p227", "p228", "p287"),
                        test_speakers: Sequence[str] = ("p232",), per_speaker: int = 2, sample_rate: int = 48000,
                        seconds: float = 1.2, seed: int = 0) -> Path:
    """VoiceBank-DEMAND in its official layout (48 kHz 16-bit files, log lines ``p226_001 cafe 5``)."""
    root = Path(root)
    train = _vb_split(root, "clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", train_speakers, per_speaker,
                      ("cafe", "car"), (0, 5, 10, 15), sample_rate, seconds, seed)
    test = _vb_split(root, "clean_testset_wav", "noisy_testset_wav", test_speakers, per_speaker,
                     ("living", "bus"), (2.5, 7.5, 12.5, 17.5), sample_rate, seconds, seed + 1)
    (root / "logfiles").mkdir(parents=True, exist_ok=True)
    (root / "logfiles" / "log_trainset_28spk.txt").write_text("\n".join(train) + "\n")
    (root / "logfiles" / "log_testset.txt").write_text("\n".join(test) + "\n")
    return root


def _clip(kind: str, seconds: float, sample_rate: int, seed: int, pad: float) -> np.ndarray:
    audio = noise(seconds, sample_rate, seed, kind=kind, level=0.1)
    return np.concatenate([audio, np.zeros(int(pad * sample_rate), np.float32)])


def make_esc50_tree(root: str | Path, *, categories: Sequence[str] = ("rain", "dog", "door_wood_knock"),
                    clips_per_category: int = 2, folds: Sequence[int] = (1, 2), sample_rate: int = 44100,
                    seconds: float = 2.0, pad_seconds: float = 0.5, seed: int = 0) -> Path:
    """ESC-50: ``meta/esc50.csv`` (official columns) and ``audio/``; clips end in digital silence like ESC-50's
    (``pad_seconds`` of zeros). Category i uses synthetic kind ``white/pink/brown/...`` by position."""
    root, rows = Path(root), []
    kinds = ("white", "pink", "brown", "hum", "clicks", "babble")
    for target, category in enumerate(categories):
        for j in range(clips_per_category):
            fold = folds[j % len(folds)]
            name = f"{fold}-{100000 + 10 * target + j}-A-{target}.wav"
            write_wav(root / "audio" / name, _clip(kinds[target % len(kinds)], seconds, sample_rate,
                                                   seed + 10 * target + j, pad_seconds), sample_rate, "PCM_16")
            rows.append({"filename": name, "fold": fold, "target": target, "category": category,
                         "esc10": "False", "src_file": 100000 + 10 * target + j, "take": "A"})
    (root / "meta").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def make_urbansound_tree(root: str | Path, *, classes: Sequence[str] = ("siren", "dog_bark", "drilling"),
                         clips_per_class: int = 2, folds: Sequence[int] = (1, 10), sample_rate: int = 22050,
                         seconds: float = 1.5, stereo: bool = True, seed: int = 0) -> Path:
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` (official columns), ``audio/fold<k>/``; the first clip of each
    class is stereo when ``stereo`` (the real corpus mixes mono and stereo files)."""
    root, rows = Path(root), []
    kinds = ("hum", "clicks", "white", "pink", "brown")
    for class_id, label in enumerate(classes):
        for j in range(clips_per_class):
            fold = folds[j % len(folds)]
            name = f"{200 + class_id}-{class_id}-0-{j}.wav"
            audio = noise(seconds, sample_rate, seed + 7 * class_id + j, kind=kinds[class_id % len(kinds)])
            write_wav(root / "audio" / f"fold{fold}" / name, audio, sample_rate, "PCM_16",
                      channels=2 if stereo and j == 0 else 1)
            rows.append({"slice_file_name": name, "fsID": 200 + class_id, "start": 0.0, "end": seconds,
                         "salience": 1, "fold": fold, "classID": class_id, "class": label})
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return root


def make_wham_tree(root: str | Path, *, subsets: Sequence[str] = ("tr", "cv", "tt"), files_per_subset: int = 2,
                   sample_rate: int = 16000, seconds: float = 3.0, seed: int = 0) -> Path:
    """WHAM! noise: ``tr/ cv/ tt/`` with two-channel files like the real corpus."""
    root = Path(root)
    for s, subset in enumerate(subsets):
        for j in range(files_per_subset):
            write_wav(root / subset / f"{subset}_{j:02d}.wav", noise(seconds, sample_rate, seed + 10 * s + j,
                                                                     kind="babble"), sample_rate, channels=2)
    return root


def make_demand_tree(root: str | Path, *, environments: Sequence[str] = ("DKITCHEN", "STRAFFIC"),
                     channels: int = 2, sample_rate: int = 16000, seconds: float = 3.0, seed: int = 0) -> Path:
    """DEMAND: ``<ENV>/ch01.wav`` .. ``ch<channels>.wav``."""
    root = Path(root)
    for e, env in enumerate(environments):
        for ch in range(1, channels + 1):
            write_wav(root / env / f"ch{ch:02d}.wav", noise(seconds, sample_rate, seed + 20 * e + ch,
                                                            kind=("brown", "pink")[e % 2]), sample_rate, "PCM_16")
    return root


#: (mid, display name) of the labels in :func:`make_audioset_tree`.
AUDIOSET_LABELS = (("/m/09x0r", "Speech"), ("/m/0jbk", "Animal"), ("/m/0bt9lr", "Dog"), ("/m/06mb1", "Rain"),
                   ("/m/07yv9", "Vehicle"))
#: subset -> (YouTube id, start, labels, audio file written for it or None, as downloaders name them).
AUDIOSET_SEGMENTS = {
    "balanced_train": (("--PJHxphWEs", 30.0, "/m/09x0r,/m/07yv9", "Y--PJHxphWEs.wav"),  # speech: not noise
                       ("0aBcDeFgHiJ", 10.0, "/m/0jbk,/m/0bt9lr", "audio/0aBcDeFgHiJ_10.000_20.000.wav"),
                       ("YxYzAbCdEf1", 0.0, "/m/06mb1", "audio/bal/YxYzAbCdEf1_0.wav"),  # an id that starts with Y
                       ("gone0000001", 5.0, "/m/06mb1", None)),  # a video that could not be downloaded
    "eval": (("evalClip_01", 100.0, "/m/07yv9", "eval/YevalClip_01_100000_110000.flac"),),  # milliseconds
    "unbalanced_train": (("unbal-Clip1", 20.0, "/m/06mb1,/m/07yv9", "audio/unbal-Clip1_20.ogg"),),
}


def make_audioset_tree(root: str | Path, *, sample_rate: int = 16000, seconds: float = 0.5, seed: int = 0) -> Path:
    """AudioSet: the official segment lists (three ``#`` lines, quoted labels) and class labels, the clips of
    :data:`AUDIOSET_SEGMENTS` in several naming styles, and files that match no listed segment."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = ["index,mid,display_name"] + [f'{i},{mid},"{name}"' for i, (mid, name) in enumerate(AUDIOSET_LABELS)]
    (root / "class_labels_indices.csv").write_text("\n".join(lines) + "\n")
    for k, (subset, segments) in enumerate(AUDIOSET_SEGMENTS.items()):
        rows = ["# Segments csv created Sun Mar  5 10:54:31 2017",
                f"# num_ytids={len(segments)}, num_segs={len(segments)}, num_unique_labels=5, num_positive_labels=9",
                "# YTID, start_seconds, end_seconds, positive_labels"]
        for j, (ytid, start, labels, name) in enumerate(segments):
            rows.append(f'{ytid}, {start:.3f}, {start + 10:.3f}, "{labels}"')
            if name is not None:
                write_wav(root / name, noise(seconds, sample_rate, seed + 10 * k + j, kind="brown"), sample_rate,
                          "PCM_16" if name.endswith((".wav", ".flac")) else "VORBIS")
        (root / f"{subset}_segments.csv").write_text("\n".join(rows) + "\n")
    write_wav(root / "audio" / "notListed01_0.wav", noise(seconds, sample_rate, seed), sample_rate)
    write_wav(root / "audio" / "0aBcDeFgHiJ_55.wav", noise(seconds, sample_rate, seed), sample_rate)  # other start
    return root


#: A cnn encoder small enough for fast tests.
SMALL_CNN = {"name": "cnn", "channels": [8, 16, 16, 32], "dim": 32}
#: The model of the tests (``tiny_model``, ``make_model_dir``, run configs): NCSN++ ``tiny`` at nf 4 and a small
#: CNN encoder (about 0.1 M weights) on a 128-bin STFT (n_fft 254, half the pixels of the default), since they test
#: what happens around the network rather than the spectrogram's size; the default 510-point STFT is tested by the
#: demo, the README example, the recipes and the SGMSE+ comparisons.
TINY_MODEL = {"backbone": {"name": "tiny", "nf": 4, "freq_bins": 128}, "encoder": SMALL_CNN, "stft": {"n_fft": 254}}


def make_model_dir(directory: str | Path, *, encoder: str = "cnn", sample_rate: int = 16000, seed: int = 0,
                   ref_seconds: float | None = None) -> Path:
    """An untrained tiny model saved as a model directory (``config.yaml`` + ``model.safetensors``); with
    ``ref_seconds`` its config also has the ``data`` section of a run trained with references that long.

    Parameters that start at zero (output layers, the condition projection) are drawn small and random instead,
    so that the output depends on the noise reference and differs from the input.
    """
    from ncse_cli.model_dir import save_model

    torch.manual_seed(seed)
    data = {**TINY_MODEL, "sample_rate": sample_rate, **({"encoder": "none"} if encoder == "none" else {})}
    model = build_model(from_dict(ModelConfig, data))
    with torch.no_grad():
        for param in model.parameters():
            if not param.any():
                param.normal_(0.0, 0.05)
    config = None if ref_seconds is None else {"data": {"train": "train.jsonl", "ref_seconds": ref_seconds}}
    return save_model(model.eval(), directory, config)


# --- the reference implementation (sgmse 0.1.2) ------------------------------------------------------------------

#: NCSN++ sizes for reference comparisons: the layouts of ncse's ``tiny`` preset and of ``base``, both at a width of 8
#: (the comparisons are of structure and arithmetic; width 16 cost twice as much in float64).
SGMSE_TINY = {"nf": 8, "ch_mult": (1, 2, 2, 4, 4), "num_res_blocks": 1, "attn_resolutions": (16,)}
SGMSE_BASE_LAYOUT = {"nf": 8, "ch_mult": (1, 1, 2, 2, 2, 2, 2), "num_res_blocks": 2, "attn_resolutions": (16,)}
#: SGMSE+'s full-band ncsnpp_48k (no attention but the middle block's) at a width of 8 and five levels.
SGMSE_FULL_BAND = {"nf": 8, "ch_mult": (1, 1, 2, 2, 2), "num_res_blocks": 2, "attn_resolutions": ()}
#: SGMSE+'s full-band hyper-parameters (sgmse 0.1.2's README, for its EARS checkpoints): 48 kHz, a 1534-point STFT,
#: its compression and OUVE SDE.
SGMSE_FULL_BAND_HPARAMS = {"sr": 48000, "n_fft": 1534, "hop_length": 384, "spec_factor": 0.065,
                           "spec_abs_exponent": 0.667, "theta": 2.0, "sigma_min": 0.1, "sigma_max": 1.0}
#: ncse's NCSN++ options that make it SGMSE+'s ncsnpp_48k (with ``attn_resolutions: []``).
NCSNPP_48K_OPTIONS = {"progressive": "none", "progressive_input": "none", "divide_after_output_layer": True}


def randomize_(module, seed: int = 0, scale: float = 0.05):
    """Give every parameter (zero-initialised ones too) random values, so weight maps cannot hide behind zeros;
    Gaussian Fourier features keep their own scale."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    for name, param in module.named_parameters():
        if not name.endswith(".W") or param.dim() != 1:
            param.data.copy_(scale * torch.randn(param.shape, generator=gen, dtype=param.dtype))
    return module


def sgmse_reference_model(backbone: str = "ncsnpp", sde: str = "ouve", seed: int = 0, num_frames: int = 64,
                          **hparams):
    """The reference package's Lightning ``ScoreModel`` (sgmse 0.1.2) with random weights and a different random
    EMA, as its training would leave it; ``hparams`` override its defaults and :data:`SGMSE_TINY`."""
    import torch
    from sgmse.data_module import SpecsDataModule
    from sgmse.model import ScoreModel as ReferenceScoreModel
    torch.manual_seed(seed)
    loss = "data_prediction" if sde == "sbve" else "score_matching"
    kwargs = {**SGMSE_TINY, "base_dir": "unused", "num_frames": num_frames, "loss_type": loss,
              "theta": 1.5, "sigma_min": 0.05, "sigma_max": 0.5, "N": 30, "k": 2.6, "c": 0.4,
              "sampler_type": "pc" if sde == "ouve" else "ode", **hparams}
    model = ReferenceScoreModel(backbone=backbone, sde=sde, data_module_cls=SpecsDataModule, **kwargs)
    randomize_(model.dnn, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for shadow, param in zip(model.ema.shadow_params, model.dnn.parameters()):
        shadow.copy_(param.detach() + 0.01 * torch.randn(param.shape, generator=gen))
    return model


def write_sgmse_checkpoint(model, path: str | Path, **extra) -> Path:
    """Save a reference model as PyTorch Lightning writes its checkpoints (``state_dict``, ``hyper_parameters``
    with the data-module class, ``ema``, loop bookkeeping); ``extra`` adds or replaces entries."""
    import torch
    ckpt = {"epoch": 3, "global_step": 1234, "pytorch-lightning_version": "2.6.6",
            "state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "hparams_name": "kwargs",
            "ema": model.ema.state_dict(), "optimizer_states": [], "lr_schedulers": [], "callbacks": {},
            "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}}}}, **extra}
    path = Path(path)
    torch.save(ckpt, path)
    return path
class ProgressLog:
    """A :class:`ncse_cli.progress.Progress` that records every report: ``tasks[description]`` lists the
    ``(done, total, note)`` of each call, in order."""

    def __init__(self) -> None:
        self.tasks: dict[str, list[tuple[int, int, str | None]]] = {}

    def __call__(self, description: str):
        reports = self.tasks.setdefault(description, [])
        return lambda done, total, note=None: reports.append((done, total, note))


def assert_same_tensors(a: dict, b: dict) -> None:
    """Two state dicts hold the same keys and, key by key, equal tensors (no ``zip`` that stops at the shorter)."""
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- tiny models and signals ------------------------------------------------------------------------------------


def tiny_config(encoder="cnn", injection: str = "add", null: str = "zeros", **model) -> ModelConfig:
    """:data:`TINY_MODEL`'s config; ``encoder`` is a name or a component mapping (``cnn``: :data:`SMALL_CNN`);
    ``backbone`` options are merged into the tiny one, the other ``model`` keys replace their section."""
    enc = SMALL_CNN if encoder == "cnn" else encoder
    backbone = {**TINY_MODEL["backbone"], **model.pop("backbone", {})}
    data = {**TINY_MODEL, "backbone": backbone, "encoder": enc, "conditioning": {"injection": injection, "null": null},
            **model}
    return from_dict(ModelConfig, data)


def tiny_model(seed: int = 0, **kwargs) -> ScoreModel:
    """A freshly initialised tiny model (deterministic for ``seed``) in eval mode."""
    torch.manual_seed(seed)
    return build_model(tiny_config(**kwargs)).eval()


def tone_mixture(num_samples: int = 4096, seed: int = 0, batch: int = 1):
    """(clean, noisy, reference) waveforms: an amplitude-modulated tone in white noise, and more of the noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / 16000
    clean = 0.5 * torch.sin(2 * math.pi * 220 * t) * torch.sin(2 * math.pi * 3 * t).abs()
    noise = 0.2 * torch.randn(batch, num_samples, generator=gen)
    ref = 0.2 * torch.randn(batch, 4000, generator=gen)
    clean = clean.expand(batch, -1).clone()
    return clean, clean + noise, ref


# -- pre-trained towers: random weights saved in the official checkpoint layouts -------------------------------


def write_clap_checkpoint(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A LAION-CLAP-style training checkpoint (``state_dict`` with ``module.`` keys, text side included);
    returns the audio tower's state (keys without the prefix)."""
    from ncse_cli.encoders.clap import CLAPAudioTower

    torch.manual_seed(seed)
    audio = CLAPAudioTower().state_dict()
    text = {"text_branch.embeddings.word_embeddings.weight": torch.randn(10, 4),
            "text_branch.embeddings.position_ids": torch.arange(6)[None],
            "text_projection.0.weight": torch.randn(4, 4), "logit_scale_a": torch.tensor(2.6),
            "logit_scale_t": torch.tensor(2.6)}
    state = {f"module.{k}": v for k, v in {**audio, **text}.items()}
    torch.save({"epoch": 45, "name": "630k-audioset", "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99), "params": [0]}]}},
               path)
    return audio


def write_panns_checkpoint(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A PANNs-style checkpoint (``iteration``, ``model`` state dict, sampler state with numpy arrays)."""
    from ncse_cli.encoders.panns import Cnn14Tower

    torch.manual_seed(seed)
    model = Cnn14Tower(window=32000).cnn14.state_dict()
    sampler = {"indexes_per_class": [np.arange(5), np.arange(3)], "queue": [4, 1],
               "pointers_of_classes": [0, 2]}
    torch.save({"iteration": 600000, "model": model, "sampler": sampler}, path)
    return model


def clap_config(ckpt: Path | str | None, **fields) -> dict:
    """A small ``clap`` encoder section reading ``ckpt``."""
    return {"name": "clap", "ckpt": None if ckpt is None else str(ckpt), "dim": 16, **fields}


def panns_config(ckpt: Path | str | None, **fields) -> dict:
    """A small ``panns`` encoder section (0.75 s window) reading ``ckpt``."""
    return {"name": "panns", "ckpt": None if ckpt is None else str(ckpt), "dim": 16, "window_seconds": 0.75,
            **fields}


def tiny_pretrained_model(encoder: dict, injection: str = "add", seed: int = 0) -> ScoreModel:
    """A tiny-backbone score model with a pre-trained encoder, in train mode."""
    torch.manual_seed(seed)
    return build_model(tiny_config(encoder=encoder, injection=injection)).train()
