"""Contract tests over every registered component: shapes, dtypes, determinism, config round trips."""

import dataclasses

import pytest
import torch

from ncse_cli.backbones import BACKBONES
from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.config import from_dict, to_dict
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.model import ModelConfig
from ncse_cli.sampling import SAMPLERS
from ncse_cli.sde import SDES

from tests.dummies import tiny_config, tiny_model

#: Encoders whose default config needs a pre-trained tower are exercised by their own tests.
CHEAP_ENCODERS = [name for name in ENCODERS.names() if name in {"none", "cnn", "sequence"}]


def _param_count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", BACKBONES.names())
@pytest.mark.parametrize("injection", ["add", "film"])
def test_backbone_contract(name, injection):
    """Every preset builds and round-trips its config; the forward contract runs on the tiny preset (the larger
    ones differ only in sizes, and a forward through them costs seconds: benchmarks/ times them)."""
    cls = BACKBONES.get(name)
    cfg = cls.Config()
    assert from_dict(cls.Config, {k: v for k, v in to_dict(cfg).items() if k != "name"}) == cfg
    with torch.device("meta"):  # no memory, no initialisation: the structure alone
        cls(cfg, ConditionSpec(vector_dim=16), injection)
    if name != "tiny":
        return
    torch.manual_seed(0)
    net = cls(cfg, ConditionSpec(vector_dim=16), injection).eval()
    frames = net.time_multiple
    x = torch.randn(2, cfg.in_channels, cfg.freq_bins, frames)
    t = torch.tensor([0.1, 0.9])
    cond = Condition(vector=torch.randn(2, 16))
    with torch.no_grad():
        out = net(x, t, cond)
        again = net(x, t, Condition(vector=cond.vector))
    assert out.shape == (2, cfg.out_channels, cfg.freq_bins, frames) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, again, rtol=0, atol=0)


def test_preset_sizes():
    with torch.device("meta"):
        counts = {name: _param_count(BACKBONES.get(name)(BACKBONES.get(name).Config()))
                  for name in ("tiny", "small", "base")}
    assert counts["tiny"] < 2e6
    assert 20e6 < counts["small"] < 35e6  # NCSN++M is about 27.8 M
    assert 60e6 < counts["base"] < 70e6  # SGMSE+ reports about 65 M


def test_backbone_rejects_bad_injection_and_shapes():
    cls = BACKBONES.get("tiny")
    with pytest.raises(ValueError, match="injection"):
        cls(cls.Config(), ConditionSpec(vector_dim=4), "concat")
    with pytest.raises(ValueError, match="freq_bins"):
        cls.Config(freq_bins=100)


@pytest.mark.parametrize("name", CHEAP_ENCODERS)
def test_encoder_contract(name):
    cls = ENCODERS.get(name)
    torch.manual_seed(0)
    enc = cls(cls.Config(), EncoderContext()).eval()
    ref = torch.randn(3, 4000, generator=torch.Generator().manual_seed(1)) * 0.1
    lengths = torch.tensor([4000, 3000, 2000])
    with torch.no_grad():
        cond = enc(ref, lengths)
        again = enc(ref.clone(), lengths)
    if enc.spec.vector_dim:
        assert cond.vector.shape == (3, enc.spec.vector_dim) and cond.vector.dtype == torch.float32
        torch.testing.assert_close(cond.vector, again.vector, rtol=0, atol=0)
    if enc.spec.token_dim:
        assert cond.tokens.shape[0] == 3 and cond.tokens.shape[-1] == enc.spec.token_dim
    if enc.spec.is_empty:
        assert cond.is_empty


def test_cnn_encoder_ignores_padding_past_the_valid_length():
    enc = ENCODERS.get("cnn")(ENCODERS.get("cnn").Config(channels=(8, 8, 8, 8), dim=8)).eval()
    ref = torch.randn(1, 8192) * 0.1
    padded_a = torch.cat([ref, torch.zeros(1, 8192)], dim=1)
    padded_b = torch.cat([ref, torch.randn(1, 8192)], dim=1)
    lengths = torch.tensor([8192])
    with torch.no_grad():
        a, b = enc(padded_a, lengths).vector, enc(padded_b, lengths).vector
        full = enc(padded_b).vector
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # what lies past the valid length never matters
    assert not torch.allclose(a, full)  # ... while without lengths the noise is part of the reference



def test_cnn_encoder_encodes_each_reference_at_its_own_length():
    """Padding must not enter the trunk (GroupNorm statistics, convolution borders): a padded reference in a
    mixed batch gets the vector it gets alone and unpadded, as in evaluation."""
    enc = ENCODERS.get("cnn")(ENCODERS.get("cnn").Config(channels=(8, 8, 8, 8), dim=8)).eval()
    gen = torch.Generator().manual_seed(0)
    long, short = torch.randn(1, 8192, generator=gen) * 0.1, torch.randn(1, 3000, generator=gen) * 0.1
    batch = torch.cat([long, torch.cat([short, torch.zeros(1, 8192 - 3000)], dim=1), long])
    with torch.no_grad():
        mixed = enc(batch, torch.tensor([8192, 3000, 8192])).vector
        alone = torch.cat([enc(long).vector, enc(short).vector, enc(long).vector])
        tiny = enc(torch.cat([short[:, :100], torch.zeros(1, 900)], dim=1), torch.tensor([100])).vector
    torch.testing.assert_close(mixed, alone, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(tiny).all()  # shorter than the STFT's reflect padding: cropped to its minimum


@pytest.mark.parametrize("name", SDES.names())
def test_sde_contract(name):
    sde = SDES.get(name)()
    y = torch.randn(2, 1, 8, 6, dtype=torch.complex64)
    a = sde.prior_sample(y, torch.Generator().manual_seed(3))
    b = sde.prior_sample(y, torch.Generator().manual_seed(3))
    assert a.shape == y.shape and a.dtype == y.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    t = torch.tensor([0.2, 0.7])
    assert sde.marginal_std(t).shape == (2,) and sde.diffusion(t).shape == (2,)
    assert sde.drift(a, y, t).shape == y.shape


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_contract(name):
    sampler = SAMPLERS.get(name)
    cfg = sampler.Config(steps=4)
    sde = SDES.get(sampler.sdes[0])()
    y = torch.randn(2, 1, 8, 6, dtype=torch.complex64)
    if sampler.uses == "score":
        fn = lambda x, t, y_: -(x - y_) / sde.marginal_std(t)[:, None, None, None] ** 2  # noqa: E731
    else:
        fn = lambda x, t, y_: 0.5 * y_  # noqa: E731  (a clean estimate)
    ts = cfg.timesteps(sde)
    a = sampler(fn, y, sde, ts, cfg, generator=torch.Generator().manual_seed(0))
    b = sampler(fn, y, sde, ts, cfg, generator=torch.Generator().manual_seed(0))
    assert a.x.shape == y.shape and a.x.dtype == y.dtype and a.nfe == 4 * (1 + getattr(cfg, "corrector_steps", 0))
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)
    assert to_dict(cfg)["name"] == name


def test_model_config_round_trip():
    cfg = tiny_config(injection="film", null="learned")
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg
    assert dataclasses.replace(cfg, sample_rate=8000) != cfg


@pytest.mark.parametrize("encoder", CHEAP_ENCODERS)
def test_score_model_contract(encoder):
    model = tiny_model(encoder=encoder, null="learned")
    with torch.no_grad():  # zero-initialised weights (condition projections, the null condition) drawn random
        for param in model.parameters():
            if not param.any():
                param.normal_(0.0, 0.05)
    bins = model.cfg.stft.freq_bins
    x = torch.randn(2, 1, bins, 37, dtype=torch.complex64)  # any frame count: the model pads internally
    y = torch.randn(2, 1, bins, 37, dtype=torch.complex64)
    t = torch.tensor([0.5, 0.6])
    with torch.no_grad():
        cond = model.encode(torch.randn(2, 4000) * 0.1)
        s = model.score(x, t, y, cond)
        null = model.score(x, t, y, model.null_condition(cond))
    assert s.shape == x.shape and s.dtype == torch.complex64 and torch.isfinite(s).all()
    assert model.conditional == (encoder != "none")
    assert torch.equal(s, null) != model.conditional  # the condition reaches the score exactly when there is one
