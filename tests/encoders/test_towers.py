"""Both pre-trained encoders with their real towers (``laion_clap`` HTS-AT, ``panns_inference`` Cnn14), randomly
initialised, saved in the official checkpoint layouts and loaded back through the real loading path."""

import os
import types

import numpy as np
import pytest
import torch

from ncse_cli.model_dir import load_model, save_model
from ncse_cli.config import from_dict, to_dict
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.encoders.clap import htsat_module
from ncse_cli.encoders.pretrained import PretrainedWeightsError, own_initialisers_skipped, without_initialisation
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.objective import TrainingObjective
from ncse_cli.sampling.pc import PCConfig

from tests.dummies import clap_config, panns_config, tiny_pretrained_model, tone_mixture

pytestmark = pytest.mark.usefixtures("isolated_weights")

CASES = {"clap": (clap_config, "clap_ckpt"), "panns": (panns_config, "panns_ckpt")}


@pytest.fixture(params=sorted(CASES))
def case(request):
    """(encoder config factory, (checkpoint path, saved tower state)) for each pre-trained encoder."""
    make_config, fixture = CASES[request.param]
    return make_config, request.getfixturevalue(fixture)


def _encoder(config: dict):
    cls = ENCODERS.get(config["name"])
    return cls(from_dict(cls.Config, {k: v for k, v in config.items() if k != "name"}), EncoderContext())


def _tower_state(encoder) -> dict:
    """The tower's weights in the checkpoint's naming (CLAP keeps its names; PANNs' sit under ``cnn14.``)."""
    state = encoder.tower.state_dict()
    return {k.removeprefix("cnn14."): v for k, v in state.items()}


def test_official_checkpoint_loads_exactly_and_config_round_trips(case):
    make_config, (path, saved) = case
    enc = _encoder(make_config(path))
    assert bool(enc.pretrained)
    state = _tower_state(enc)
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    assert to_dict(enc.cfg) == make_config(path) | {k: v for k, v in to_dict(enc.cfg).items()
                                                   if k not in make_config(path)}


def test_the_projection_starts_alike_whether_the_tower_is_drawn_or_loaded(case, tmp_path, monkeypatch):
    """A tower about to be loaded is built without its random draws (zero-filled, then overwritten by the file:
    neither torch's initialisers nor the package's own are called), and those draws are set aside either way:
    with the checkpoint at hand or missing, the projection is the same."""
    make_config, (path, _) = case  # that the loaded tower equals the file: the first test of this module
    clap = make_config is clap_config
    owner, name = (htsat_module(), "trunc_normal_") if clap else (torch.nn.init, "xavier_uniform_")
    calls, real = [], getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    torch.manual_seed(3)
    loaded = _encoder(make_config(path))
    assert not calls
    torch.manual_seed(3)
    drawn = _encoder(make_config(tmp_path / "missing.pt"))
    assert bool(loaded.pretrained) and not bool(drawn.pretrained) and calls
    assert all(torch.equal(a, b) for a, b in zip(loaded.projection.parameters(), drawn.projection.parameters()))


def test_without_initialisation_zero_fills_and_restores_torch_init_and_a_packages_own():
    kaiming = torch.nn.init.kaiming_uniform_
    package = types.ModuleType("package")  # one with its own initialiser, as HTS-AT's trunc_normal_
    package.ones_, package.scale = (lambda t: t.fill_(1.0)), (lambda t: t.mul_(2.0))
    own = package.ones_
    with pytest.raises(RuntimeError, match="inside"):
        with without_initialisation(package):
            layer = torch.nn.Linear(3, 2)
            drawn = package.ones_(torch.empty(4))
            assert torch.nn.init.kaiming_uniform_ is not kaiming and package.ones_ is not own
            assert package.scale(torch.ones(1)).item() == 2.0  # not an initialiser (no trailing _): untouched
            raise RuntimeError("inside")
    assert not layer.weight.any() and not layer.bias.any() and not drawn.any()
    assert torch.nn.init.kaiming_uniform_ is kaiming and torch.nn.Linear(3, 2).weight.any()
    assert package.ones_ is own and package.ones_(torch.empty(4)).eq(1.0).all()
    with own_initialisers_skipped(package):  # what a tower wraps its package's build in: outside, nothing
        assert package.ones_ is own
    with without_initialisation(), own_initialisers_skipped(package):  # inside a skipped build, zeros too
        assert not package.ones_(torch.empty(4)).any()
    assert package.ones_ is own and torch.nn.init.kaiming_uniform_ is kaiming


def test_the_other_encoders_checkpoint_is_rejected_clearly(case, clap_ckpt, panns_ckpt):
    make_config, (path, _) = case
    other = panns_ckpt[0] if path == clap_ckpt[0] else clap_ckpt[0]
    with pytest.raises(PretrainedWeightsError, match=f"{other}: (no audio_branch|does not fit the tower)"):
        _encoder(make_config(other))


def test_missing_checkpoint_fails_in_training_with_where_to_get_it(case, tmp_path):
    make_config, _ = case
    missing = tmp_path / "nowhere" / "weights.pt"
    enc = _encoder(make_config(missing))
    assert not bool(enc.pretrained)
    ref = torch.randn(1, 4000) * 0.1
    with torch.no_grad():
        assert enc.eval()(ref).vector.shape == (1, 16)  # eval mode: a warning, not an error (load_model path)
    with pytest.raises(PretrainedWeightsError, match=rf"{missing} not found\. Download .* from https://"):
        enc.train()(ref)


def test_frozen_tower_runs_once_per_distinct_reference_and_is_deterministic(case):
    make_config, (path, _) = case
    enc = _encoder(make_config(path, cache_size=8)).train()
    rows = []
    enc.tower.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    gen = torch.Generator().manual_seed(0)
    r1, r2, r3 = (torch.randn(1, 4000, generator=gen) * 0.1 for _ in range(3))
    with torch.no_grad():
        first = enc.embed(torch.cat([r1, r2]), None, ["a.wav:0", "b.wav:0"])
        second = enc.embed(torch.cat([r2, r1, r3, r3]), torch.tensor([4000, 4000, 4000, 3000]),
                           ["b.wav:0", "a.wav:0", "", "c.wav:0"])
        fresh = enc.embed(torch.cat([r1, r2]))  # no keys: no cache
    assert rows == [2, 2, 2]  # r1, r2 once; then r3 (empty key) and the shorter c.wav:0; then uncached
    torch.testing.assert_close(second[:2], first.flip(0), rtol=0, atol=0)
    torch.testing.assert_close(fresh, first, rtol=0, atol=0)
    assert not torch.equal(second[2], second[3])  # 3000 of the 4000 samples make another reference
    assert (enc.cache.stats.hits, len(enc.cache)) == (2, 3)
    assert not enc.tower.training  # frozen: eval even inside a module in train mode



def test_float16_autocast_gives_finite_embeddings(case):
    """In float16 the towers' log-mel front ends turn silent (zero-padded) bins into -inf and the embedding into
    NaN; the tower runs outside float16 autocast and matches its float32 embedding."""
    make_config, (path, _) = case
    enc = _encoder(make_config(path)).eval()
    ref = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
    lengths = torch.tensor([4000, 2500])  # the window holds whole repeats of a reference, then zeros
    with torch.no_grad():
        full = enc(ref, lengths).vector
        with torch.autocast("cpu", dtype=torch.float16):
            half = enc(ref, lengths).vector
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), full, rtol=0.01, atol=0.01)



def test_item_without_reference_trains_on_the_null_condition(case):
    """``noise_ref_length`` 0 (a manifest row without reference) is the null condition; the tower, which refuses
    empty references, only sees the real ones."""
    make_config, (path, _) = case
    model = tiny_pretrained_model(make_config(path))
    clean, noisy, ref = tone_mixture(num_samples=3000, batch=2)
    ref[1] = 0
    lengths = torch.tensor([4000, 0])
    with torch.no_grad():
        cond = model.encode(ref, lengths, ["a.wav:0", ""])
    torch.testing.assert_close(cond.vector[1:], model.null_condition(cond).vector[1:], rtol=0, atol=0)
    TrainingObjective(model)(clean, noisy, ref, lengths, ["a.wav:0", ""],
                                  generator=torch.Generator().manual_seed(0)).backward()


@pytest.mark.slow
def test_frozen_training_step_guided_enhancement_and_reload(case, tmp_path):
    make_config, (path, _) = case
    local = tmp_path / path.name
    os.link(path, local)  # the run refers to a checkpoint that is gone when the model is reloaded
    model = tiny_pretrained_model(make_config(local), injection="add")
    enc = model.encoder
    groups = model.parameter_groups(1e-3)
    grouped = {id(p) for g in groups for p in g["params"]}
    assert not grouped & {id(p) for p in enc.tower.parameters()}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}
    clean, noisy, ref = tone_mixture(num_samples=2048, batch=2)
    optimizer = torch.optim.Adam(groups)
    tower_before = {k: v.clone() for k, v in enc.tower.state_dict().items()}
    loss = TrainingObjective(model, p_uncond=0.5)(clean, noisy, ref, None, ["r0", "r1"],
                                                         generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is None for p in enc.tower.parameters())
    assert all(p.grad is not None for p in enc.projection.parameters())
    optimizer.step()
    assert all(torch.equal(v, tower_before[k]) for k, v in enc.tower.state_dict().items())

    model.eval()
    result = enhance_waveforms(model, noisy[:1], ref[:1], w=3.0, sampler=PCConfig(steps=1),
                     generator=torch.Generator().manual_seed(1))
    assert result.guidance == "guided" and result.network_evaluations == 2 * result.nfe
    assert result.waveform.shape == noisy[:1].shape and torch.isfinite(result.waveform).all()

    save_model(model, tmp_path / "run")
    local.unlink()
    again = load_model(tmp_path / "run")
    assert bool(again.encoder.pretrained)
    with torch.no_grad():
        cond, reloaded = model.encode(ref), again.encode(ref)
        torch.testing.assert_close(reloaded.vector, cond.vector, rtol=0, atol=0)
        y, t = model.spectrogram(noisy), torch.tensor([0.4, 0.7])
        torch.testing.assert_close(again.score(y, t, y, reloaded), model.score(y, t, y, cond), rtol=0, atol=0)


@pytest.mark.slow
def test_finetuned_tower_trains_at_its_own_rate_with_film(case):
    make_config, (path, _) = case
    model = tiny_pretrained_model(make_config(path, freeze=False, lr=1e-5), injection="film")
    with torch.no_grad():  # the conditioning path starts at zero (no effect, no gradient): wake it up
        for p in model.backbone.parameters():
            if (p == 0).all():
                p.normal_(0, 0.05)
    enc = model.encoder
    assert enc.tower.training and enc.cache.capacity == 0
    tower_group = [g for g in model.parameter_groups(1e-3) if g["lr"] == 1e-5]
    trainable = list(enc.tower.trainable_parameters())
    assert len(tower_group) == 1 and [id(p) for p in tower_group[0]["params"]] == [id(p) for p in trainable]
    fixed = [p for p in enc.tower.parameters() if not any(p is q for q in trainable)]
    assert fixed and not any(p.requires_grad for p in fixed)  # STFT / mel matrices, tagging heads
    clean, noisy, ref = tone_mixture(num_samples=2048, batch=2)
    # both items conditioned, and a fixed draw of HTS-AT's stochastic depth (a block dropped for every item of
    # the batch gets no gradient): the count below does not depend on what was drawn before
    torch.manual_seed(0)
    TrainingObjective(model, p_uncond=0.0)(clean, noisy, ref, None, ["r0", "r1"],
                                           generator=torch.Generator().manual_seed(0)).backward()
    with_grad = [p for p in trainable if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(with_grad) > 0.9 * len(trainable)
    assert all(p.grad is None for p in fixed)
    assert len(enc.cache) == 0
