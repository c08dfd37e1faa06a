"""Training objectives: exact values for oracle predictions and a tiny model overfitting one example."""

import pytest
import torch

from ncse_cli.conditioning import Condition
from ncse_cli.objective import TrainingObjective, score_matching_loss
from ncse_cli.tensors import expand

from tests.dummies import tiny_model, tone_mixture


class _OracleModel:
    """Stands in for a ScoreModel: returns the exact score of x_t given a known x0."""

    def __init__(self, sde, x0, scale=1.0):
        self.sde, self.x0, self.scale = sde, x0, scale

    def score(self, x, t, y, cond):
        mean = self.sde.marginal_mean(self.x0, y, t)
        return -self.scale * (x - mean) / expand(self.sde.marginal_std(t), x) ** 2


def test_oracle_score_has_zero_loss_and_zero_score_has_half_a_unit_per_bin():
    model = tiny_model()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 1, 64, 64, dtype=torch.complex64, generator=gen)
    y = x0 + 0.5 * torch.randn(8, 1, 64, 64, dtype=torch.complex64, generator=gen)
    oracle = _OracleModel(model.sde, x0)
    half_bins = 0.5 * 64 * 64
    assert score_matching_loss(oracle, x0, y, Condition(), torch.Generator().manual_seed(1)).item() < 1e-10 * half_bins
    zero = _OracleModel(model.sde, x0, scale=0.0)
    # With s = 0 each bin contributes E|z|^2 = 1 for complex standard normal noise; SGMSE+ halves the sum.
    loss = score_matching_loss(zero, x0, y, Condition(), torch.Generator().manual_seed(1)).item()
    assert abs(loss / half_bins - 1.0) < 0.03


def clean_spectrogram_bins(model, clean: torch.Tensor) -> int:
    """Time-frequency bins of one example's spectrogram (frequency bins x centred frames)."""
    stft = model.cfg.stft
    return stft.freq_bins * (1 + clean.shape[-1] // stft.hop_length)


@pytest.mark.slow
def test_tiny_model_overfits_one_triple():
    """40 Adam steps at 5e-3: the loss falls well below the loss of a zero score (previous test), where the
    zero-initialised output head of NCSN++ starts it, so the model has learned this example's score. (The optimum
    is not zero: times and noise are drawn afresh at every step.)"""
    torch.manual_seed(0)
    model = tiny_model().train()
    clean, noisy, ref = tone_mixture(num_samples=128 * 15, batch=2)
    objective = TrainingObjective(model, p_uncond=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss = objective(clean, noisy, ref, generator=gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    zero_score = 0.5 * clean_spectrogram_bins(model, clean)  # the loss of a zero score: E|z|^2 = 1 per bin, halved sum
    assert abs(first / zero_score - 1) < 0.05 and last < 0.7 * zero_score, (first, last, zero_score)


@pytest.mark.xdist_group("sgmse-model")  # imports PyTorch Lightning: on the worker that already has it
def test_score_matching_loss_equals_the_reference():
    """SGMSE+'s ``_loss`` (loss_type score_matching, weighting sigma^2) for the same score, noise and times."""
    pytest.importorskip("sgmse.model", reason="needs the reference package sgmse 0.1.2 (make install)")
    from tests.dummies import sgmse_reference_model
    ref = sgmse_reference_model()
    model = tiny_model().double()
    gen = torch.Generator().manual_seed(3)
    shape = (3, 1, 256, 16)
    x0, y, score = (torch.randn(shape, dtype=torch.complex128, generator=gen) for _ in range(3))
    gen = torch.Generator().manual_seed(9)
    expected_t = torch.rand(3, generator=gen, dtype=torch.float32) * (1 - 0.03) + 0.03
    z = torch.randn(shape, dtype=torch.complex128, generator=gen)
    expected = ref._loss(score, None, z, expected_t, None, x0)  # float32 times, as torch.rand draws them

    class Fixed:
        sde = model.sde

        def score(self, x, t, y_, cond):
            torch.testing.assert_close(t, expected_t)  # the same times were drawn
            return score

    got = score_matching_loss(Fixed(), x0, y, Condition(), torch.Generator().manual_seed(9))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
