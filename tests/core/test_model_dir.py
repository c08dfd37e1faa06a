"""Model directories: safetensors + YAML round trips, and refusal of anything else."""

import pickle

import pytest
import torch

from ncse_cli.config import load_yaml
from ncse_cli.model_dir import ModelDirError, load_model, save_model

from tests.dummies import assert_same_tensors, tiny_model


@pytest.mark.parametrize("kwargs", [{}, {"injection": "film", "null": "learned"}, {"encoder": "none"}])
def test_save_and_load_round_trip(tmp_path, kwargs):
    model = tiny_model(seed=3, **kwargs)
    save_model(model, tmp_path / "m", config={"train": {"steps": 5}})
    loaded = load_model(tmp_path / "m")
    assert loaded.cfg == model.cfg and not loaded.training
    assert_same_tensors(model.state_dict(), loaded.state_dict())
    assert load_yaml(tmp_path / "m" / "config.yaml")["train"] == {"steps": 5}


def test_loading_refuses_pickles_and_mismatched_weights(tmp_path):
    model = tiny_model()
    save_model(model, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(pickle.dumps({"evil": 1}))
    with pytest.raises(ModelDirError, match="safetensors"):
        load_model(tmp_path / "m")
    save_model(tiny_model(encoder="none"), tmp_path / "other")
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(ModelDirError, match="do not match"):
        load_model(tmp_path / "m")


def test_missing_directory_and_bad_config(tmp_path):
    with pytest.raises(ModelDirError, match="not a model directory"):
        load_model(tmp_path)
    (tmp_path / "config.yaml").write_text("model:\n  backbone: {name: huge}\n")
    with pytest.raises(ModelDirError, match="unknown backbone 'huge'"):
        load_model(tmp_path)
