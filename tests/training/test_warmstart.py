"""Warm starts (``--init-from``): a conditioned model started from an unconditioned one gives that model's score
exactly at step 0, for every encoder and injection; incompatible sources are refused by name."""

from __future__ import annotations

import pytest
import torch

from ncse_cli.model_dir import WEIGHTS_FILE, ModelDirError, save_model, save_weights
from ncse_cli.config import from_dict
from ncse_cli.model import ModelConfig, ScoreModel
from ncse_cli.sampling import Guidance
from ncse_cli.warmstart import WarmStartError, warm_start

from tests.dummies import SMALL_CNN
from tests.dummies import randomize_

#: the pre-trained towers keep random weights (no official checkpoint is found)
pytestmark = pytest.mark.usefixtures("isolated_weights")

BACKBONE = {"name": "tiny", "nf": 8}
ENCODERS = {
    "cnn": SMALL_CNN,
    "sequence": {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32, "num_tokens": 4},
    "sequence+vector": {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32, "num_tokens": 4, "vector": True},
    "clap": {"name": "clap", "dim": 16},
    "panns": {"name": "panns", "dim": 16, "window_seconds": 0.75},
}


def _model(encoder, injection: str = "add", seed: int = 0, **model) -> ScoreModel:
    torch.manual_seed(seed)
    cfg = from_dict(ModelConfig, {"backbone": BACKBONE, "encoder": encoder,
                                  "conditioning": {"injection": injection}, **model})
    return ScoreModel(cfg).eval()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained-looking unconditioned model: every weight random, none at its zero initialisation."""
    model = randomize_(_model("none"), seed=5)
    return model, save_model(model, tmp_path_factory.mktemp("src") / "uncond")


def _state(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x, y = (0.3 * torch.randn(2, 1, 256, 24, dtype=torch.complex64, generator=gen) for _ in range(2))
    return x, torch.tensor([0.1, 0.7]), y, 0.1 * torch.randn(2, 16000, generator=gen)


@torch.no_grad()
@pytest.mark.parametrize("encoder,injection", [*((e, i) for i in ("add", "film") for e in ENCODERS),
                                               ("profile", "profile")])
def test_step_zero_reproduces_the_source_score_exactly(source, encoder, injection):
    uncond, directory = source
    model = _model(ENCODERS.get(encoder, encoder), injection)
    started = warm_start(model, directory)
    assert started.copied == len(uncond.state_dict()) and started.new
    assert all(k.startswith(("encoder.", "null.")) or "film" in k or "xattn" in k or "cond_embed" in k
               or "profile_in" in k for k in started.new)
    x, t, y, ref = _state()
    cond = model.encode(ref)
    expected = uncond.score(x, t, y)
    assert torch.equal(model.score(x, t, y, cond), expected)
    assert torch.equal(Guidance(model, cond, 3.0).score(x, t, y), expected)  # both branches equal it


@torch.no_grad()
def test_the_new_model_is_a_real_conditioned_model_once_its_conditioning_moves(source):
    """The exactness is not a dead conditioning path: with its zero layers given values, the reference matters."""
    _, directory = source
    model = _model(SMALL_CNN)
    warm_start(model, directory)
    for name, param in model.named_parameters():
        if "cond_embed" in name:
            param.normal_(0, 0.05)
    x, t, y, ref = _state()
    assert not torch.allclose(model.score(x, t, y, model.encode(ref)), model.score(x, t, y, model.encode(2 * ref)))


@torch.no_grad()
def test_the_profile_path_is_live_once_its_zero_convolution_moves(source):
    _, directory = source
    model = _model("profile", "profile")
    warm_start(model, directory)
    model.backbone.profile_in.weight.normal_(0, 0.05)
    x, t, y, ref = _state()
    assert not torch.allclose(model.score(x, t, y, model.encode(ref)), model.score(x, t, y, model.encode(2 * ref)))


@pytest.mark.parametrize("change,named", [({"backbone": {**BACKBONE, "nf": 16}}, "model.backbone.nf"),
                                          ({"sde": "sbve", "loss": "data_prediction"}, "model.loss"),
                                          ({"stft": {"n_fft": 510, "hop_length": 64}}, "model.stft.hop_length")])
def test_a_source_of_another_layout_is_refused_by_name(source, change, named):
    _, directory = source
    with pytest.raises(WarmStartError, match=named.replace(".", r"\.")):
        warm_start(_model(SMALL_CNN, **change), directory)


def test_removing_conditioning_is_refused(tmp_path):
    conditioned = save_model(_model(SMALL_CNN), tmp_path / "cond")
    with pytest.raises(WarmStartError, match="has weights the new model lacks"):
        warm_start(_model("none"), conditioned)


def test_a_source_with_corrupted_weights_or_an_edited_config_is_refused_as_at_any_load(tmp_path):
    uncond = _model("none")
    state = uncond.state_dict()
    directory = save_model(uncond, tmp_path / "src")
    save_weights({**state, "backbone.output_layer.weight": torch.full_like(state["backbone.output_layer.weight"],
                                                                           float("inf"))}, directory / WEIGHTS_FILE)
    with pytest.raises(ModelDirError, match="corrupted weights \\(backbone.output_layer.weight holds NaN or inf"):
        warm_start(_model(SMALL_CNN), directory)
    save_model(uncond, directory)
    config = directory / "config.yaml"
    config.write_text(config.read_text().replace("sample_rate: 16000", "sample_rate: 8000"))
    with pytest.raises(ModelDirError, match="model.sample_rate was 16000 when the weights were saved, now 8000"):
        warm_start(_model(SMALL_CNN, sample_rate=8000), directory)
