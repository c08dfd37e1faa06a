"""How to enhance, besides which model and which files: one frozen dataclass shared by ``ncse enhance`` and
``ncse evaluate``, so that an option added here reaches both commands and the Python API at once.

This module imports nothing heavy: the CLI reads its defaults to render ``--help``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ncse_cli.errors import NcseError
from ncse_cli.precision import PRECISIONS


#: The shortest default window (seconds): about two training crops of SGMSE+ (256 frames, 2.04 s at 16 kHz with
#: hop 128 and at 48 kHz with hop 384), enough context for the network while bounding memory.
MIN_WINDOW = 4.0


#: What to do with an existing output whose input changed since it was made (:mod:`ncse_cli.inference.provenance`):
#: enhance the input again over it, or refuse and change nothing.
ON_CHANGED = ("reenhance", "refuse")
#: Sample formats of the output WAVs: 32-bit float (the default: no clipping, no quantisation), 64-bit float,
#: and signed integer PCM (clipped at full scale, with a warning when a sample is).
SUBTYPES = ("FLOAT", "DOUBLE", "PCM_16", "PCM_24", "PCM_32")


class EnhanceError(NcseError, ValueError):
    """Enhancement options or output folders that cannot work; the message names the option or folder."""


@dataclass(frozen=True)
class EnhanceSettings:
    """Options of one enhancement run.

    ``w`` is the classifier-free guidance scale (Ho & Salimans 2022): 1 gives the conditional score, 0 the
    unconditional one, above 1 a stronger pull towards the condition. ``steps`` replaces the step count of the
    sampler saved with the model (``None``: keep it). Each utterance's sampler noise is drawn from ``(seed, its
    id)``, so neither the order of the files nor ``batch_size`` (utterances of equal length per forward pass)
    changes an output; nor does ``device`` beyond float rounding.

    A file longer than ``window`` seconds (at the model's rate) is enhanced in windows of that length whose
    ``overlap`` seconds are cross-faded (:mod:`ncse_cli.chunking`), in memory that does not grow with its length;
    a shorter one is enhanced whole, batched with others of its shape. ``None`` takes a window of twice the
    model's training crop and at least :data:`MIN_WINDOW` seconds, and an eighth of it as overlap.
    """

    w: float = 1.0
    steps: int | None = None
    #: the sampler by name (``pc``, ``ode``; ``sb-ode``, ``sb-sde`` for a bridge model) instead of the one saved
    #: with the model (``None``: keep it; its settings other than ``steps`` are then its defaults)
    sampler: str | None = None
    seed: int = 0
    batch_size: int = 1
    device: str = "auto"  #: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``
    #: the network's arithmetic (:mod:`ncse_cli.precision`): ``auto`` is bf16 where it is fast (a GPU with
    #: bfloat16, a CPU with AMX), else fp32; the sampler and the output stay float32 whatever it is
    precision: str = "auto"
    window: float | None = None  #: seconds per window of a long file (``None``: from the training crop)
    overlap: float | None = None  #: seconds cross-faded between windows (``None``: an eighth of the window)
    #: an existing output made from another input than today's (:data:`ON_CHANGED`): enhance again, or refuse
    on_changed: str = "reenhance"
    subtype: str = "FLOAT"  #: sample format of the output WAVs (:data:`SUBTYPES`)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.w) and self.w >= 0):
            raise EnhanceError(f"guidance scale w must be finite and non-negative, got {self.w}")
        if self.steps is not None and self.steps < 1:
            raise EnhanceError(f"sampler steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise EnhanceError(f"batch size must be at least 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise EnhanceError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.on_changed not in ON_CHANGED:
            raise EnhanceError(f"--on-changed {self.on_changed!r} is not one of {', '.join(ON_CHANGED)}")
        object.__setattr__(self, "subtype", str(self.subtype).upper())  # pcm_16 is PCM_16
        if self.subtype not in SUBTYPES:
            raise EnhanceError(f"--subtype {self.subtype!r} is not one of {', '.join(SUBTYPES)}")
        if self.window is not None and not (math.isfinite(self.window) and self.window > 0):
            raise EnhanceError(f"--window must be a positive number of seconds, got {self.window}")
        if self.overlap is not None and not (math.isfinite(self.overlap) and self.overlap >= 0):
            raise EnhanceError(f"--overlap must be a non-negative number of seconds, got {self.overlap}")

    def windows(self, crop_seconds: float) -> tuple[float, float]:
        """``(window, overlap)`` in seconds for a model trained on crops of ``crop_seconds``; an overlap above
        half the window is an error."""
        window = self.window if self.window is not None else max(MIN_WINDOW, 2 * crop_seconds)
        overlap = self.overlap if self.overlap is not None else window / 8
        if overlap > window / 2:
            raise EnhanceError(f"--overlap {overlap:g} s is more than half the {window:g} s window")
        return window, overlap
