"""What every forward SDE provides, and the registry they live in."""

from __future__ import annotations

from typing import Protocol

import torch

from ncse_cli.registry import Registry


class SDE(Protocol):
    """A forward process ``dx = f(x, y, t) dt + g(t) dw`` whose drift may pull x towards the mixture ``y``.

    Tensors are complex spectrograms ``[B, 1, F, T]``; ``t`` is a ``[B]`` tensor. ``y`` is an explicit
    argument everywhere, as in sgmse's ``sdes.py``.
    """

    T: float
    t_eps: float

    def drift(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def diffusion(self, t: torch.Tensor) -> torch.Tensor: ...

    def marginal_coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a_t, b_t)``, each ``[B]``, with ``mean(x_t | x0, y) = a_t x0 + b_t y``."""
        ...

    def marginal_mean(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def marginal_std(self, t: torch.Tensor) -> torch.Tensor: ...

    def prior_sample(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


SDES: Registry[type] = Registry("SDE")
