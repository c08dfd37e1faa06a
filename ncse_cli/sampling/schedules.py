"""Time schedules: the grid of diffusion times a sampler steps through, from ``T`` towards 0.

A schedule is a function of the SDE and a step count returning a decreasing tensor of times; step ``i`` of a
sampler goes from ``ts[i]`` to ``ts[i + 1]``.
"""

from __future__ import annotations

import torch


def sgmse_timesteps(sde, steps: int, device: torch.device | None = None) -> torch.Tensor:
    """``steps`` times evenly spaced from ``sde.T`` down to ``sde.t_eps``, then 0 (``steps + 1`` values).

    SGMSE+'s predictor-corrector grid (``torch.linspace(T, eps, N)``): the last step integrates from t_eps to 0
    and the sample is its noise-free mean (``denoise=True``).
    """
    if steps < 1:
        raise ValueError(f"need at least one sampling step, got {steps}")
    ts = torch.linspace(sde.T, sde.t_eps, steps, device=device)
    return torch.cat([ts, torch.zeros(1, device=device)])


def bridge_timesteps(sde, steps: int, t_end: float, device: torch.device | None = None) -> torch.Tensor:
    """``steps + 1`` times evenly spaced from ``sde.T`` down to ``t_end`` (SGMSE+'s Schrodinger-bridge grid,
    ``torch.linspace(T, eps, N + 1)``)."""
    if steps < 1:
        raise ValueError(f"need at least one sampling step, got {steps}")
    return torch.linspace(sde.T, t_end, steps + 1, device=device)
