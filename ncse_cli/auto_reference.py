"""A noise reference taken from the input's own pauses, for recordings that come without one.

Voice activity detection (:mod:`ncse_cli.vad`) finds the speech; what lies between, kept ``guard_seconds`` away
from every detected speech stretch, is noise alone. The reference has the length the model was trained with: a
centred piece of the longest pause when one is long enough, else the longest pauses, in recording order, joined
with short equal-power cross-fades (:func:`ncse_cli.data.mixing.crossfade_concat`, which keeps the power of
uncorrelated noise level through the joins). Which stretches of the input were used is recorded, in seconds, for
a JSON sidecar (:meth:`AutoReference.to_dict`) or a manifest column (:meth:`AutoReference.column`). When the
pauses do not add up to one reference, :attr:`AutoReference.reason` says so and the caller enhances with the
null condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ncse_cli.audio_stream import Sliceable
from ncse_cli.data.mixing import crossfade_concat
from ncse_cli.errors import NcseError
from ncse_cli.vad import Stretch, VadConfig, VoiceActivity, detect_speech


class AutoReferenceError(NcseError, ValueError):
    """Settings of the automatic reference that cannot work."""


@dataclass(frozen=True)
class AutoReferenceConfig:
    """How far from speech the reference stays, the shortest pause worth using, and the join cross-fade."""

    guard_seconds: float = 0.1  #: kept free on each side of detected speech (the detector's edges are soft)
    min_piece_seconds: float = 0.05  #: shorter usable pauses are not used
    crossfade_seconds: float = 0.01  #: at each join of several pauses
    vad: VadConfig = field(default_factory=VadConfig)

    def __post_init__(self) -> None:
        for name in ("guard_seconds", "min_piece_seconds", "crossfade_seconds"):
            if getattr(self, name) < 0:
                raise AutoReferenceError(f"auto reference {name} must not be negative, got {getattr(self, name)}")


@dataclass(frozen=True)
class AutoReference:
    """A reference cut from a recording's pauses (``samples`` None when there was none) and what it came from."""

    samples: np.ndarray | None
    stretches: tuple[tuple[float, float], ...]  #: (start, end) seconds of the recording, in recording order
    detector: str  #: the voice activity detector that found the speech
    reason: str = ""  #: why there is no reference

    @property
    def found(self) -> bool:
        return self.samples is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (milliseconds precision) for a sidecar file."""
        record: dict[str, Any] = {"source": "auto", "detector": self.detector,
                                  "stretches": [[round(a, 3), round(b, 3)] for a, b in self.stretches]}
        if not self.found:
            record["reason"] = self.reason
        return record

    def column(self) -> str:
        """The stretches as one manifest/CSV cell, ``"1.520-1.770;3.100-3.200"`` (empty: no reference)."""
        return ";".join(f"{a:.3f}-{b:.3f}" for a, b in self.stretches)


def usable_pauses(activity: VoiceActivity, guard: int, min_piece: int) -> list[Stretch]:
    """The pauses shrunk by ``guard`` samples where they border speech (not at the recording's ends), keeping
    those of at least ``min_piece`` samples."""
    pieces = []
    for pause in activity.pauses():
        start = pause.start + (guard if pause.start > 0 else 0)
        end = pause.end - (guard if pause.end < activity.num_samples else 0)
        if end - start >= max(min_piece, 1):
            pieces.append(Stretch(start, end))
    return pieces


def choose_pieces(pieces: list[Stretch], need: int, fade: int) -> list[Stretch] | None:
    """Stretches that joined with ``fade``-sample cross-fades give exactly ``need`` samples, in recording order:
    a centred piece of the longest when it suffices, else the longest pieces with the last (in recording order)
    shortened. None when all of them together are too short."""
    by_length = sorted(pieces, key=lambda s: (-len(s), s.start))
    if by_length and len(by_length[0]) >= need:
        longest = by_length[0]
        start = longest.start + (len(longest) - need) // 2
        return [Stretch(start, start + need)]
    chosen: list[Stretch] = []
    for piece in by_length:
        chosen.append(piece)
        excess = sum(len(s) for s in chosen) - fade * (len(chosen) - 1) - need
        if excess >= 0:
            # the piece just added is the shortest chosen, and without it the total fell short, so every piece
            # is longer than ``excess + fade``: trimming one leaves it longer than the cross-fade
            chosen.sort(key=lambda s: s.start)
            last = chosen[-1]
            chosen[-1] = Stretch(last.start, last.end - excess)
            return chosen
    return None


def auto_reference(samples: np.ndarray | Sliceable, sample_rate: int, ref_seconds: float,
                   cfg: AutoReferenceConfig = AutoReferenceConfig(),
                   activity: VoiceActivity | None = None) -> AutoReference:
    """A ``ref_seconds`` noise reference from the pauses of ``samples`` (mono, at ``sample_rate``).

    ``activity`` is the recording's voice activity when the caller already has it (else it is detected with
    ``cfg.vad``); with it, ``samples`` may be a long signal not in memory (:mod:`ncse_cli.audio_stream`), of which
    only the pauses used are read. The reference never includes a sample within ``guard_seconds`` of detected
    speech.
    """
    if not ref_seconds > 0:
        raise AutoReferenceError(f"reference length must be positive, got {ref_seconds} s")
    if activity is None:
        samples = np.asarray(samples, dtype=np.float32)
        activity = detect_speech(samples, sample_rate, cfg.vad)
    need = int(round(ref_seconds * sample_rate))
    fade = int(round(cfg.crossfade_seconds * sample_rate))
    pieces = usable_pauses(activity, int(round(cfg.guard_seconds * sample_rate)),
                           max(fade + 1, int(round(cfg.min_piece_seconds * sample_rate))))
    chosen = choose_pieces(pieces, need, fade)
    if chosen is None:
        total = sum(len(p) for p in pieces) / sample_rate
        reason = (f"no pause long enough for a {ref_seconds:g} s noise reference: {total:.2f} s of non-speech "
                  f"in {len(pieces)} usable pause{'s' if len(pieces) != 1 else ''} "
                  f"(at least {cfg.min_piece_seconds:g} s, {cfg.guard_seconds:g} s away from speech)")
        return AutoReference(None, (), activity.detector, reason)
    reference = crossfade_concat([np.asarray(samples[s.start:s.end], dtype=np.float32) for s in chosen], fade)
    return AutoReference(reference, tuple(s.seconds(sample_rate) for s in chosen), activity.detector)
