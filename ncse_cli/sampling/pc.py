"""Predictor-corrector and probability-flow samplers for the reverse-time SDE.

Song et al., "Score-Based Generative Modeling through Stochastic Differential Equations", ICLR 2021: the reverse
SDE ``dx = [f(x, y, t) - g(t)^2 s(x, y, t)] dt + g(t) dw`` (Eq. 6), the reverse-diffusion predictor (Eq. 46),
annealed Langevin correction (Alg. 4) and the probability-flow ODE (Eq. 13). Settings of SGMSE+ (Richter et
al. 2023): N = 30 steps, one corrector step with snr 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ncse_cli.sampling.base import ModelFn, SampleResult, StepCallback, register_sampler
from ncse_cli.sampling.schedules import sgmse_timesteps
from ncse_cli.tensors import expand, randn_like


@dataclass(frozen=True)
class PCConfig:
    """Predictor-corrector settings (SGMSE+ defaults)."""

    steps: int = 30
    corrector_steps: int = 1
    snr: float = 0.5

    def timesteps(self, sde, device: torch.device | None = None) -> torch.Tensor:
        return sgmse_timesteps(sde, self.steps, device)


@dataclass(frozen=True)
class ODEConfig:
    """Probability-flow ODE settings."""

    steps: int = 30

    def timesteps(self, sde, device: torch.device | None = None) -> torch.Tensor:
        return sgmse_timesteps(sde, self.steps, device)


def reverse_diffusion_step(score: ModelFn, sde, x, y, t, dt: float, generator=None):
    """One Euler-Maruyama step of the reverse SDE from ``t`` to ``t - dt``; returns ``(x, mean)``."""
    g = expand(sde.diffusion(t), x)
    mean = x - (sde.drift(x, y, t) - g**2 * score(x, t, y)) * dt
    return mean + g * math.sqrt(dt) * randn_like(x, generator), mean


def langevin_step(score: ModelFn, sde, x, y, t, snr: float, generator=None):
    """One annealed Langevin correction at time ``t`` with step ``2 (snr std(t))^2`` (SGMSE+'s ALD)."""
    step = expand(2 * (snr * sde.marginal_std(t)) ** 2, x)
    mean = x + step * score(x, t, y)
    return mean + torch.sqrt(2 * step) * randn_like(x, generator), mean


@register_sampler("pc", PCConfig, uses="score", sdes=("ouve",))
def sample_pc(score: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, cfg: PCConfig,
              generator: torch.Generator | None = None, callback: StepCallback | None = None) -> SampleResult:
    """Reverse-diffusion predictor with ``cfg.corrector_steps`` annealed Langevin corrections per step on the
    schedule ``ts`` (SGMSE+'s ``get_pc_sampler`` with ``reverse_diffusion`` and ``ald``)."""
    dts = (ts[:-1] - ts[1:]).tolist()  # step sizes read to the host once, not once per step
    x = sde.prior_sample(y, generator)
    mean = x
    for i in range(len(dts)):
        t = ts[i].expand(y.shape[0])
        for _ in range(cfg.corrector_steps):
            x, mean = langevin_step(score, sde, x, y, t, cfg.snr, generator)
        x, mean = reverse_diffusion_step(score, sde, x, y, t, dts[i], generator)
        if callback is not None:
            callback(i, mean)
    return SampleResult(mean, nfe=len(dts) * (cfg.corrector_steps + 1))


@register_sampler("ode", ODEConfig, uses="score", sdes=("ouve",))
def sample_ode(score: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, cfg: ODEConfig,
               generator: torch.Generator | None = None, callback: StepCallback | None = None) -> SampleResult:
    """Euler integration of the probability-flow ODE ``dx = [f - g^2 s / 2] dt`` from a prior sample."""
    dts = (ts[:-1] - ts[1:]).tolist()
    x = sde.prior_sample(y, generator)
    for i in range(len(dts)):
        t = ts[i].expand(y.shape[0])
        g = expand(sde.diffusion(t), x)
        x = x - (sde.drift(x, y, t) - 0.5 * g**2 * score(x, t, y)) * dts[i]
        if callback is not None:
            callback(i, x)
    return SampleResult(x, nfe=len(dts))
