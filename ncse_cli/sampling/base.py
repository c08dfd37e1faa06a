"""The sampler contract and registry.

A sampler is a function ``sample(score, y, sde, cfg, generator=None, callback=None) -> SampleResult`` where
``score(x, t, y)`` is a score function with the condition already bound (see :mod:`ncse_cli.sampling.guidance`).
Randomness comes only from ``generator``, so a fixed generator gives a fixed result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ncse_cli.registry import Registry

ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, torch.Tensor], None]

SAMPLERS: Registry = Registry("sampler")


@dataclass
class SampleResult:
    """The final sample and the number of score evaluations it took."""

    x: torch.Tensor
    nfe: int


def register_sampler(name: str, config: type) -> Callable:
    """Register a sampler function together with its config dataclass."""

    def decorator(func):
        func.Config = config
        return SAMPLERS.register(name)(func)

    return decorator


class Sampler(Protocol):
    def __call__(self, score: ScoreFn, y: torch.Tensor, sde, cfg, generator: torch.Generator | None = None,
                 callback: StepCallback | None = None) -> SampleResult: ...


def timesteps(sde, steps: int, device: torch.device | None = None) -> torch.Tensor:
    """``steps`` times evenly spaced from ``sde.T`` down to ``sde.t_eps``, then 0 (``steps + 1`` values).

    Step ``i`` goes from ``ts[i]`` to ``ts[i + 1]``; the last one integrates from t_eps to 0 and the sample is
    its noise-free mean, as in SGMSE+'s ``denoise=True``.
    """
    if steps < 1:
        raise ValueError(f"need at least one sampling step, got {steps}")
    ts = torch.linspace(sde.T, sde.t_eps, steps, device=device)
    return torch.cat([ts, torch.zeros(1, device=device)])
