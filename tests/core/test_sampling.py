"""Samplers recover a known clean spectrogram from its exact score; enhancement is reproducible and finite."""

import pytest
import torch

from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.sampling import SAMPLERS, sgmse_timesteps
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.sde import SDES
from ncse_cli.tensors import expand

from tests.dummies import tiny_model, tone_mixture


def test_timesteps_run_from_T_to_t_eps_then_zero():
    sde = SDES.get("ouve")()
    ts = sgmse_timesteps(sde, 30)
    assert len(ts) == 31 and ts[0] == 1.0 and ts[-2].item() == pytest.approx(0.03) and ts[-1] == 0
    assert (ts[1:] < ts[:-1]).all()
    with pytest.raises(ValueError):
        sgmse_timesteps(sde, 0)


@pytest.mark.parametrize("name,cfg", [("pc", {"steps": 30}), ("pc", {"steps": 30, "corrector_steps": 0}),
                                      ("ode", {"steps": 30})])
def test_sampler_with_exact_score_recovers_the_clean_target(name, cfg):
    """For a point-mass x0 the score of p_t(x | y) is exact and the reverse process must land on x0."""
    sde = SDES.get("ouve")()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 1, 32, 32, dtype=torch.complex128, generator=gen)
    y = x0 + torch.randn(4, 1, 32, 32, dtype=torch.complex128, generator=gen)

    def score(x, t, y_):
        return -(x - sde.marginal_mean(x0, y_, t)) / expand(sde.marginal_std(t), x) ** 2

    sampler = SAMPLERS.get(name)
    config = sampler.Config(**cfg)
    result = sampler(score, y, sde, config.timesteps(sde), config, generator=gen)
    error = (result.x - x0).abs().square().mean().sqrt() / (y - x0).abs().square().mean().sqrt()
    assert error < 0.05, float(error)
    assert result.nfe == cfg["steps"] * (cfg.get("corrector_steps", 1) + 1 if name == "pc" else 1)


def test_callback_sees_every_step():
    sde = SDES.get("ouve")()
    y = torch.zeros(1, 1, 4, 4, dtype=torch.complex64)
    seen = []
    cfg = PCConfig(steps=5)
    SAMPLERS.get("pc")(lambda x, t, y_: -x, y, sde, cfg.timesteps(sde), cfg, callback=lambda i, x: seen.append(i))
    assert seen == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("w", [1.0, 3.0])
def test_enhancement_is_reproducible_finite_and_keeps_the_length(w):
    model = tiny_model()
    _, noisy, ref = tone_mixture(num_samples=5000)
    run = lambda seed: enhance_waveforms(model, noisy[0], ref[0], w=w, sampler=PCConfig(steps=3),  # noqa: E731
                               generator=torch.Generator().manual_seed(seed)).waveform
    a, b, c = run(7), run(7), run(8)
    assert a.shape == (5000,) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_enhancement_undoes_peak_normalisation():
    """The output scales with the input: enhancing 2*noisy with 2*ref gives 2*output for the same noise draw."""
    model = tiny_model()
    _, noisy, ref = tone_mixture(num_samples=3000)
    out = lambda k: enhance_waveforms(model, k * noisy, k * ref, sampler=PCConfig(steps=2),  # noqa: E731
                            generator=torch.Generator().manual_seed(0)).waveform
    torch.testing.assert_close(out(2.0), 2.0 * out(1.0), rtol=1e-4, atol=1e-6)
