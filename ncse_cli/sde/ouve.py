"""The Ornstein-Uhlenbeck process with variance exploding diffusion (OUVE) of SGMSE+.

Richter, Welker, Lemercier, Lay, Gerkmann, "Speech Enhancement and Dereverberation with Diffusion-based
Generative Models", IEEE/ACM TASLP 2023, Eq. (3)-(7):

    dx = theta (y - x) dt + sigma_min (sigma_max / sigma_min)^t sqrt(2 log(sigma_max / sigma_min)) dw

with the closed-form Gaussian marginal
    mean(t) = exp(-theta t) x0 + (1 - exp(-theta t)) y,
    var(t)  = sigma_min^2 ((sigma_max/sigma_min)^(2t) - exp(-2 theta t)) log(sigma_max/sigma_min)
              / (theta + log(sigma_max/sigma_min)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ncse_cli.sde.base import SDES
from ncse_cli.tensors import expand, randn_like


@SDES.register("ouve")
class OUVESDE:
    """OUVE forward process, with the SGMSE+ VoiceBank-DEMAND constants as defaults."""

    @dataclass(frozen=True)
    class Config:
        theta: float = 1.5
        sigma_min: float = 0.05
        sigma_max: float = 0.5
        t_eps: float = 0.03
        T: float = 1.0

        def __post_init__(self) -> None:
            if not 0 < self.sigma_min < self.sigma_max:
                raise ValueError("need 0 < sigma_min < sigma_max")
            if not 0 < self.t_eps < self.T:
                raise ValueError("need 0 < t_eps < T")

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg or self.Config()
        self.theta = self.cfg.theta
        self.sigma_min = self.cfg.sigma_min
        self.sigma_max = self.cfg.sigma_max
        self.logsig = math.log(self.sigma_max / self.sigma_min)
        self.T = self.cfg.T
        self.t_eps = self.cfg.t_eps

    def drift(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``f(x, y, t) = theta (y - x)``."""
        return self.theta * (y - x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t) = sigma_min (sigma_max/sigma_min)^t sqrt(2 log(sigma_max/sigma_min))``, shape ``[B]``."""
        return self.sigma_min * torch.exp(t * self.logsig) * math.sqrt(2 * self.logsig)

    def marginal_coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(exp(-theta t), 1 - exp(-theta t))``: the weights of x0 and y in the mean."""
        decay = torch.exp(-self.theta * t)
        return decay, 1 - decay

    def marginal_mean(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``x_t | x0, y``: the clean spectrogram drifts exponentially towards the mixture."""
        decay = expand(torch.exp(-self.theta * t), x0)
        return decay * x0 + (1 - decay) * y

    def marginal_std(self, t: torch.Tensor) -> torch.Tensor:
        """Standard deviation of ``x_t | x0, y`` (closed form above), shape ``[B]``."""
        growth = torch.exp(2 * (self.theta + self.logsig) * t) - 1
        var = self.sigma_min**2 * torch.exp(-2 * self.theta * t) * growth * self.logsig / (self.theta + self.logsig)
        return torch.sqrt(var)

    def prior_sample(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x_T ~ N(y, std(T)^2 I)``: the mean at T is y up to ``exp(-theta T) (x0 - y)``, as in SGMSE+."""
        std = self.marginal_std(torch.full((y.shape[0],), self.T, device=y.device))
        return y + expand(std, y).to(y.dtype) * randn_like(y, generator)
