"""Model directories: safetensors + YAML round trips, and refusal of anything else."""

import json
import pickle
import re
from pathlib import Path

import pytest
import torch
import yaml

from ncse_cli.config import from_dict, load_yaml, save_yaml, to_dict
from ncse_cli.model import ModelConfig, build_model, upgrade_model_section
from ncse_cli.model_dir import (MODEL_CONFIG_KEY, ModelDirError, check_finite, load_model, save_model,
                                save_weights, weights_metadata)

from tests.dummies import assert_same_tensors, tiny_config, tiny_model


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
    with pytest.raises(ModelDirError, match=r"config.yaml: does not match model.safetensors \(model.encoder.name "
                                            r"was 'none' when the weights were saved, now 'cnn'\)"):
        load_model(tmp_path / "m")


def test_missing_directory_and_bad_config(tmp_path):
    with pytest.raises(ModelDirError, match="not a model directory"):
        load_model(tmp_path)
    (tmp_path / "config.yaml").write_text("model:\n  backbone: {name: huge}\n")
    with pytest.raises(ModelDirError, match="unknown backbone 'huge'"):
        load_model(tmp_path)


def test_a_config_edited_after_saving_is_refused_naming_the_key(tmp_path):
    save_model(tiny_model(), tmp_path / "m")
    config = tmp_path / "m" / "config.yaml"
    config.write_text(config.read_text().replace("sample_rate: 16000", "sample_rate: 8000"))
    with pytest.raises(ModelDirError, match=r"config.yaml: does not match model.safetensors \(model.sample_rate "
                                            r"was 16000 when the weights were saved, now 8000\); was it edited"):
        load_model(tmp_path / "m")


def test_weights_saved_without_their_config_load_as_before(tmp_path):
    model = tiny_model()
    save_model(model, tmp_path / "m")
    save_weights(model.state_dict(), tmp_path / "m" / "model.safetensors")  # as ncse before the stamp did
    assert MODEL_CONFIG_KEY not in weights_metadata(tmp_path / "m" / "model.safetensors")
    assert_same_tensors(model.state_dict(), load_model(tmp_path / "m").state_dict())


@pytest.mark.parametrize("stamped", [False, True], ids=["ncse 0.1", "stamped as written"])
def test_a_model_section_of_the_older_layout_loads_and_its_file_is_left_as_it_was(tmp_path, stamped):
    # ncse 0.1 wrote no version, and none of the settings whose defaults changed since
    section = {k: v for k, v in to_dict(tiny_config()).items() if k not in ("version", "pad_frames")}
    section["backbone"] = {k: v for k, v in section["backbone"].items()
                           if k not in ("embedding", "output_layer", "xattn_skip_rescale")}
    model = build_model(from_dict(ModelConfig, upgrade_model_section(section), "model")).eval()
    save_yaml({"model": section}, tmp_path / "config.yaml")
    stamp = {MODEL_CONFIG_KEY: json.dumps(section, sort_keys=True)} if stamped else None
    save_weights(model.state_dict(), tmp_path / "model.safetensors", stamp)
    written = (tmp_path / "config.yaml").read_bytes()
    loaded = load_model(tmp_path)
    assert loaded.cfg == model.cfg and loaded.cfg.pad_frames is None  # read with the settings it was trained with
    assert_same_tensors(model.state_dict(), loaded.state_dict())
    assert (tmp_path / "config.yaml").read_bytes() == written
    assert "version" not in yaml.safe_load(written)["model"]


def test_the_stamp_matches_the_written_config_for_every_kind_of_model(tmp_path):
    configs = [tiny_config(), tiny_config(encoder="none", injection="film", null="learned"),
               tiny_config(sde={"name": "sbve"}, loss="data_prediction", pad_frames=None)]
    for i, cfg in enumerate(configs):
        save_model(build_model(cfg), tmp_path / str(i))
        stamp = json.loads(weights_metadata(tmp_path / str(i) / "model.safetensors")[MODEL_CONFIG_KEY])
        assert stamp == load_yaml(tmp_path / str(i) / "config.yaml")["model"]
        assert load_model(tmp_path / str(i)).cfg == cfg


def test_sizes_that_do_not_match_give_one_line(tmp_path):
    save_model(tiny_model(), tmp_path / "m")
    wide = tiny_model(backbone={"name": "tiny", "nf": 16})
    save_weights(wide.state_dict(), tmp_path / "m" / "model.safetensors")  # no stamp: torch finds the sizes
    with pytest.raises(ModelDirError) as caught:
        load_model(tmp_path / "m")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'm' / 'model.safetensors'}: weights do not "
                                                      f"match {tmp_path / 'm' / 'config.yaml'} (size mismatch for ")
    assert re.search(r"; \d+ more\)$", message)


def test_non_finite_weights_are_refused_at_load_naming_the_file_and_tensor(tmp_path):
    model = tiny_model()
    save_model(model, tmp_path / "m")
    state = model.state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].clone().fill_(float("nan"))
    save_weights(state, tmp_path / "m" / "model.safetensors")
    with pytest.raises(ModelDirError, match=f"model.safetensors: corrupted weights \\({re.escape(name)} holds NaN"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("values,finite", [([1.0, float("inf")], False), ([float("inf"), float("-inf")], False),
                                           ([0.0, float("nan")], False), ([3e38, 3e38], True), ([1.0, -2.0], True)])
def test_the_finite_check_takes_one_bad_element_and_lets_an_overflowing_sum_of_finite_ones_pass(values, finite):
    for dtype in (torch.float32, torch.bfloat16, torch.complex64):
        state = {"ok": torch.zeros(4), "w": torch.tensor(values).to(dtype)}
        if finite:
            check_finite(state, Path("m.safetensors"))
        else:
            with pytest.raises(ModelDirError, match=r"m.safetensors: corrupted weights \(w holds NaN or infinite"):
                check_finite(state, Path("m.safetensors"))


def test_the_metadata_is_read_alike_from_the_file_and_from_its_bytes(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights({"w": torch.zeros(3)}, path, {"ncse_step": "7"})
    assert weights_metadata(path)["ncse_step"] == "7" and weights_metadata(path) == weights_metadata(path.read_bytes())
    path.write_bytes(b"\x05\x00")
    with pytest.raises(ModelDirError, match="w.safetensors: not a readable safetensors file"):
        weights_metadata(path)
