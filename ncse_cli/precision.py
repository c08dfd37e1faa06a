"""The arithmetic precision of inference: ``fp32``, ``bf16`` or ``fp16`` autocast of the score network.

Under ``bf16``/``fp16`` the network's convolutions and matrix products run in half precision (``torch.autocast``)
while everything around them stays float32: the STFT, the encoders' front ends, the sampler's arithmetic and the
network's output, which :meth:`ncse_cli.model.ScoreModel.forward` returns in float32 as in training. ``auto``
picks ``bf16`` where half precision is fast, a GPU with bfloat16 support or a CPU with AMX bfloat16 tiles, and
``fp32`` elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Literal

from ncse_cli.errors import NcseError

if TYPE_CHECKING:  # torch is imported where it is used, so that option parsing can read PRECISIONS cheaply
    import torch

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")


class PrecisionError(NcseError):
    """A precision that does not exist or cannot run on the chosen device."""


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True on a CPU with AMX bfloat16 tiles (Intel Sapphire Rapids and later), where bf16 convolutions run several
    times faster than float32; read from ``/proc/cpuinfo`` (False where it does not exist)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def resolve_precision(name: str, device: "torch.device") -> str:
    """The concrete precision (``fp32``, ``bf16``, ``fp16``) for ``name`` on ``device``; refuses what cannot run."""
    import torch

    if name not in PRECISIONS:
        raise PrecisionError(f"--precision {name}: choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
    if name == "fp16" and device.type == "cpu":
        raise PrecisionError("--precision fp16 needs a GPU (CPUs compute float16 slowly); use bf16 or fp32")
    return name


def autocast(precision: str, device: "torch.device") -> ContextManager:
    """The autocast context of a resolved precision (nothing for ``fp32``)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[precision])
