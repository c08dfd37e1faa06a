"""Noise clips: what a clip is, reading (a segment of) one at the model rate, and cutting a mixture part and a
disjoint reference part from the same noise.

A :class:`NoiseClip` is either a file of a noise corpus or a synthetic noise kind (``source = "synth:<kind>"``,
generated on demand from the item's random generator). Corpus indexers in :mod:`ncse_cli.data.corpora` return
lists of clips; :class:`NoiseBank` groups them by category for seeded draws.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ncse_cli.audio import AudioError, audio_info, load_audio, resample_audio
from ncse_cli.data.mixing import crossfade_concat
from ncse_cli.errors import NcseError

SYNTH_PREFIX = "synth:"
#: Files longer than this are read as random windows instead of whole (DEMAND channels last five minutes).
WHOLE_FILE_SECONDS = 60.0
#: Cross-fade used when a short clip is looped or segments are joined.
LOOP_FADE_SECONDS = 0.02
#: Digital silence below this fraction of the clip's peak is trimmed from both ends (ESC-50 pads with zeros).
SILENCE_FRACTION = 1e-3


class SkipItem(NcseError):
    """One item of a recipe cannot be made (a silent or too short clip); recipes record the reason and go on."""


@dataclass(frozen=True)
class NoiseClip:
    """One noise recording (or synthetic kind) with its corpus, category and fold (or subset/channel)."""

    source: str
    corpus: str
    category: str
    fold: str = ""

    @property
    def is_synthetic(self) -> bool:
        """Whether the clip is generated rather than read from a file."""
        return self.source.startswith(SYNTH_PREFIX)

    @property
    def name(self) -> str:
        """A short stable label: the synthetic kind or the file name."""
        return self.source[len(SYNTH_PREFIX):] if self.is_synthetic else Path(self.source).name


def synthetic_clip(kind: str) -> NoiseClip:
    """The clip standing for synthetic noise of ``kind``."""
    return NoiseClip(f"{SYNTH_PREFIX}{kind}", "synthetic", kind, "")


def trim_silence(x: np.ndarray, fraction: float = SILENCE_FRACTION) -> np.ndarray:
    """Drop leading and trailing samples quieter than ``fraction`` of the peak."""
    loud = np.nonzero(np.abs(x) > fraction * (np.max(np.abs(x)) if x.size else 0.0))[0]
    return x[loud[0]:loud[-1] + 1] if loud.size else x[:0]


def read_window(path: str | os.PathLike, sample_rate: int, start_seconds: float, seconds: float) -> np.ndarray:
    """``seconds`` of a file from ``start_seconds``, mono, resampled to ``sample_rate`` (reads only that part)."""
    rate, _, _ = audio_info(path)
    start, frames = int(start_seconds * rate), int(np.ceil(seconds * rate)) + 1
    try:
        data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from None
    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return resample_audio(samples, rate, sample_rate)[:int(round(seconds * sample_rate))]


def clip_seconds(clip: NoiseClip) -> float:
    """Duration of a file clip (from its header); synthetic clips are unbounded."""
    if clip.is_synthetic:
        return float("inf")
    rate, frames, _ = audio_info(clip.source)
    return frames / rate


def load_clip(clip: NoiseClip, sample_rate: int, rng: np.random.Generator, min_samples: int) -> np.ndarray:
    """A clip's audio at ``sample_rate``: synthetic clips are generated (``min_samples`` long); short files are read
    whole with edge silence trimmed; long files yield a random window of ``min_samples``."""
    if clip.is_synthetic:
        from ncse_cli.data.synth import synth_noise  # imports SciPy's signal package (1 s): only when generating

        return synth_noise(clip.category, min_samples, sample_rate, rng)
    seconds = clip_seconds(clip)
    if seconds > WHOLE_FILE_SECONDS:
        need = min_samples / sample_rate
        start = rng.uniform(0.0, max(seconds - need - 0.01, 0.0))
        return read_window(clip.source, sample_rate, start, min(need, seconds))
    audio = trim_silence(load_audio(clip.source, sample_rate, resample=True).samples)
    if audio.size < int(0.05 * sample_rate) or not np.any(audio):
        raise SkipItem(f"{clip.source}: silent or shorter than 50 ms after trimming silence")
    return audio


def loop_to_length(x: np.ndarray, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``num_samples`` crop of ``x``, looping it with short cross-fades when it is too short."""
    if len(x) >= num_samples:
        start = int(rng.integers(0, len(x) - num_samples + 1))
        return np.asarray(x[start:start + num_samples], dtype=np.float32)
    fade = min(int(LOOP_FADE_SECONDS * sample_rate), len(x) // 4)
    shift = int(rng.integers(0, len(x)))
    first = np.roll(x, -shift)
    reps = int(np.ceil((num_samples - len(x)) / max(len(x) - fade, 1))) + 1
    return crossfade_concat([first] * reps, fade)[:num_samples]


def disjoint_segments(total: int, first: int, second: int, rng: np.random.Generator) -> tuple[int, int]:
    """Start offsets of two non-overlapping segments of lengths ``first`` and ``second`` inside ``total``
    samples, in random order with random gaps."""
    slack = total - first - second
    if slack < 0:
        raise ValueError(f"segments of {first} and {second} samples do not fit in {total}")
    cuts = np.sort(rng.integers(0, slack + 1, 2))
    if rng.random() < 0.5:  # first segment before the second
        return int(cuts[0]), int(cuts[0] + first + cuts[1] - cuts[0])
    return int(cuts[0] + second + cuts[1] - cuts[0]), int(cuts[0])


@dataclass(frozen=True)
class NoisePair:
    """Noise for a mixture and its reference, with where each came from (offsets in samples at the model rate
    inside the loaded clip audio; ``ref_clip`` differs from ``clip`` when the clip was too short)."""

    mix: np.ndarray
    ref: np.ndarray
    clip: NoiseClip
    ref_clip: NoiseClip
    mix_offset: int
    ref_offset: int
    looped: bool


def noise_pair(clip: NoiseClip, alternative: NoiseClip | None, mix_samples: int, ref_samples: int,
               sample_rate: int, rng: np.random.Generator) -> NoisePair:
    """Cut ``mix_samples`` for the mixture and a disjoint ``ref_samples`` reference from one clip.

    When the clip is too short for both, the mixture loops the clip and the reference comes from
    ``alternative`` (another clip of the same category); without one the item is skipped.
    """
    audio = load_clip(clip, sample_rate, rng, mix_samples + ref_samples + sample_rate // 10)
    if len(audio) >= mix_samples + ref_samples:
        mix_at, ref_at = disjoint_segments(len(audio), mix_samples, ref_samples, rng)
        return NoisePair(audio[mix_at:mix_at + mix_samples], audio[ref_at:ref_at + ref_samples], clip, clip,
                         mix_at, ref_at, False)
    if alternative is None:
        raise SkipItem(f"{clip.source}: too short for a disjoint reference and no other clip of "
                       f"category {clip.category!r}")
    mix = loop_to_length(audio, mix_samples, sample_rate, rng)
    other = load_clip(alternative, sample_rate, rng, ref_samples)
    ref_at = int(rng.integers(0, max(len(other) - ref_samples, 0) + 1))
    ref = loop_to_length(other[ref_at:], ref_samples, sample_rate, rng)
    return NoisePair(mix, ref, clip, alternative, 0, ref_at, len(audio) < mix_samples)


class NoiseBank:
    """Clips grouped by category, for seeded draws (balanced over categories when asked)."""

    def __init__(self, clips: Sequence[NoiseClip]) -> None:
        groups: dict[str, list[NoiseClip]] = defaultdict(list)
        for clip in clips:
            groups[clip.category].append(clip)
        self._groups = {cat: sorted(group, key=lambda c: c.source) for cat, group in sorted(groups.items())}

    @property
    def categories(self) -> list[str]:
        """Category names, sorted."""
        return list(self._groups)

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def clips(self, category: str) -> list[NoiseClip]:
        """The clips of one category, sorted by source."""
        return self._groups[category]

    def draw(self, rng: np.random.Generator, category: str | None = None) -> NoiseClip:
        """A clip of ``category`` (or of a uniformly drawn category)."""
        category = category if category is not None else self.categories[int(rng.integers(len(self._groups)))]
        group = self._groups[category]
        return group[int(rng.integers(len(group)))]

    def alternative(self, clip: NoiseClip, rng: np.random.Generator) -> NoiseClip | None:
        """Another clip of the same category (a synthetic clip is its own alternative: it never runs short)."""
        others = [c for c in self._groups.get(clip.category, []) if c != clip]
        if clip.is_synthetic:
            return clip
        return others[int(rng.integers(len(others)))] if others else None
