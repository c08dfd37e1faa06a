"""Non-stationary noise processes: noise whose character changes within a file (plan section 4.3).

Four kinds, each a registered class with a seeded ``plan`` (which clips it needs) and ``build`` (the noise for
the mixture and a reference of the same process):

* ``concat``: two to four segments of different noise categories joined with equal-power cross-fades;
* ``ramp``: one background whose level ramps linearly (in dB) by 10-20 dB over the file;
* ``step``: one background whose level jumps between two or three plateaus 6-15 dB apart;
* ``events``: a background with two to four sudden events (impulsive ESC-50 categories or synthetic bursts).

The reference comes from the same process on disjoint material: the same categories in the same order, or the
same gain contour, compressed into the reference length; for ``events`` a background segment with one event
from a different clip. The mixture's overall SNR is set afterwards by the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ncse_cli.data.mixing import crossfade_concat, signal_power
from ncse_cli.data.noise import NoiseBank, NoiseClip, load_clip, noise_pair
from ncse_cli.data.synth import SYNTH_EVENTS, synth_event
from ncse_cli.registry import Registry

SEGMENT_FADE_SECONDS = 0.05
EVENT_SECONDS = (0.15, 0.8)
SYNTH_EVENT_CORPUS = "synthetic-event"

ClipChoice = tuple[NoiseClip, NoiseClip | None]


@dataclass(frozen=True)
class NoiseBanks:
    """Where a process draws from: stationary backgrounds, segment sources for ``concat``, sudden events."""

    background: NoiseBank
    segments: NoiseBank
    events: NoiseBank | None  # None: synthetic events


@dataclass(frozen=True)
class Process:
    """A built process: mixture noise, reference, and what it is made of (for the manifest)."""

    noise: np.ndarray
    ref: np.ndarray
    details: dict[str, Any]


class Kind(Protocol):
    """A non-stationary process kind: ``plan`` picks its clips (seeded), ``build`` makes mixture noise and
    reference of ``n`` and ``r`` samples."""

    name: str

    def plan(self, banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]: ...

    def build(self, clips: list[ClipChoice], n: int, r: int, sr: int, rng: np.random.Generator) -> Process: ...


#: Non-stationary process kinds: concat, ramp, step, events.
NONSTATIONARY_KINDS: Registry[type] = Registry("non-stationary kind")


def _unit(x: np.ndarray) -> float:
    power = signal_power(x)
    return 1.0 / np.sqrt(power) if power > 0 else 1.0


def _background(banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]:
    clip = banks.background.draw(rng)
    return [(clip, banks.background.alternative(clip, rng))]


def _split(total: int, parts: int, rng: np.random.Generator, low: float = 0.5) -> np.ndarray:
    """Lengths of ``parts`` pieces summing to ``total``, none shorter than ``low / parts`` of it."""
    weights = low / parts + (1 - low) * rng.dirichlet(np.ones(parts))
    lengths = np.floor(weights * total).astype(int)
    lengths[-1] += total - lengths.sum()
    return lengths


@NONSTATIONARY_KINDS.register("concat")
class Concat:
    """Segments of different categories, cross-faded, each at its own level (+-6 dB)."""

    def plan(self, banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]:
        count = min(int(rng.integers(2, 5)), len(banks.segments.categories))
        categories = rng.choice(banks.segments.categories, size=count, replace=False)
        clips = [banks.segments.draw(rng, str(c)) for c in categories]
        return [(c, banks.segments.alternative(c, rng)) for c in clips]

    def build(self, clips: list[ClipChoice], n: int, r: int, sr: int, rng: np.random.Generator) -> Process:
        fade, ref_fade = int(SEGMENT_FADE_SECONDS * sr), int(SEGMENT_FADE_SECONDS * sr * r / n)
        mix_lengths, ref_lengths = _split(n, len(clips), rng), _split(r, len(clips), rng)
        mix_parts, ref_parts, segments, start = [], [], [], 0
        for (clip, alt), length, ref_length in zip(clips, mix_lengths, ref_lengths):
            pair = noise_pair(clip, alt, length + fade, ref_length + ref_fade, sr, rng)
            level_db = float(rng.uniform(-6.0, 6.0))
            scale = _unit(pair.mix) * 10 ** (level_db / 20)
            mix_parts.append(pair.mix * scale)
            ref_parts.append(pair.ref * scale)
            segments.append({"category": clip.category, "start": start, "length": int(length),
                             "level_db": round(level_db, 2)})
            start += int(length)
        noise = crossfade_concat(mix_parts, fade)[:n]
        ref = crossfade_concat(ref_parts, ref_fade)[:r]
        return Process(noise, ref, {"segments": segments})


def _contour(n: int, points: list[tuple[float, float]], step: bool) -> np.ndarray:
    """A gain (linear) over ``n`` samples from (position in 0..1, dB) points, linear or piecewise-constant."""
    where = np.arange(n) / max(n - 1, 1)
    positions = np.array([p for p, _ in points])
    levels = np.array([d for _, d in points])
    db = levels[np.searchsorted(positions, where, side="right") - 1] if step else np.interp(where, positions, levels)
    return 10 ** (db / 20)


@NONSTATIONARY_KINDS.register("ramp")
class Ramp:
    """One background whose level ramps by 10-20 dB (up or down) across the file."""

    def plan(self, banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]:
        return _background(banks, rng)

    def build(self, clips: list[ClipChoice], n: int, r: int, sr: int, rng: np.random.Generator) -> Process:
        (clip, alt), = clips
        pair = noise_pair(clip, alt, n, r, sr, rng)
        swing = float(rng.uniform(10.0, 20.0)) * (1 if rng.random() < 0.5 else -1)
        points = [(0.0, -swing / 2), (1.0, swing / 2)]
        scale = _unit(pair.mix)
        return Process(pair.mix * scale * _contour(n, points, False), pair.ref * scale * _contour(r, points, False),
                       {"category": clip.category, "start_db": round(-swing / 2, 2), "end_db": round(swing / 2, 2)})


@NONSTATIONARY_KINDS.register("step")
class Step:
    """One background whose level jumps between two or three plateaus 6-15 dB apart."""

    def plan(self, banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]:
        return _background(banks, rng)

    def build(self, clips: list[ClipChoice], n: int, r: int, sr: int, rng: np.random.Generator) -> Process:
        (clip, alt), = clips
        pair = noise_pair(clip, alt, n, r, sr, rng)
        changes = np.sort(rng.uniform(0.2, 0.8, int(rng.integers(1, 3))))
        levels = np.cumsum(rng.uniform(6.0, 15.0, len(changes) + 1) * rng.choice([-1, 1], len(changes) + 1))
        points = [(0.0, float(levels[0]))] + [(float(c), float(d)) for c, d in zip(changes, levels[1:])]
        scale = _unit(pair.mix)
        return Process(pair.mix * scale * _contour(n, points, True), pair.ref * scale * _contour(r, points, True),
                       {"category": clip.category, "steps": [[round(p, 3), round(d, 2)] for p, d in points]})


def _event_clip(kind: str) -> NoiseClip:
    return NoiseClip(f"synth:{kind}", SYNTH_EVENT_CORPUS, kind, "")


def _event_audio(clip: NoiseClip, sr: int, rng: np.random.Generator) -> np.ndarray:
    length = int(rng.uniform(*EVENT_SECONDS) * sr)
    if clip.corpus == SYNTH_EVENT_CORPUS:
        return synth_event(clip.category, length, sr, rng)
    audio = load_clip(clip, sr, rng, length)
    start = int(np.argmax(np.abs(audio)) * rng.uniform(0.0, 0.9))  # keep the loudest part in the event
    return audio[start:start + length]


def _place(background: np.ndarray, event: np.ndarray, power: float, rng: np.random.Generator) -> tuple[int, float]:
    """Add ``event`` in place at a random position, 6-18 dB above ``power`` (the background's own power, before
    any event); returns (start, ratio dB)."""
    event = event[:len(background)]
    start = int(rng.integers(0, len(background) - len(event) + 1))
    ratio_db = float(rng.uniform(6.0, 18.0))
    scale = np.sqrt(power / max(signal_power(event), 1e-20)) * 10 ** (ratio_db / 20)
    background[start:start + len(event)] += event * scale
    return start, ratio_db


@NONSTATIONARY_KINDS.register("events")
class Events:
    """A background with two to four sudden events; the reference holds one event from another clip."""

    def plan(self, banks: NoiseBanks, rng: np.random.Generator) -> list[ClipChoice]:
        if banks.events is None:  # synthetic events are generated afresh, so they never repeat
            kinds = rng.choice(SYNTH_EVENTS.names(), size=int(rng.integers(3, 6)))
            return _background(banks, rng) + [(_event_clip(str(k)), None) for k in kinds]
        events = [banks.events.draw(rng) for _ in range(int(rng.integers(2, 5)))]
        ref_event = banks.events.draw(rng)
        for _ in range(20):  # the reference's event should be a clip the mixture does not use
            if ref_event not in events:
                break
            ref_event = banks.events.draw(rng)
        return _background(banks, rng) + [(e, None) for e in events + [ref_event]]

    def build(self, clips: list[ClipChoice], n: int, r: int, sr: int, rng: np.random.Generator) -> Process:
        (clip, alt), *events = clips
        pair = noise_pair(clip, alt, n, r, sr, rng)
        scale = _unit(pair.mix)
        noise, ref = (pair.mix * scale).astype(np.float64), (pair.ref * scale).astype(np.float64)
        placed, noise_power, ref_power = [], signal_power(noise), signal_power(ref)
        for event_clip, _ in events[:-1]:
            start, ratio = _place(noise, _event_audio(event_clip, sr, rng), noise_power, rng)
            placed.append({"category": event_clip.category, "start": start, "ratio_db": round(ratio, 2)})
        _place(ref, _event_audio(events[-1][0], sr, rng), ref_power, rng)
        return Process(noise.astype(np.float32), ref.astype(np.float32),
                       {"category": clip.category, "events": placed})


def get_kind(name: str) -> Kind:
    """An instance of the registered kind ``name``."""
    return NONSTATIONARY_KINDS.get(name)()
