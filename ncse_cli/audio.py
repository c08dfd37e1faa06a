"""Audio files in and out: validated reading, one fixed resampler, atomic writing (soundfile, torchaudio)."""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_output, atomic_write_bytes

log = logging.getLogger("ncse")

#: The one resampler used everywhere (prepare, enhance, encoders): windowed-sinc with a Kaiser window, the
#: parameters of librosa/resampy's "kaiser_best". Resampler choice moves PESQ by tenths, so manifests record it.
RESAMPLER = {"method": "sinc_interp_kaiser", "lowpass_filter_width": 64, "rolloff": 0.9475937167399596,
             "beta": 14.769656459379492}
RESAMPLER_ID = "torchaudio.functional.resample(sinc_interp_kaiser, width=64, rolloff=0.9476, beta=14.77)"

#: File name suffixes of the formats ncse reads, by libsndfile's name for the format.
_FORMAT_SUFFIXES = {"WAV": (".wav",), "FLAC": (".flac",), "OGG": (".ogg", ".oga", ".opus"), "MP3": (".mp3",),
                    "AIFF": (".aif", ".aiff"), "CAF": (".caf",), "W64": (".w64",), "RF64": (".rf64",),
                    "AU": (".au", ".snd")}
#: The one list of audio file suffixes (lower case) that a folder, a single file or a corpus is read by: those of
#: the formats the installed libsndfile decodes (MP3 from libsndfile 1.1 on).
AUDIO_SUFFIXES = tuple(suffix for name, suffixes in _FORMAT_SUFFIXES.items() if name in sf.available_formats()
                       for suffix in suffixes)

#: Sample rates a recording can plausibly have; anything else is a damaged header (a 1 Hz header turns 1 s of
#: 16 kHz audio into 4.4 hours).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 384_000
#: A noise reference below this level (RMS, dB re full scale) holds no noise to condition on: digital silence,
#: or at most a 16-bit file's last bit. Between it and :data:`QUIET_DBFS` a reference is used with a warning.
SILENT_DBFS, QUIET_DBFS = -90.0, -70.0
#: libsndfile's note on a WAV whose ``data`` chunk is longer than the file: ``data : 64000 (should be 31960)``.
_CUT_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
#: Chunk sizes that streaming writers put in a header when they cannot know the length (not a cut file).
_UNKNOWN_LENGTH = 0x7FFF0000


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
    """Read a file as mono float32, checking it exists, decodes, has a plausible header (:func:`check_header`), is
    long enough and holds finite samples.

    Multi-channel files are averaged to mono with a notice. With ``sample_rate`` set, a file at another rate
    raises unless ``resample`` is true, in which case it is converted with :data:`RESAMPLER`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        with sf.SoundFile(str(path)) as handle:
            check_header(path, handle.samplerate, handle.extra_info)
            data, rate = handle.read(dtype="float32", always_2d=True), handle.samplerate
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


def is_audio_file(path: str | os.PathLike) -> bool:
    """True for a file whose suffix names a format ncse reads (:data:`AUDIO_SUFFIXES`, any case)."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(sample_rate, num_frames, channels) of a file without decoding it."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from None
    check_header(Path(path), info.samplerate, info.extra_info)
    return int(info.samplerate), int(info.frames), int(info.channels)


def check_header(path: Path, sample_rate: int, notes: str) -> None:
    """Refuse an implausible sample rate, and a WAV cut short (its header announces more audio than the file
    holds: an interrupted copy or download, which would otherwise be read as the part that is there).

    ``notes`` is libsndfile's log of parsing the header (``SoundFile.extra_info``).
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: implausible sample rate {sample_rate} Hz in its header (a damaged file? "
                         f"expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)")
    found = _CUT_DATA_CHUNK.search(notes)
    if found is not None:
        announced, present = int(found.group(1)), int(found.group(2))
        if present < announced < _UNKNOWN_LENGTH:
            raise AudioError(f"{path}: cut short: the header announces {announced} bytes of audio, the file holds "
                             f"{present} ({present / announced:.0%}); an interrupted copy or download?")


def check_noise_reference(path: str | os.PathLike, audio: Audio) -> None:
    """Refuse a silent noise reference (nothing to condition on) and warn about a nearly silent one, by name."""
    level = rms_dbfs(audio.samples)
    if level < SILENT_DBFS:
        raise AudioError(f"{path}: the noise reference is silent ({_level_text(level)}); record the noise itself")
    if level < QUIET_DBFS:
        log.warning("%s: the noise reference is nearly silent (%s); is it the right file?", path, _level_text(level))


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB re full scale (-inf for digital silence)."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    return 10 * math.log10(power) if power > 0 else -math.inf


def _level_text(level: float) -> str:
    return "all zeros" if level == -math.inf else f"RMS {level:.0f} dBFS"


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
    if _bank_bytes(orig_rate, new_rate, tensor.element_size()) > CACHED_BANK_BYTES:
        return AF.resample(tensor, orig_rate, new_rate, lowpass_filter_width=RESAMPLER["lowpass_filter_width"],
                           rolloff=RESAMPLER["rolloff"], resampling_method=RESAMPLER["method"],
                           beta=RESAMPLER["beta"])
    return _resampler(orig_rate, new_rate, tensor.dtype, tensor.device)(tensor)


#: The largest filter bank :func:`resample_tensor` keeps between calls (44.1 to 16 kHz: 0.5 MB; a rate with no
#: common factor with the other, such as 44 101 Hz, needs gigabytes, and is computed for each call).
CACHED_BANK_BYTES = 16 * 2**20


def _bank_bytes(orig_rate: int, new_rate: int, itemsize: int) -> int:
    """The size of torchaudio's sinc filter bank between two rates: one filter per output phase, each as long as
    the input period plus the filter's reach on both sides."""
    gcd = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // gcd, new_rate // gcd
    reach = math.ceil(RESAMPLER["lowpass_filter_width"] * orig / (min(orig, new) * RESAMPLER["rolloff"]))
    return new * (orig + 2 * reach) * itemsize


@functools.lru_cache(maxsize=32)
def _resampler(orig_rate: int, new_rate: int, dtype: torch.dtype, device: torch.device) -> AT.Resample:
    """:data:`RESAMPLER` between two rates, its filter bank computed once: from 44.1 kHz to 16 kHz that takes
    longer than filtering a few seconds of audio. The bank is computed on the CPU in the signal's dtype, as
    ``torchaudio.functional.resample`` computes it on every call (on the signal's device), so the output on the
    CPU is the same; outside inference mode, so that a later call can be differentiated."""
    with torch.inference_mode(False):
        return AT.Resample(orig_rate, new_rate, resampling_method=RESAMPLER["method"],
                           lowpass_filter_width=RESAMPLER["lowpass_filter_width"], rolloff=RESAMPLER["rolloff"],
                           beta=RESAMPLER["beta"], dtype=dtype).to(device)


def save_audio(path: str | os.PathLike, samples: np.ndarray | torch.Tensor, sample_rate: int,
               subtype: str = "FLOAT") -> Path:
    """Write a mono waveform atomically (temporary file, then rename). 32-bit float keeps mixtures exact; an integer
    ``subtype`` (``PCM_16``...) clips at full scale, with a warning naming the file when a sample is clipped.

    The WAV is encoded in memory and written by Python: libsndfile reports a full disk only as "System error",
    Python as an ``OSError`` naming the file."""
    path = Path(path)
    data = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples, dtype=np.float32)
    if data.ndim != 1:
        raise AudioError(f"{path}: expected a mono waveform, got shape {tuple(data.shape)}")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
    _say_if_clipped(path, _clipped(data, subtype), subtype)
    encoded = io.BytesIO()
    sf.write(encoded, data, sample_rate, subtype=subtype, format="WAV")
    atomic_write_bytes(path, encoded.getvalue())
    return path


def save_audio_blocks(path: str | os.PathLike, blocks: Iterable[np.ndarray], sample_rate: int,
                      subtype: str = "FLOAT") -> int:
    """Write consecutive mono blocks (a long file enhanced window by window) as one WAV without holding them all:
    each block is appended as it arrives, into a temporary file renamed onto ``path`` at the end. Returns the
    number of samples written."""
    path = Path(path)
    written = clipped = 0
    try:
        with atomic_output(path, suffix=".tmp.wav") as tmp, sf.SoundFile(tmp, "w", sample_rate, 1, subtype,
                                                                         format="WAV") as out:
            for block in blocks:
                data = np.asarray(block, dtype=np.float32)
                if data.ndim != 1 or not np.all(np.isfinite(data)):
                    raise AudioError(f"{path}: refusing to write a block of shape {tuple(data.shape)} "
                                     f"{'with NaN or infinite samples' if data.ndim == 1 else '(not mono)'}")
                out.write(data)
                written += len(data)
                clipped += _clipped(data, subtype)
    except sf.LibsndfileError as err:  # streamed by libsndfile, whose only word for a full disk is "System error"
        raise AudioError(f"{path}: could not be written ({err.error_string.rstrip('.')}: is the disk full?)") from None
    _say_if_clipped(path, clipped, subtype)
    return written


def _clipped(data: np.ndarray, subtype: str) -> int:
    """How many samples an integer ``subtype`` clips (beyond full scale); none for float subtypes."""
    return 0 if not subtype.startswith("PCM") else int(np.count_nonzero(np.abs(data) > 1.0))


def _say_if_clipped(path: Path, clipped: int, subtype: str) -> None:
    if clipped:
        log.warning("%s: %d sample(s) beyond full scale clipped by the %s format (FLOAT keeps them)", path, clipped,
                    subtype)
