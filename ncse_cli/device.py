"""The device inference runs on: ``auto`` (the first CUDA GPU, else Apple's MPS, else the CPU) or a torch name.

Training places itself through Accelerate; ``ncse enhance`` and ``ncse evaluate`` take ``--device`` and resolve
it here, so that an unusable request is one clear error before any model is loaded.
"""

from __future__ import annotations

import torch

from ncse_cli.errors import NcseError


class DeviceError(NcseError):
    """A requested device that does not exist or cannot be used on this machine."""


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto``: ``cuda`` when a GPU is usable, else ``mps``, else ``cpu``; any other name is checked."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"--device {name}: not a device name (auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"--device {name}: MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {name}: only cpu, cuda and mps are supported")
    return device


__all__ = ["DeviceError", "resolve_device"]
