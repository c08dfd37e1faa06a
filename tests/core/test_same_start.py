"""Conditioned and unconditioned runs of one seed differ only in their conditioning: the same initial network and
the same diffusion times and noise at every step (the plan's comparisons rest on this)."""

import pytest
import torch

from ncse_cli.objective import TrainingObjective

from tests.dummies import SMALL_CNN, tiny_model, tone_mixture

VARIANTS = {"cnn-add": {}, "cnn-film": {"injection": "film"},
            "sequence": {"encoder": {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32, "num_tokens": 4}},
            "profile": {"encoder": "profile", "injection": "profile"}}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_shared_weight_starts_equal(variant):
    plain = tiny_model(seed=3, encoder="none").state_dict()
    conditioned = tiny_model(seed=3, **VARIANTS[variant]).state_dict()
    assert set(plain) < set(conditioned)
    for key, value in plain.items():
        assert torch.equal(value, conditioned[key]), key


def test_the_objective_draws_the_same_times_and_noise_with_or_without_conditioning():
    seen = {}
    for name, model in (("plain", tiny_model(encoder="none")), ("conditioned", tiny_model(encoder=SMALL_CNN))):
        calls = []
        model.register_forward_pre_hook(lambda module, args: calls.append((args[0].clone(), args[1].clone())))
        clean, noisy, ref = tone_mixture(num_samples=4000, batch=3)
        TrainingObjective(model, p_uncond=0.5)(clean, noisy, ref, generator=torch.Generator().manual_seed(5))
        seen[name] = calls
    (x_plain, t_plain), = seen["plain"]
    (x_cond, t_cond), = seen["conditioned"]
    assert torch.equal(t_plain, t_cond) and torch.equal(x_plain, x_cond)
