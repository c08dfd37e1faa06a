"""Audio files in and out: validated reading, one fixed resampler, atomic writing (soundfile, torchaudio)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_output

log = logging.getLogger("ncse")

#: The one resampler used everywhere (prepare, enhance, encoders): windowed-sinc with a Kaiser window, the
#: parameters of librosa/resampy's "kaiser_best". Resampler choice moves PESQ by tenths, so manifests record it.
RESAMPLER = {"method": "sinc_interp_kaiser", "lowpass_filter_width": 64, "rolloff": 0.9475937167399596,
             "beta": 14.769656459379492}
RESAMPLER_ID = "torchaudio.functional.resample(sinc_interp_kaiser, width=64, rolloff=0.9476, beta=14.77)"


class AudioError(NcseError, ValueError):
    """An audio file that cannot be used; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Audio:
    """A mono waveform (float32, shape [num_samples]) and its sample rate."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(path: str | os.PathLike, sample_rate: int | None = None, *, resample: bool = False,
               min_samples: int = 1) -> Audio:
    """Read a file as mono float32, checking it exists, decodes, is long enough and holds finite samples.

    Multi-channel files are averaged to mono with a notice. With ``sample_rate`` set, a file at another rate
    raises unless ``resample`` is true, in which case it is converted with :data:`RESAMPLER`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from None
    if data.shape[1] > 1:
        log.warning("%s: %d channels mixed down to mono", path, data.shape[1])
    samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if sample_rate is not None and rate != sample_rate:
        if not resample:
            raise AudioError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
        samples = resample_audio(samples, rate, sample_rate)
        rate = sample_rate
    if len(samples) < min_samples:
        what = "empty" if len(samples) == 0 else f"too short ({len(samples)} samples, need {min_samples})"
        raise AudioError(f"{path}: {what}")
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate))


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(sample_rate, num_frames, channels) of a file without decoding it."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from None
    return int(info.samplerate), int(info.frames), int(info.channels)


def resample_audio(samples: np.ndarray | torch.Tensor, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample a waveform (last axis) with the toolkit's fixed :data:`RESAMPLER`."""
    if orig_rate == new_rate:
        return np.asarray(samples, dtype=np.float32)
    tensor = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    return resample_tensor(tensor, orig_rate, new_rate).numpy()


def resample_tensor(tensor: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Differentiable tensor version of :func:`resample_audio` (used inside encoders)."""
    if orig_rate == new_rate:
        return tensor
    return AF.resample(tensor, orig_rate, new_rate, lowpass_filter_width=RESAMPLER["lowpass_filter_width"],
                       rolloff=RESAMPLER["rolloff"], resampling_method=RESAMPLER["method"],
                       beta=RESAMPLER["beta"])


def save_audio(path: str | os.PathLike, samples: np.ndarray | torch.Tensor, sample_rate: int,
               subtype: str = "FLOAT") -> Path:
    """Write a mono waveform atomically (temporary file, then rename). 32-bit float keeps mixtures exact."""
    path = Path(path)
    data = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples, dtype=np.float32)
    if data.ndim != 1:
        raise AudioError(f"{path}: expected a mono waveform, got shape {tuple(data.shape)}")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
    with atomic_output(path, suffix=".tmp.wav") as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype, format="WAV")
    return path


def save_audio_blocks(path: str | os.PathLike, blocks: Iterable[np.ndarray], sample_rate: int,
                      subtype: str = "FLOAT") -> int:
    """Write consecutive mono blocks (a long file enhanced window by window) as one WAV without holding them all:
    each block is appended as it arrives, into a temporary file renamed onto ``path`` at the end. Returns the
    number of samples written."""
    path = Path(path)
    written = 0
    with atomic_output(path, suffix=".tmp.wav") as tmp, sf.SoundFile(tmp, "w", sample_rate, 1, subtype,
                                                                     format="WAV") as out:
        for block in blocks:
            data = np.asarray(block, dtype=np.float32)
            if data.ndim != 1 or not np.all(np.isfinite(data)):
                raise AudioError(f"{path}: refusing to write a block of shape {tuple(data.shape)} "
                                 f"{'with NaN or infinite samples' if data.ndim == 1 else '(not mono)'}")
            out.write(data)
            written += len(data)
    return written
