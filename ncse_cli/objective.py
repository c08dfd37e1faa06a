"""Denoising score matching for the OUVE SDE, with classifier-free-guidance condition dropout.

Richter et al., "Speech Enhancement and Dereverberation with Diffusion-based Generative Models", TASLP 2023,
Eq. (11): with ``x_t = mean(x0, y, t) + std(t) z``, minimise ``E |s(x_t, y, t) std(t) + z|^2`` for
``t ~ U(t_eps, T)``. Ho & Salimans, "Classifier-Free Diffusion Guidance" (2022): with probability ``p_uncond``
per example the condition is replaced by the null condition, so the same network learns both scores.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ncse_cli.conditioning import Condition, NullCondition
from ncse_cli.model import ScoreModel
from ncse_cli.tensors import draw, expand, randn_like
from ncse_cli.stft import peak_normalize


def drop_condition(cond: Condition, null: NullCondition, p_uncond: float,
                   generator: torch.Generator | None = None) -> Condition:
    """Replace each example's condition by the null condition with probability ``p_uncond``."""
    if cond.is_empty or p_uncond <= 0:
        return cond
    batch = cond.batch_size
    device = (cond.vector if cond.vector is not None else cond.tokens).device
    drop = draw(torch.rand, (batch,), generator, dtype=torch.float32, device=device) < p_uncond
    return cond.where(drop, null.like(cond))


def dsm_loss(model: ScoreModel, x0: torch.Tensor, y: torch.Tensor, cond: Condition,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean of ``|s(x_t, y, cond, t) std(t) + z|^2`` over a batch of spectrogram pairs."""
    sde = model.sde
    u = draw(torch.rand, x0.shape[:1], generator, dtype=torch.float32, device=x0.device)
    t = u * (sde.T - sde.t_eps) + sde.t_eps
    z = randn_like(x0, generator)
    std = expand(sde.marginal_std(t), x0)
    x_t = sde.marginal_mean(x0, y, t) + std * z
    err = model.score(x_t, t, y, cond) * std + z
    return err.abs().square().mean()


class DenoisingScoreMatching(nn.Module):
    """The training objective as a module, so that data-parallel wrappers see one forward per step."""

    def __init__(self, model: ScoreModel, p_uncond: float = 0.0) -> None:
        super().__init__()
        if not 0 <= p_uncond <= 1:
            raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
        self.model = model
        self.p_uncond = p_uncond

    def forward(self, clean: torch.Tensor, noisy: torch.Tensor, noise_ref: torch.Tensor | None = None,
                noise_ref_lengths: torch.Tensor | None = None, noise_ref_keys: Sequence[str] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Loss for waveforms ``clean, noisy [B, L]`` and references ``[B, R]`` (peak-normalised here).

        ``noise_ref_keys`` (the datasets' ``ref_key``) let a frozen pre-trained encoder reuse embeddings.
        """
        _, noisy, clean, noise_ref = peak_normalize(noisy, clean, noise_ref)
        x0, y = self.model.spectrogram(clean), self.model.spectrogram(noisy)
        cond = self.model.encode(noise_ref, noise_ref_lengths, noise_ref_keys)
        cond = drop_condition(cond, self.model.null, self.p_uncond, generator)
        return dsm_loss(self.model, x0, y, cond, generator)
