"""Voice activity detection: where a recording holds speech, and so where its pauses are.

Two detectors (:data:`VOICE_DETECTORS`), both returning stretches in samples at the input's own rate:

* ``silero``: Silero VAD (Silero Team, "Silero VAD: pre-trained enterprise-grade Voice Activity Detector",
  2024), a small recurrent network trained on speech in many languages and noises. It runs with onnxruntime on
  the CPU from the weights inside the ``silero-vad`` package, so nothing is downloaded. It works at 16 kHz:
  other rates are resampled with the toolkit's resampler and the stretches mapped back.
* ``energy``: frame energies against the recording's own noise floor (Rabiner & Sambur, "An algorithm for
  determining the endpoints of isolated utterances", Bell Syst. Tech. J. 54(2), 1975), for inputs too short
  for the network's recurrent state to settle, or when the network cannot run. It errs towards speech: a
  recording without enough level contrast is all speech to it.

``auto`` (the default) takes silero unless the input is shorter than ``min_silero_seconds`` or silero cannot
be loaded, in which case it says so once and uses ``energy``.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from ncse_cli.audio import resample_audio
from ncse_cli.audio_stream import Sliceable
from ncse_cli.errors import NcseError
from ncse_cli.registry import Registry

log = logging.getLogger("ncse")

#: The rate Silero VAD runs at.
SILERO_RATE = 16000
#: A long recording is searched for speech in blocks of at most this many seconds (:func:`detect_speech_blocks`).
BLOCK_SECONDS = 60.0


class VadError(NcseError, RuntimeError):
    """A voice activity detector that was asked for by name and cannot run; the message says why."""


@dataclass(frozen=True)
class VadConfig:
    """Which detector, and how speech stretches are cleaned up (the same rules for both detectors).

    ``threshold`` is Silero's speech probability; ``energy_margin_db`` and ``min_contrast_db`` belong to the
    energy detector. Speech shorter than ``min_speech_seconds`` is dropped, pauses shorter than
    ``min_silence_seconds`` are filled, and every speech stretch is widened by ``speech_pad_seconds``.
    """

    detector: Literal["auto", "silero", "energy"] = "auto"
    threshold: float = 0.5
    min_speech_seconds: float = 0.25
    min_silence_seconds: float = 0.1
    speech_pad_seconds: float = 0.03
    min_silero_seconds: float = 1.0  #: ``auto`` hands shorter inputs to the energy detector
    energy_frame_seconds: float = 0.01
    energy_margin_db: float = 3.0  #: a frame is speech this far above the noise floor
    min_contrast_db: float = 10.0  #: less spread between floor and loud frames: no pause can be told apart

    def __post_init__(self) -> None:
        if self.detector not in ("auto", *VOICE_DETECTORS.names()):
            VOICE_DETECTORS.get(self.detector)  # raises, listing the detectors
        if not 0 < self.threshold < 1:
            raise VadError(f"VAD threshold must lie in (0, 1), got {self.threshold}")
        for name in ("min_speech_seconds", "min_silence_seconds", "speech_pad_seconds", "min_silero_seconds"):
            if getattr(self, name) < 0:
                raise VadError(f"VAD {name} must not be negative, got {getattr(self, name)}")
        if not self.energy_frame_seconds > 0:
            raise VadError(f"VAD energy_frame_seconds must be positive, got {self.energy_frame_seconds}")


@dataclass(frozen=True)
class Stretch:
    """Samples ``[start, end)`` of a recording."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def seconds(self, sample_rate: int) -> tuple[float, float]:
        """``(start, end)`` in seconds."""
        return self.start / sample_rate, self.end / sample_rate


@dataclass(frozen=True)
class VoiceActivity:
    """The speech stretches of a recording of ``num_samples`` at ``sample_rate``, and the detector that found them."""

    speech: tuple[Stretch, ...]
    num_samples: int
    sample_rate: int
    detector: str

    def pauses(self) -> tuple[Stretch, ...]:
        """The stretches between (and around) the speech, in order."""
        pauses, position = [], 0
        for stretch in self.speech:
            if stretch.start > position:
                pauses.append(Stretch(position, stretch.start))
            position = max(position, stretch.end)
        if position < self.num_samples:
            pauses.append(Stretch(position, self.num_samples))
        return tuple(pauses)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the detector and the speech stretches in seconds."""
        return {"detector": self.detector,
                "speech": [[round(a, 3), round(b, 3)] for a, b in (s.seconds(self.sample_rate) for s in self.speech)]}


#: ``fn(samples, sample_rate, cfg) -> speech stretches`` (sorted, disjoint, cleaned up by :func:`tidy`).
DetectorFn = Callable[[np.ndarray, int, VadConfig], list[Stretch]]
VOICE_DETECTORS: Registry[DetectorFn] = Registry("voice activity detector")


def detect_speech(samples: np.ndarray, sample_rate: int, cfg: VadConfig = VadConfig()) -> VoiceActivity:
    """Where ``samples`` (mono, any rate) hold speech, by ``cfg.detector``."""
    samples = np.asarray(samples, dtype=np.float32)
    name = cfg.detector
    if name == "auto":
        name = "silero" if len(samples) >= cfg.min_silero_seconds * sample_rate and silero_available() else "energy"
    speech = VOICE_DETECTORS.get(name)(samples, sample_rate, cfg) if len(samples) else []
    return VoiceActivity(tuple(speech), len(samples), sample_rate, name)


def detect_speech_blocks(signal: Sliceable, sample_rate: int, cfg: VadConfig = VadConfig(),
                         block_seconds: float = BLOCK_SECONDS) -> VoiceActivity:
    """:func:`detect_speech` on a long signal that is never held whole: in consecutive equal blocks of at most
    ``block_seconds``, speech on both sides of a block edge joined across it when the gap is shorter than
    ``cfg.min_silence_seconds`` (a detector starting afresh at the edge needs a moment to find speech again). A
    signal within one block is detected whole, exactly as :func:`detect_speech` would."""
    min_gap = cfg.min_silence_seconds * sample_rate
    count = max(1, -(-len(signal) // max(1, int(block_seconds * sample_rate))))
    bounds = [len(signal) * i // count for i in range(count + 1)]
    speech: list[Stretch] = []
    detectors: dict[str, None] = {}
    for start, stop in zip(bounds, bounds[1:]):
        part = detect_speech(np.asarray(signal[start:stop], dtype=np.float32), sample_rate, cfg)
        detectors[part.detector] = None
        for index, stretch in enumerate(part.speech):
            stretch = Stretch(stretch.start + start, stretch.end + start)
            if index == 0 and speech and stretch.start - speech[-1].end < min_gap:  # across the block edge
                speech[-1] = Stretch(speech[-1].start, stretch.end)
            else:
                speech.append(stretch)
    return VoiceActivity(tuple(speech), len(signal), sample_rate, "+".join(detectors))


def tidy(speech: Sequence[Stretch], num_samples: int, sample_rate: int, cfg: VadConfig) -> list[Stretch]:
    """Fill pauses shorter than ``min_silence_seconds``, drop speech shorter than ``min_speech_seconds``, then widen
    each stretch by ``speech_pad_seconds`` (clipped to the recording) and merge what then touches."""
    min_gap, min_len = cfg.min_silence_seconds * sample_rate, cfg.min_speech_seconds * sample_rate
    pad = int(math.ceil(cfg.speech_pad_seconds * sample_rate))
    merged: list[Stretch] = []
    for stretch in sorted(speech, key=lambda s: s.start):
        if merged and stretch.start - merged[-1].end < min_gap:
            merged[-1] = Stretch(merged[-1].start, max(merged[-1].end, stretch.end))
        else:
            merged.append(stretch)
    padded: list[Stretch] = []
    for stretch in (s for s in merged if len(s) >= min_len):
        stretch = Stretch(max(0, stretch.start - pad), min(num_samples, stretch.end + pad))
        if padded and stretch.start <= padded[-1].end:
            padded[-1] = Stretch(padded[-1].start, max(padded[-1].end, stretch.end))
        else:
            padded.append(stretch)
    return padded


@functools.lru_cache(maxsize=1)
def _silero_model() -> Any:
    """The Silero VAD network on onnxruntime (CPU, one thread), loaded once per process from the package."""
    threads = torch.get_num_threads()
    try:
        import silero_vad
        return silero_vad.load_silero_vad(onnx=True)
    finally:
        torch.set_num_threads(threads)  # importing silero_vad sets torch to one thread for the whole process


@functools.lru_cache(maxsize=1)
def silero_available() -> bool:
    """True when Silero VAD loads here; otherwise logs why, once, and ``auto`` uses the energy detector."""
    try:
        _silero_model()
    except Exception as err:  # noqa: BLE001 - any failure to load means: use the fallback
        log.warning("Silero VAD cannot run here (%s: %s); using the energy detector", type(err).__name__, err)
        return False
    return True


@VOICE_DETECTORS.register("silero")
def silero_speech(samples: np.ndarray, sample_rate: int, cfg: VadConfig) -> list[Stretch]:
    """Speech stretches by Silero VAD, on a 16 kHz copy, mapped back to ``sample_rate`` (widened to whole samples)."""
    try:
        model = _silero_model()
    except Exception as err:  # noqa: BLE001 - asked for by name: say why it cannot run
        raise VadError(f"Silero VAD cannot run: {type(err).__name__}: {err}") from None
    import silero_vad

    audio = torch.from_numpy(np.ascontiguousarray(resample_audio(samples, sample_rate, SILERO_RATE)))
    stamps = silero_vad.get_speech_timestamps(
        audio, model, threshold=cfg.threshold, sampling_rate=SILERO_RATE,
        min_speech_duration_ms=int(round(cfg.min_speech_seconds * 1000)),
        min_silence_duration_ms=int(round(cfg.min_silence_seconds * 1000)), speech_pad_ms=0)
    ratio = sample_rate / SILERO_RATE
    speech = [Stretch(int(math.floor(s["start"] * ratio)), min(len(samples), int(math.ceil(s["end"] * ratio))))
              for s in stamps]
    return tidy(speech, len(samples), sample_rate, cfg)


@VOICE_DETECTORS.register("energy")
def energy_speech(samples: np.ndarray, sample_rate: int, cfg: VadConfig) -> list[Stretch]:
    """Speech stretches where frame energy exceeds the noise floor (10th percentile of frame energies) by
    ``energy_margin_db``; everything is speech when loud and quiet frames differ by less than ``min_contrast_db``."""
    frame = max(1, int(round(cfg.energy_frame_seconds * sample_rate)))
    count = -(-len(samples) // frame)
    framed = np.zeros(count * frame, dtype=np.float64)
    framed[:len(samples)] = samples
    energy = 10 * np.log10(np.mean(framed.reshape(count, frame) ** 2, axis=1) + 1e-12)
    floor, loud = np.percentile(energy, 10), np.percentile(energy, 95)
    if loud - floor < cfg.min_contrast_db:
        return [Stretch(0, len(samples))]
    active = np.concatenate([[False], energy > floor + cfg.energy_margin_db, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    speech = [Stretch(int(a) * frame, min(len(samples), int(b) * frame)) for a, b in zip(edges[::2], edges[1::2])]
    return tidy(speech, len(samples), sample_rate, cfg)
