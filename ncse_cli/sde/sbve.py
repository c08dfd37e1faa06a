"""The Schrodinger bridge with variance-exploding diffusion (SB-VE) between clean and noisy spectrograms.

Jukic, Korostik, Balam, Ginsburg, "Schrodinger Bridge for Generative Speech Enhancement", Interspeech 2024
(Table 1, Eq. (9)-(11)), as used with a data-prediction loss by Richter, de Oliveira, Gerkmann, "Investigating
Training Objectives for Generative Speech Enhancement", ICASSP 2025. With ``f = 0`` and ``g(t) = sqrt(c) k^t``:

    sigma_t^2 = c (k^(2t) - 1) / (2 log k),   sigma_bar_t^2 = sigma_T^2 - sigma_t^2,   alpha_t = 1,
    x_t | x0, y ~ N(sigma_bar_t^2 / sigma_T^2 x0 + sigma_t^2 / sigma_T^2 y,  (sigma_bar_t sigma_t / sigma_T)^2).

The bridge starts at the clean spectrogram (t = 0) and ends exactly at the mixture (t = T), so sampling starts
from ``y`` itself. The small ``eps`` guards are placed where the reference implementation (``sgmse`` 0.1.2,
``sdes.SBVESDE``) places them, so that both give the same numbers up to float32 rounding: the reference computes
``log k`` and ``sigma_T`` in float32 whatever the input's precision, ncse in the input's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ncse_cli.sde.base import SDES
from ncse_cli.tensors import expand


@dataclass(frozen=True)
class BridgeCoefficients:
    """The bridge's schedule at times ``t`` (each ``[B]``): ``sigma_t``, ``sigma_T``, ``sigma_bar_t``, ``alpha_t``,
    ``alpha_T``, ``alpha_bar_t`` (SGMSE+'s ``_sigmas_alphas``)."""

    sigma: torch.Tensor
    sigma_T: torch.Tensor
    sigma_bar: torch.Tensor
    alpha: torch.Tensor
    alpha_T: torch.Tensor
    alpha_bar: torch.Tensor


@SDES.register("sbve")
class SBVESDE:
    """SB-VE with the constants of Jukic et al. (k 2.6, c 0.4) as defaults."""

    @dataclass(frozen=True)
    class Config:
        k: float = 2.6
        c: float = 0.4
        eps: float = 1e-8  #: numerical guard of the reference implementation
        t_eps: float = 0.03  #: smallest training time (SGMSE+'s ``t_eps``); samplers choose their own end time
        T: float = 1.0

        def __post_init__(self) -> None:
            if not self.k > 1:
                raise ValueError(f"need k > 1, got {self.k}")
            if not self.c > 0:
                raise ValueError(f"need c > 0, got {self.c}")
            if not 0 < self.t_eps < self.T:
                raise ValueError("need 0 < t_eps < T")

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg or self.Config()
        self.k, self.c, self.eps = self.cfg.k, self.cfg.c, self.cfg.eps
        self.T = self.cfg.T
        self.t_eps = self.cfg.t_eps
        self.log_k = math.log(self.k)

    def _sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.c * (self.k ** (2 * t) - 1.0) / (2 * self.log_k))

    def coefficients(self, t: torch.Tensor) -> BridgeCoefficients:
        """The schedule at ``t``; ``alpha`` is 1 for the variance-exploding bridge."""
        sigma = self._sigma(t)
        sigma_T = self._sigma(torch.full_like(t, self.T))
        alpha = torch.ones_like(t)
        alpha_T = torch.ones_like(t)
        # sigma_T^2 - sigma_t^2 is zero at T; rounding must not make it negative (a NaN in the reference)
        sigma_bar = torch.sqrt((sigma_T**2 - sigma**2).clamp_min(0) + self.eps)
        return BridgeCoefficients(sigma, sigma_T, sigma_bar, alpha, alpha_T, alpha / (alpha_T + self.eps))

    def drift(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``f = 0``."""
        return torch.zeros_like(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t) = sqrt(c) k^t``, shape ``[B]``."""
        return math.sqrt(self.c) * self.k**t

    def marginal_coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha_t sigma_bar_t^2 / sigma_T^2, alpha_bar_t sigma_t^2 / sigma_T^2)`` (below Eq. (11))."""
        co = self.coefficients(t)
        return (co.alpha * co.sigma_bar**2 / (co.sigma_T**2 + self.eps),
                co.alpha_bar * co.sigma**2 / (co.sigma_T**2 + self.eps))

    def marginal_mean(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``x_t | x0, y`` (Eq. (11))."""
        a, b = self.marginal_coefficients(t)
        return expand(a, x0) * x0 + expand(b, y) * y

    def marginal_std(self, t: torch.Tensor) -> torch.Tensor:
        """``alpha_t sigma_bar_t sigma_t / sigma_T``, shape ``[B]``."""
        co = self.coefficients(t)
        return co.alpha * co.sigma_bar * co.sigma / (co.sigma_T + self.eps)

    def prior_sample(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The bridge ends at the mixture: ``x_T = y`` (no noise is drawn)."""
        return y.clone()
