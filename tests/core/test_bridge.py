"""The Schrodinger bridge (SB-VE): closed forms, exact recovery from an exact data predictor, guidance identities,
and equality with the reference package's ``sbve`` (sgmse 0.1.2) for the same inputs."""

from __future__ import annotations

import math

import pytest
import torch

from ncse_cli.config import from_dict
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.objective import data_prediction_loss
from ncse_cli.sampling import SAMPLERS, Guidance
from ncse_cli.sampling.bridge import BridgeODEConfig, BridgeSDEConfig
from ncse_cli.sde import SDES

from tests.dummies import SMALL_CNN, tone_mixture


def _spectrograms(seed: int = 0, shape=(3, 1, 16, 12), dtype=torch.complex128):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape, dtype=dtype, generator=gen)
    return x0, x0 + 0.7 * torch.randn(shape, dtype=dtype, generator=gen)


def test_marginal_runs_from_the_clean_spectrogram_to_the_mixture():
    sde = SDES.get("sbve")()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    a, b = sde.marginal_coefficients(t)
    sigma2 = 0.4 * (2.6 ** (2 * t) - 1) / (2 * math.log(2.6))
    torch.testing.assert_close(b, sigma2 / sigma2[-1], rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(a + b, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-7)
    std = sde.marginal_std(t)
    assert std[0] == 0 and std[2] < 1e-3 and std[1] > 0.1  # certain at both ends, uncertain between
    x0, y = _spectrograms()
    assert torch.equal(sde.prior_sample(y), y)


@pytest.mark.parametrize("name", ["sb-ode", "sb-sde"])
def test_an_exact_data_predictor_recovers_the_clean_spectrogram(name):
    """With x_hat = x0 at every step, both solvers land on x0 (the last step has no noise)."""
    sde = SDES.get("sbve")()
    x0, y = _spectrograms()
    sampler = SAMPLERS.get(name)
    cfg = sampler.Config(steps=6)
    result = sampler(lambda x, t, y_: x0, y, sde, cfg.timesteps(sde), cfg, generator=torch.Generator().manual_seed(1))
    assert result.nfe == 6
    error = (result.x - x0).abs().max() / (y - x0).abs().max()
    assert error < 1e-3, float(error)


def test_the_data_prediction_loss_is_zero_for_the_truth_and_closed_form_for_zero():
    model = build_model(from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8}, "encoder": "none",
                                                "sde": "sbve", "loss": "data_prediction"})).double()
    x0, y = _spectrograms(shape=(2, 1, 256, 16))

    class Oracle:
        sde, spectrogram = model.sde, model.spectrogram

        def __init__(self, value):
            self.value = value

        def clean(self, x, t, y_, cond):
            return self.value

    assert data_prediction_loss(Oracle(x0), x0, y, None).item() == 0
    zero = data_prediction_loss(Oracle(torch.zeros_like(x0)), x0, y, None, l1_weight=0.0)
    torch.testing.assert_close(zero, 0.5 * x0.abs().square().mean(dim=(1, 2, 3)).mean())


def _bridge_model(encoder="cnn", **extra):
    cfg = {"backbone": {"name": "tiny", "nf": 8, "embedding": "log"}, "encoder": SMALL_CNN if encoder == "cnn"
           else encoder, "sde": "sbve", "loss": "data_prediction", **extra}
    torch.manual_seed(0)
    model = build_model(from_dict(ModelConfig, cfg)).eval()
    with torch.no_grad():  # give the zero-initialised conditioning path values, so the condition matters
        for p in model.parameters():
            if (p == 0).all():
                p.normal_(0, 0.05)
    return model.double()


@torch.no_grad()
def test_guidance_on_the_clean_estimate_keeps_its_identities():
    model = _bridge_model()
    x0, y = _spectrograms(shape=(2, 1, 256, 16))
    t = torch.tensor([0.3, 0.9], dtype=torch.float64)
    cond = model.encode(0.1 * torch.randn(2, 4000, dtype=torch.float64))
    null = model.null_condition(cond)
    c, u = model.clean(x0, t, y, cond), model.clean(x0, t, y, null)
    assert not torch.allclose(c, u)
    assert torch.equal(Guidance(model, cond, 1.0).clean(x0, t, y), c)
    assert torch.equal(Guidance(model, cond, 0.0).clean(x0, t, y), u)
    torch.testing.assert_close(Guidance(model, cond, 3.0).clean(x0, t, y), u + 3 * (c - u), rtol=1e-9, atol=1e-12)


def test_a_bridge_model_enhances_in_few_steps_with_guidance():
    model = _bridge_model().float()
    _, noisy, ref = tone_mixture(num_samples=6000)
    out = enhance_waveforms(model, noisy[0], ref[0], w=2.0, sampler=BridgeODEConfig(steps=3))
    assert out.waveform.shape == (6000,) and torch.isfinite(out.waveform).all()
    assert out.nfe == 3 and out.network_evaluations == 6 and out.guidance == "guided"


def test_samplers_and_sdes_that_do_not_fit_are_refused_by_name():
    from ncse_cli.training import resolve_run_config
    with pytest.raises(Exception, match="sampler 'pc' does not fit the model's SDE 'sbve'.*sb-ode, sb-sde"):
        resolve_run_config(overrides={"model": {"sde": "sbve", "loss": "data_prediction"}})
    cfg = resolve_run_config(overrides={"model": {"sde": "sbve", "loss": "data_prediction"}, "sampler": "sb-ode"})
    assert cfg.sampler == BridgeODEConfig()


# --- against the reference implementation ---------------------------------------------------------------------

def _reference_sde():
    sdes = pytest.importorskip("sgmse.sdes", reason="needs the reference package sgmse 0.1.2 (make install)")
    return sdes.SBVESDE(k=2.6, c=0.4, N=5)


#: The reference computes log k and sigma_T in float32 even for float64 inputs; ncse in the input's precision.
FLOAT32_CONSTANTS = {"rtol": 1e-6, "atol": 1e-9}


def test_marginal_and_prior_equal_the_reference():
    ref, ours = _reference_sde(), SDES.get("sbve")()
    x0, y = _spectrograms()
    t = torch.tensor([0.03, 0.4, 0.97], dtype=torch.float64)
    mean, std = ref.marginal_prob(x0, y, t)
    torch.testing.assert_close(ours.marginal_mean(x0, y, t), mean, **FLOAT32_CONSTANTS)
    torch.testing.assert_close(ours.marginal_std(t), std, **FLOAT32_CONSTANTS)
    torch.testing.assert_close(ours.prior_sample(y), ref.prior_sampling(y.shape, y), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["ode", "sde"])
def test_sampler_equals_the_reference_for_the_same_predictor_and_noise(kind):
    """The reference's ``get_sb_sampler`` and ncse's solver, float64, the same data predictor (a fixed nonlinear
    function of state, mixture and time) and the same noise stream."""
    sampling = pytest.importorskip("sgmse.sampling")
    ref_sde, ours = _reference_sde(), SDES.get("sbve")()
    x0, y = _spectrograms(shape=(2, 1, 8, 6))
    predictor = lambda x, y_, t: x0 + 0.3 * torch.tanh(x - y_) * t[:, None, None, None]  # noqa: E731
    torch.manual_seed(11)
    expected, _ = sampling.get_sb_sampler(ref_sde, predictor, y, sampler_type=kind)()
    cfg = (BridgeODEConfig if kind == "ode" else BridgeSDEConfig)(steps=5)
    got = SAMPLERS.get(f"sb-{kind}")(lambda x, t, y_: predictor(x, y_, t), y, ours, cfg.timesteps(ours), cfg,
                                     generator=torch.Generator().manual_seed(11)).x
    torch.testing.assert_close(got, expected, **FLOAT32_CONSTANTS)


@pytest.mark.xdist_group("sgmse-model")  # imports PyTorch Lightning: on the worker that already has it
def test_data_prediction_loss_equals_the_reference():
    """SGMSE+'s ``_loss`` with loss_type data_prediction (spectrogram MSE plus 0.001 x waveform L1) for the same
    estimate and target."""
    pytest.importorskip("sgmse.model")
    from tests.dummies import sgmse_reference_model
    frames = 32
    ref = sgmse_reference_model("ncsnpp_v2", "sbve", num_frames=frames).double()
    ours = build_model(from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8}, "encoder": "none",
                                               "sde": "sbve", "loss": "data_prediction"})).double()
    ref.data_module.window = ref.data_module.window.double()
    x0, _ = _spectrograms(shape=(2, 1, 256, frames))
    x_hat = x0 + 0.2 * _spectrograms(seed=5, shape=(2, 1, 256, frames))[0]
    t = torch.tensor([0.2, 0.6], dtype=torch.float64)  # unused by this loss, but the reference reads std(t) first
    expected = ref._loss(x_hat, None, None, t, None, x0)

    class Estimate:
        sde, spectrogram = ours.sde, ours.spectrogram

        def clean(self, x, t, y_, cond):
            return x_hat

    got = data_prediction_loss(Estimate(), x0, x0, None, l1_weight=0.001)
    assert math.isclose(got.item(), expected.item(), rel_tol=1e-9)  # float64 rounding of the inverse STFT
