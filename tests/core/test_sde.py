import math

import pytest
import torch

from ncse_cli.conditioning import Condition, ConditionSpec, NullCondition
from ncse_cli.objective import drop_condition
from ncse_cli.sde import SDES
from ncse_cli.tensors import randn_like


@pytest.fixture
def sde():
    return SDES.get("ouve")()


def test_sgmse_constants(sde):
    assert (sde.theta, sde.sigma_min, sde.sigma_max, sde.t_eps, sde.T) == (1.5, 0.05, 0.5, 0.03, 1.0)


def test_marginal_matches_closed_form(sde):
    t = torch.tensor([0.03, 0.25, 0.5, 1.0], dtype=torch.float64)
    x0 = torch.tensor(1.0 + 2.0j, dtype=torch.complex128).expand(4, 1, 1, 1)
    y = torch.tensor(-0.5 + 0.5j, dtype=torch.complex128).expand(4, 1, 1, 1)
    mean = sde.marginal_mean(x0, y, t).flatten()
    for i, ti in enumerate(t.tolist()):
        decay = math.exp(-1.5 * ti)
        assert complex(mean[i]) == pytest.approx(decay * (1 + 2j) + (1 - decay) * (-0.5 + 0.5j), rel=1e-12)
        log_ratio = math.log(10.0)
        var = 0.05**2 * ((10.0 ** (2 * ti)) - math.exp(-2 * 1.5 * ti)) * log_ratio / (1.5 + log_ratio)
        assert float(sde.marginal_std(t)[i]) == pytest.approx(math.sqrt(var), rel=1e-12)


def test_marginal_solves_the_moment_odes(sde):
    """For an OU process, dm/dt = theta (y - m) and dVar/dt = -2 theta Var + g(t)^2."""
    t = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
    h = 1e-6
    x0 = torch.full((10, 1, 1, 1), 0.7, dtype=torch.float64)
    y = torch.full((10, 1, 1, 1), -0.2, dtype=torch.float64)
    dm = (sde.marginal_mean(x0, y, t + h) - sde.marginal_mean(x0, y, t - h)) / (2 * h)
    torch.testing.assert_close(dm, sde.drift(sde.marginal_mean(x0, y, t), y, t), rtol=1e-6, atol=1e-8)
    var = lambda s: sde.marginal_std(s) ** 2  # noqa: E731
    dvar = (var(t + h) - var(t - h)) / (2 * h)
    torch.testing.assert_close(dvar, -2 * 1.5 * var(t) + sde.diffusion(t) ** 2, rtol=1e-6, atol=1e-9)


def test_std_vanishes_at_zero_and_prior_is_centred_on_y(sde):
    assert float(sde.marginal_std(torch.zeros(1))) == pytest.approx(0.0, abs=1e-7)
    y = torch.full((1, 1, 200, 200), 0.3 - 0.1j, dtype=torch.complex64)
    x = sde.prior_sample(y, torch.Generator().manual_seed(0))
    std_T = float(sde.marginal_std(torch.ones(1)))
    assert complex((x - y).mean()) == pytest.approx(0, abs=4 * std_T / 200)
    assert float((x - y).abs().square().mean().sqrt()) == pytest.approx(std_T, rel=0.02)


def test_invalid_constants_are_refused():
    cfg = SDES.get("ouve").Config
    with pytest.raises(ValueError):
        cfg(sigma_min=0.5, sigma_max=0.05)
    with pytest.raises(ValueError):
        cfg(t_eps=0.0)


def test_noise_is_drawn_on_the_generator_device_and_moved(monkeypatch):
    """CUDA refuses a CPU generator for a CUDA tensor, and enhancement's per-utterance generators live on the CPU.

    The CPU has no second device, so the check CUDA makes is emulated and ``meta`` stands in for the GPU.
    """
    def strict(sample):
        def checked(*shape, generator=None, device=None, **kwargs):
            if generator is not None and torch.device(device or "cpu") != generator.device:
                raise RuntimeError(f"Expected a '{torch.device(device).type}' device type for generator "
                                   f"but found '{generator.device.type}'")
            return sample(*shape, generator=generator, device=device, **kwargs)
        return checked

    monkeypatch.setattr(torch, "randn", strict(torch.randn))
    monkeypatch.setattr(torch, "rand", strict(torch.rand))
    x = torch.zeros(2, 1, 3, 4, dtype=torch.complex64, device="meta")
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    for noise in (randn_like(x, gens[0]), randn_like(x, gens)):
        assert noise.device == x.device and noise.shape == x.shape and noise.dtype == x.dtype
    cond = Condition(vector=torch.ones(2, 3, device="meta"))
    dropped = drop_condition(cond, NullCondition(ConditionSpec(vector_dim=3)), 0.5, gens[0])
    assert dropped.vector.device == cond.vector.device
    # on the generator's own device the draw is unchanged
    cpu = randn_like(torch.zeros(2, 3, dtype=torch.complex64), torch.Generator().manual_seed(5))
    torch.testing.assert_close(cpu, torch.randn(2, 3, dtype=torch.complex64, generator=torch.Generator().manual_seed(5)),
                               rtol=0, atol=0)
