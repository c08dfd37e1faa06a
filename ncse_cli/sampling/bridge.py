"""Samplers of the Schrodinger bridge (SB-VE): a first-order ODE and SDE solver driven by a data predictor.

Jukic, Korostik, Balam, Ginsburg, "Schrodinger Bridge for Generative Speech Enhancement", Interspeech 2024,
Sec. 2.3: starting at the mixture ``x_T = y``, each step moves to the bridge's marginal at the next time given
the current state and the clean estimate ``x_hat``. With ``s`` the current and ``t`` the next time,

    ODE:  x_t = (sigma_t sigma_bar_t / (sigma_s sigma_bar_s)) x_s
              + (sigma_bar_t^2 - sigma_bar_s sigma_t sigma_bar_t / sigma_s) / sigma_T^2 x_hat
              + (sigma_t^2 - sigma_s sigma_t sigma_bar_t / sigma_bar_s) / sigma_T^2 y,
    SDE:  x_t = (sigma_t^2 / sigma_s^2) x_s + (1 - sigma_t^2 / sigma_s^2) x_hat
              + sigma_t sqrt(1 - sigma_t^2 / sigma_s^2) z      (no noise on the last step),

(alpha = 1 for the variance-exploding bridge; the general weights with alpha are used below). As in the
reference implementation (``sgmse`` 0.1.2, ``sampling.get_sb_sampler``), the data predictor is evaluated at the
step's target time ``t`` with the current state, the grid runs from ``T`` to ``t_end = 1e-4`` in ``steps``
steps, and each step costs one network evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ncse_cli.sampling.base import ModelFn, SampleResult, StepCallback, register_sampler
from ncse_cli.sampling.schedules import bridge_timesteps
from ncse_cli.tensors import expand, randn_like


@dataclass(frozen=True)
class BridgeConfig:
    """Schrodinger-bridge sampler settings (the reference's defaults: 50 steps down to 1e-4; a few suffice)."""

    steps: int = 5
    t_end: float = 1e-4

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"need at least one sampling step, got {self.steps}")
        if not 0 < self.t_end < 1:
            raise ValueError(f"t_end must lie in (0, 1), got {self.t_end}")

    def timesteps(self, sde, device: torch.device | None = None) -> torch.Tensor:
        return bridge_timesteps(sde, self.steps, self.t_end, device)


@dataclass(frozen=True)
class BridgeODEConfig(BridgeConfig):
    """Settings of ``sb-ode``."""


@dataclass(frozen=True)
class BridgeSDEConfig(BridgeConfig):
    """Settings of ``sb-sde``."""


def _walk(clean: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, step, callback: StepCallback | None):
    """Run ``x <- step(x, x_hat, prev, now, last)`` over the grid from ``x_T = y``; ``prev``/``now`` are the
    bridge coefficients at the current and the next time."""
    x = sde.prior_sample(y)
    prev = sde.coefficients(ts[0].expand(y.shape[0]))
    for i in range(len(ts) - 1):
        t = ts[i + 1].expand(y.shape[0])
        now = sde.coefficients(t)
        x = step(x, clean(x, t, y), prev, now, i == len(ts) - 2)
        prev = now
        if callback is not None:
            callback(i, x)
    return SampleResult(x, nfe=len(ts) - 1)


@register_sampler("sb-ode", BridgeODEConfig, uses="clean", sdes=("sbve",))
def sample_bridge_ode(clean: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, cfg: BridgeConfig,
                      generator: torch.Generator | None = None, callback: StepCallback | None = None) -> SampleResult:
    """The bridge's probability-flow ODE, first order (deterministic: ``generator`` is not used)."""
    eps = sde.eps

    def step(x, x_hat, p, n, last):
        w_x = n.alpha * n.sigma * n.sigma_bar / (p.alpha * p.sigma * p.sigma_bar + eps)
        w_hat = n.alpha / (n.sigma_T**2 + eps) * (n.sigma_bar**2 - p.sigma_bar * n.sigma * n.sigma_bar / (p.sigma + eps))
        w_y = n.alpha / (n.alpha_T * n.sigma_T**2 + eps) * (n.sigma**2 - p.sigma * n.sigma * n.sigma_bar
                                                           / (p.sigma_bar + eps))
        return expand(w_x, x) * x + expand(w_hat, x) * x_hat + expand(w_y, x) * y

    return _walk(clean, y, sde, ts, step, callback)


@register_sampler("sb-sde", BridgeSDEConfig, uses="clean", sdes=("sbve",))
def sample_bridge_sde(clean: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, cfg: BridgeConfig,
                      generator: torch.Generator | None = None, callback: StepCallback | None = None) -> SampleResult:
    """The bridge's reverse SDE, first order; the noise of every step comes from ``generator``."""
    eps = sde.eps

    def step(x, x_hat, p, n, last):
        w_x = n.alpha * n.sigma**2 / (p.alpha * p.sigma**2 + eps)
        keep = 1 - n.sigma**2 / (p.sigma**2 + eps)
        z = randn_like(x, generator)  # drawn on the last step too, as the reference does, so streams agree
        w_z = torch.zeros_like(keep) if last else n.alpha * n.sigma * torch.sqrt(keep)
        return expand(w_x, x) * x + expand(n.alpha * keep, x) * x_hat + expand(w_z, x) * z

    return _walk(clean, y, sde, ts, step, callback)
