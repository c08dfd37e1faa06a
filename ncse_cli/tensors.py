"""Tensor and random helpers shared by the SDEs, the objective, the samplers and the model.

Randomness is always drawn from an explicit ``torch.Generator`` (EDM's injected ``randn_like``), so tests and
enhancement can pin it per utterance.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def draw(sample: Callable[..., torch.Tensor], shape: Sequence[int], generator: torch.Generator | None, *,
         dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``sample(shape)`` (``torch.randn``, ``torch.rand``) from ``generator``, returned on ``device``.

    The draw happens on the generator's device and is then moved: CUDA refuses a CPU generator, and the
    per-utterance generators of enhancement are CPU generators, so a seed gives the same noise on any device.
    """
    source = device if generator is None else generator.device
    return sample(tuple(shape), generator=generator, dtype=dtype, device=source).to(device)


def randn_like(x: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator] | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``; complex noise has ``E|z|^2 = 1`` (variance 1/2 per part).

    ``generator`` may be a sequence with one generator per batch row: row ``i`` is then drawn from
    ``generator[i]`` alone, so each example's noise does not depend on which others share its batch.
    Generators may live on another device than ``x`` (see :func:`draw`).
    """
    if isinstance(generator, Sequence):
        if len(generator) != x.shape[0]:
            raise ValueError(f"got {len(generator)} generators for a batch of {x.shape[0]}")
        return torch.stack([draw(torch.randn, x.shape[1:], g, dtype=x.dtype, device=x.device) for g in generator])
    return draw(torch.randn, x.shape, generator, dtype=x.dtype, device=x.device)


def expand(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View a per-example ``[B]`` tensor so it broadcasts against ``x [B, ...]``."""
    return t.reshape(-1, *([1] * (x.dim() - 1)))
