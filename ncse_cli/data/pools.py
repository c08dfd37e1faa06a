"""Weighted noise pools for dynamic mixing: each pool produces a noise stream of a requested length.

* :class:`ClipPool` - clips of a corpus (ESC-50, UrbanSound8K, WHAM!, DEMAND) or synthetic kinds. A stream is one
  clip, or with probability ``p_concat`` two or three clips of any category joined with cross-fades; a clip too
  short for its piece is continued with other clips of its category (looped only when it has no other).
* :class:`BabblePool` - three to six utterances of other training speakers at once.
* :class:`MixPool` - two streams from the other pools blended with alpha uniform in 0.3..0.7 (plan section 2.4).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from ncse_cli.audio import load_audio
from ncse_cli.config import ConfigError
from ncse_cli.data.config import DynamicMixingConfig, NoisePoolConfig
from ncse_cli.data.corpora import CleanUtterance, index_noise
from ncse_cli.data.mixing import crossfade_concat, draw_alpha, mix_two_noises, signal_power
from ncse_cli.data.noise import LOOP_FADE_SECONDS, NoiseBank, load_clip, loop_to_length

MAX_FILL_CLIPS = 32


class NoisePool(Protocol):
    """A source of noise streams."""

    name: str

    def stream(self, length: int, sample_rate: int, rng: np.random.Generator, p_concat: float,
               avoid_speaker: str | None = None) -> tuple[np.ndarray, str]:
        """``length`` samples of noise and a label of what they are."""


def _random_crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, len(x) - length + 1))
    return x[start:start + length]


class ClipPool:
    """Noise clips of one corpus (or synthetic kinds)."""

    def __init__(self, name: str, bank: NoiseBank) -> None:
        if len(bank) == 0:
            raise ConfigError(f"noise pool {name}: no clips")
        self.name, self.bank = name, bank

    def _piece(self, length: int, sr: int, rng: np.random.Generator, category: str | None) -> tuple[np.ndarray, str]:
        clip = self.bank.draw(rng, category)
        audio, fade = load_clip(clip, sr, rng, length), int(LOOP_FADE_SECONDS * sr)
        for _ in range(MAX_FILL_CLIPS):
            if len(audio) >= length or len(self.bank.clips(clip.category)) < 2:
                break
            audio = crossfade_concat([audio, load_clip(self.bank.draw(rng, clip.category), sr, rng, length)], fade)
        if len(audio) < length:
            return loop_to_length(audio, length, sr, rng), clip.category
        return _random_crop(audio, length, rng), clip.category

    def stream(self, length: int, sample_rate: int, rng: np.random.Generator, p_concat: float,
               avoid_speaker: str | None = None) -> tuple[np.ndarray, str]:
        """One clip, or (with probability ``p_concat``) 2-3 clips of random categories, cross-faded."""
        count = int(rng.integers(2, 4)) if rng.random() < p_concat else 1
        if count == 1:
            return self._piece(length, sample_rate, rng, None)
        fade = int(LOOP_FADE_SECONDS * sample_rate)
        bounds = np.sort(rng.uniform(0.2, 0.8, count - 1)) * length
        sizes = np.diff(np.concatenate([[0], bounds, [length]])).astype(int) + fade
        pieces = [self._piece(int(size), sample_rate, rng, None) for size in sizes]
        levels = [np.sqrt(max(signal_power(p), 1e-20)) for p, _ in pieces]
        joined = crossfade_concat([p / lv for (p, _), lv in zip(pieces, levels)], fade)
        return np.pad(joined, (0, max(0, length - len(joined))))[:length], "+".join(c for _, c in pieces)


class BabblePool:
    """Babble made of 3-6 utterances of other training speakers (Solution D: "babble from training speech")."""

    name = "babble"

    def __init__(self, clean: Sequence[CleanUtterance]) -> None:
        self.by_speaker: dict[str, list[CleanUtterance]] = {}
        for utt in clean:
            self.by_speaker.setdefault(utt.speaker, []).append(utt)
        if len(self.by_speaker) < 4:
            raise ConfigError(f"noise pool babble needs at least 4 speakers in the clean manifest, "
                              f"found {len(self.by_speaker)}")
        self.speakers = sorted(self.by_speaker)

    def stream(self, length: int, sample_rate: int, rng: np.random.Generator, p_concat: float,
               avoid_speaker: str | None = None) -> tuple[np.ndarray, str]:
        """The sum of 3-6 other speakers' utterances (each looped or cropped to ``length``, equal levels)."""
        others = [s for s in self.speakers if s != avoid_speaker]
        chosen = rng.choice(others, size=min(len(others), int(rng.integers(3, 7))), replace=False)
        total = np.zeros(length)
        for speaker in chosen:
            group = self.by_speaker[str(speaker)]
            audio = load_audio(group[int(rng.integers(len(group)))].path, sample_rate, resample=True).samples
            voice = loop_to_length(audio, length, sample_rate, rng)
            total += voice / np.sqrt(max(signal_power(voice), 1e-20))
        return total.astype(np.float32), "babble"


class MixPool:
    """Two streams from the other pools (drawn by weight), blended with alpha uniform in 0.3..0.7."""

    name = "mix2"

    def __init__(self, pools: Sequence[tuple[float, NoisePool]]) -> None:
        self.pools = list(pools)
        weights = np.array([w for w, _ in self.pools], dtype=np.float64)
        self.probabilities = weights / weights.sum()

    def stream(self, length: int, sample_rate: int, rng: np.random.Generator, p_concat: float,
               avoid_speaker: str | None = None) -> tuple[np.ndarray, str]:
        """``alpha * a + (1 - alpha) * b`` of two unit-power streams."""
        picks = rng.choice(len(self.pools), size=2, p=self.probabilities)
        (a, la), (b, lb) = (self.pools[k][1].stream(length, sample_rate, rng, p_concat, avoid_speaker)
                            for k in picks)
        return mix_two_noises(a, b, draw_alpha(rng)), f"{la}+{lb}"


def build_pool(cfg: NoisePoolConfig, clean: Sequence[CleanUtterance]) -> NoisePool:
    """The pool one configuration entry describes (not ``mix2``, which needs the others)."""
    if cfg.corpus == "babble":
        return BabblePool(clean)
    clips = index_noise(cfg.corpus, cfg.path, cfg.categories, [str(f) for f in cfg.folds])
    return ClipPool(cfg.corpus, NoiseBank(clips))


def build_pools(cfg: DynamicMixingConfig, clean: Sequence[CleanUtterance]) -> list[tuple[float, NoisePool]]:
    """(weight, pool) for every configured pool, mix2 last (it draws from all the others)."""
    pools = [(p.weight, build_pool(p, clean)) for p in cfg.noise_pools if p.corpus != "mix2"]
    others = list(pools)
    pools += [(p.weight, MixPool(others)) for p in cfg.noise_pools if p.corpus == "mix2"]
    return pools
