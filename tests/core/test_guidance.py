"""Classifier-free guidance identities, encoder call counts and condition dropout."""

import pytest
import torch

from ncse_cli.conditioning import Condition
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.objective import TrainingObjective, drop_condition
from ncse_cli.sampling import Guidance
from ncse_cli.sampling.pc import PCConfig

from tests.dummies import tiny_model, tone_mixture


def _state(model, batch=2, frames=20, seed=0):
    """A diffusion state in the model's precision (the identity tests run in float64, so that the batch size's
    effect on float32 kernel rounding, about 1e-5 relative through the U-Net, does not mask the formula)."""
    gen = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    shape = (batch, 1, model.cfg.stft.freq_bins, frames)
    x = torch.complex(torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype))
    y = torch.complex(torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype))
    t = torch.tensor([0.3, 0.8], dtype=dtype)[:batch]
    cond = model.encode(torch.randn(batch, 4000, generator=gen, dtype=dtype) * 0.1)
    return 0.3 * x, t, 0.3 * y, cond


def _trained_null(model):
    """Give the learned null embedding and the conditioning path non-trivial values."""
    with torch.no_grad():
        for p in model.parameters():
            if (p == 0).all():
                p.normal_(0, 0.05)


@pytest.fixture(params=[("add", "zeros"), ("film", "learned")], ids=["add-zeros", "film-learned"])
def model(request):
    injection, null = request.param
    m = tiny_model(injection=injection, null=null)
    _trained_null(m)
    return m.double()


@torch.no_grad()
def test_w1_is_the_conditional_score_exactly(model):
    x, t, y, cond = _state(model)
    assert Guidance(model, cond, 1.0).branches == 1
    torch.testing.assert_close(Guidance(model, cond, 1.0)(x, t, y), model.score(x, t, y, cond), rtol=0, atol=0)


@torch.no_grad()
def test_w0_is_the_unconditional_score_exactly(model):
    x, t, y, cond = _state(model)
    null = model.null_condition(cond)
    torch.testing.assert_close(Guidance(model, cond, 0.0)(x, t, y), model.score(x, t, y, null), rtol=0, atol=0)


@torch.no_grad()
@pytest.mark.parametrize("w", [0.5, 3.0, 5.0])
def test_batched_guidance_equals_the_two_pass_formula(model, w):
    x, t, y, cond = _state(model)
    guided = Guidance(model, cond, w)
    assert guided.branches == 2
    s_cond = model.score(x, t, y, cond)
    s_uncond = model.score(x, t, y, model.null_condition(cond))
    assert not torch.allclose(s_cond, s_uncond)  # the condition matters, so the identity is not vacuous
    expected = s_uncond + w * (s_cond - s_uncond)
    assert (guided(x, t, y) - expected).abs().max() <= 1e-6 * max(1.0, expected.abs().max().item())


@pytest.mark.parametrize("steps", [2, 5])
@pytest.mark.parametrize("w", [1.0, 3.0])
def test_encoder_runs_once_per_utterance_whatever_the_steps(steps, w):
    model = tiny_model()
    calls = []
    model.encoder.register_forward_hook(lambda *_: calls.append(1))
    film_or_add = []
    model.backbone.cond_embed.register_forward_hook(lambda *_: film_or_add.append(1))
    _, noisy, ref = tone_mixture()
    out = enhance_waveforms(model, noisy[0], ref[0], w=w, sampler=PCConfig(steps=steps),
                  generator=torch.Generator().manual_seed(0))
    assert len(calls) == 1
    assert len(film_or_add) == 1  # the condition is projected once per utterance, too
    assert out.nfe == 2 * steps and out.network_evaluations == out.nfe * (2 if w != 1 else 1)


@pytest.mark.parametrize("w", [1.0, 3.0])
def test_the_profile_map_is_computed_once_per_utterance_whatever_the_steps(w):
    model = tiny_model(encoder="profile", injection="profile")
    maps = []
    model.backbone.profile_in.register_forward_hook(lambda *_: maps.append(1))
    _, noisy, ref = tone_mixture()
    out = enhance_waveforms(model, noisy[0], ref[0], w=w, sampler=PCConfig(steps=3),
                            generator=torch.Generator().manual_seed(0))
    assert out.nfe == 6 and len(maps) == 1


def test_film_projections_are_computed_once_per_condition():
    model = tiny_model(injection="film")
    x, t, y, cond = _state(model)
    calls = []
    for block in model.backbone.modules():
        if getattr(block, "film", None) is not None:
            block.film.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model.score(x, t, y, cond)
        first = len(calls)
        model.score(x, t, y, cond)
    assert first > 0 and len(calls) == first


class _Spy(torch.nn.Module):
    """Wraps a backbone and records the conditions it receives."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []
        self.time_multiple = inner.time_multiple

    def forward(self, x, t, cond):
        self.seen.append(cond.vector.detach().clone())
        return self.inner(x, t, cond)


@pytest.mark.parametrize("null", ["zeros", "learned"])
def test_p_uncond_one_feeds_only_the_null_condition(null):
    model = tiny_model(null=null).train()
    _trained_null(model)
    model.backbone = _Spy(model.backbone)
    clean, noisy, ref = tone_mixture(batch=4)
    objective = TrainingObjective(model, p_uncond=1.0)
    for seed in range(3):
        objective(clean, noisy, ref, generator=torch.Generator().manual_seed(seed)).backward()
    expected = torch.zeros(32) if null == "zeros" else model.null.vector.detach()
    for vector in model.backbone.seen:
        torch.testing.assert_close(vector, expected.expand_as(vector), rtol=0, atol=0)


def test_p_uncond_zero_never_drops_and_half_drops_about_half():
    model = tiny_model()
    cond = Condition(vector=torch.randn(4000, 32) + 3)
    assert drop_condition(cond, model.null, 0.0) is cond
    dropped = drop_condition(cond, model.null, 0.5, torch.Generator().manual_seed(0))
    fraction = (dropped.vector == 0).all(dim=1).float().mean().item()
    assert abs(fraction - 0.5) < 0.03  # 4000 Bernoulli(0.5) draws: std 0.008
    kept = ~(dropped.vector == 0).all(dim=1)
    torch.testing.assert_close(dropped.vector[kept], cond.vector[kept])


def test_unconditioned_model_ignores_guidance():
    model = tiny_model(encoder="none")
    _, noisy, ref = tone_mixture()
    a = enhance_waveforms(model, noisy[0], ref[0], w=3.0, sampler=PCConfig(steps=2), generator=torch.Generator().manual_seed(1))
    b = enhance_waveforms(model, noisy[0], None, w=1.0, sampler=PCConfig(steps=2), generator=torch.Generator().manual_seed(1))
    assert a.guidance == b.guidance == "plain" and a.network_evaluations == 4
    torch.testing.assert_close(a.waveform, b.waveform, rtol=0, atol=0)


@pytest.mark.parametrize("null", ["zeros", "learned"])
def test_conditional_model_without_reference_uses_the_null_condition(null):
    """No reference at all: the unconditional score, equal to w = 0 with any reference, whatever w."""
    model = tiny_model(null=null)
    _trained_null(model)
    _, noisy, ref = tone_mixture(num_samples=3000)
    run = lambda r, w: enhance_waveforms(model, noisy[0], r, w=w, sampler=PCConfig(steps=2),  # noqa: E731
                               generator=torch.Generator().manual_seed(4))
    without = run(None, 3.0)
    assert without.guidance == "unconditional" and without.network_evaluations == 4
    torch.testing.assert_close(without.waveform, run(ref[0], 0.0).waveform, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("encoder", ["cnn", {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32}])
def test_rows_without_reference_get_the_null_condition(encoder):
    """A dataset item without reference has ``noise_ref_length`` 0: its condition is the null one (not the
    encoding of silence); the other rows are encoded as on their own."""
    model = tiny_model(encoder=encoder, null="learned")
    _trained_null(model)
    _, _, ref = tone_mixture(batch=2)
    ref[1] = 0
    with torch.no_grad():
        cond = model.encode(ref, torch.tensor([4000, 0]))
        alone = model.encode(ref[:1], torch.tensor([4000]))
        null = model.null_condition(alone)
    for name in ("vector", "tokens"):
        if getattr(alone, name) is not None:
            torch.testing.assert_close(getattr(cond, name)[:1], getattr(alone, name), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(getattr(cond, name)[1:], getattr(null, name), rtol=0, atol=0)
