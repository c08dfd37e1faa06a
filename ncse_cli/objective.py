"""The training objectives of SGMSE+, with classifier-free-guidance condition dropout.

Both follow the reference implementation (``sgmse`` 0.1.2, ``ScoreModel._loss``) to the reduction: a sum over
the time-frequency bins halved, averaged over the batch.

* ``score_matching``: Richter et al., "Speech Enhancement and Dereverberation with Diffusion-based Generative
  Models", TASLP 2023, Eq. (11): with ``x_t = mean(x0, y, t) + std(t) z``, minimise ``|s(x_t, y, t) std(t) + z|^2``
  for ``t ~ U(t_eps, T)``.
* ``data_prediction``: Richter, de Oliveira, Gerkmann, "Investigating Training Objectives for Generative Speech
  Enhancement", ICASSP 2025, with the Schrodinger bridge of Jukic et al., Interspeech 2024: the network predicts
  ``x0`` from ``x_t``; the loss is the mean squared error of the spectrogram plus ``l1_weight`` times the mean
  absolute error of the waveform.

Ho & Salimans, "Classifier-Free Diffusion Guidance" (2022): with probability ``p_uncond`` per example the
condition is replaced by the null condition, so the same network learns both the conditional and the
unconditional model.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ncse_cli.conditioning import Condition, NullCondition
from ncse_cli.model import ScoreModel
from ncse_cli.stft import peak_normalize
from ncse_cli.tensors import draw, expand, randn_like


def drop_condition(cond: Condition, null: NullCondition, p_uncond: float,
                   generator: torch.Generator | None = None) -> Condition:
    """Replace each example's condition by the null condition with probability ``p_uncond``."""
    if cond.is_empty or p_uncond <= 0:
        return cond
    batch = cond.batch_size
    device = (cond.vector if cond.vector is not None else cond.tokens).device
    drop = draw(torch.rand, (batch,), generator, dtype=torch.float32, device=device) < p_uncond
    return cond.where(drop, null.like(cond))


def _half_sum(values: torch.Tensor) -> torch.Tensor:
    """SGMSE+'s reduction: half the sum over everything but the batch, averaged over the batch."""
    return (0.5 * values.reshape(values.shape[0], -1).sum(dim=-1)).mean()


def perturb(model: ScoreModel, x0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None):
    """A training state: ``t ~ U(t_eps, T)``, ``z ~ N(0, I)`` (complex, ``E|z|^2 = 1``) and
    ``x_t = mean(x0, y, t) + std(t) z``; returns ``(x_t, t, z, std [B, 1, 1, 1])``."""
    sde = model.sde
    u = draw(torch.rand, x0.shape[:1], generator, dtype=torch.float32, device=x0.device)
    t = u * (sde.T - sde.t_eps) + sde.t_eps
    z = randn_like(x0, generator)
    std = expand(sde.marginal_std(t), x0)
    return sde.marginal_mean(x0, y, t) + std * z, t, z, std


def score_matching_loss(model: ScoreModel, x0: torch.Tensor, y: torch.Tensor, cond: Condition,
                        generator: torch.Generator | None = None, state=None) -> torch.Tensor:
    """``|s(x_t, y, cond, t) std(t) + z|^2``, SGMSE+'s reduction; ``state`` is a :func:`perturb` result (drawn
    here when not given)."""
    x_t, t, z, std = state if state is not None else perturb(model, x0, y, generator)
    return _half_sum((model.score(x_t, t, y, cond) * std + z).abs().square())


def data_prediction_loss(model: ScoreModel, x0: torch.Tensor, y: torch.Tensor, cond: Condition,
                         generator: torch.Generator | None = None, l1_weight: float = 0.001,
                         state=None) -> torch.Tensor:
    """``mean |x_hat - x0|^2`` over the spectrogram plus ``l1_weight`` times ``mean |istft(x_hat) - istft(x0)|``
    over the waveform of ``(frames - 1) * hop`` samples, each halved and averaged over the batch as in SGMSE+."""
    x_t, t, _, _ = state if state is not None else perturb(model, x0, y, generator)
    x_hat = model.clean(x_t, t, y, cond)
    bins = x0.shape[-2] * x0.shape[-1]
    loss = _half_sum((x_hat - x0).abs().square() / bins)
    if l1_weight:
        length = (x0.shape[-1] - 1) * model.spectrogram.cfg.hop_length
        error = model.spectrogram.inverse(x_hat, length) - model.spectrogram.inverse(x0, length)
        loss = loss + l1_weight * _half_sum(error.abs() / length)
    return loss


class TrainingObjective(nn.Module):
    """The model's training loss (``model.cfg.loss``) as a module, so that data-parallel wrappers see one
    forward per step."""

    def __init__(self, model: ScoreModel, p_uncond: float = 0.0, l1_weight: float = 0.001) -> None:
        super().__init__()
        if not 0 <= p_uncond <= 1:
            raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
        self.model = model
        self.p_uncond = p_uncond
        self.l1_weight = l1_weight

    def forward(self, clean: torch.Tensor, noisy: torch.Tensor, noise_ref: torch.Tensor | None = None,
                noise_ref_lengths: torch.Tensor | None = None, noise_ref_keys: Sequence[str] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Loss for waveforms ``clean, noisy [B, L]`` and references ``[B, R]`` (peak-normalised here).

        ``noise_ref_keys`` (the datasets' ``ref_key``) let a frozen pre-trained encoder reuse embeddings.
        """
        _, noisy, clean, noise_ref = peak_normalize(noisy, clean, noise_ref)
        x0, y = self.model.spectrogram(clean), self.model.spectrogram(noisy)
        # times and noise are drawn before the condition dropout, so that a conditioned and an unconditioned run
        # of one seed see the same states and differ only in the conditioning
        state = perturb(self.model, x0, y, generator)
        cond = self.model.encode(noise_ref, noise_ref_lengths, noise_ref_keys)
        cond = drop_condition(cond, self.model.null, self.p_uncond, generator)
        if self.model.cfg.loss == "data_prediction":
            return data_prediction_loss(self.model, x0, y, cond, l1_weight=self.l1_weight, state=state)
        return score_matching_loss(self.model, x0, y, cond, state=state)
