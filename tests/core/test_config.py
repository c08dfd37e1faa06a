"""Strict configs and registries: unknown keys and names are errors that say where and what exists."""

import os
import stat
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ncse_cli.audio import save_audio
from ncse_cli.config import ConfigError, dotted, from_dict, load_yaml, merge, save_yaml, to_dict
from ncse_cli.encoders import ENCODERS
from ncse_cli.model import ModelConfig
from ncse_cli.model_dir import save_weights
from ncse_cli.registry import Registry, UnknownComponentError


def test_registry_lists_known_names():
    reg = Registry("widget")

    @reg.register("a")
    class A:
        @dataclass(frozen=True)
        class Config:
            x: int = 1

    assert reg.get("a") is A and A.name == "a" and A.Config.component == "a" and reg.names() == ["a"]
    with pytest.raises(UnknownComponentError, match="unknown widget 'b'; registered: a"):
        reg.get("b")
    with pytest.raises(ValueError):
        reg.register("a")(A)


def test_unknown_keys_are_rejected_with_their_path():
    with pytest.raises(ConfigError, match=r"unknown key in model.encoder: chanels"):
        from_dict(ModelConfig, {"encoder": {"name": "cnn", "chanels": [1]}}, "model")
    with pytest.raises(ConfigError, match="unknown noise encoder 'clip'"):
        from_dict(ModelConfig, {"encoder": "clip"})
    with pytest.raises(ConfigError, match="conditioning.injection: 'concat' is not one of"):
        from_dict(ModelConfig, {"conditioning": {"injection": "concat"}})
    with pytest.raises(ConfigError, match="sample_rate: expected int"):
        from_dict(ModelConfig, {"sample_rate": "fast"})
    with pytest.raises(ConfigError, match="model.conditioning: key None is not a name"):
        from_dict(ModelConfig, {"conditioning": {None: "zeros"}}, "model")


def test_components_resolve_by_name_with_overrides_and_round_trip():
    cfg = from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8}, "encoder": "none"})
    assert cfg.backbone.component == "tiny" and cfg.backbone.nf == 8 and cfg.backbone.ch_mult == (1, 2, 2, 4, 4)
    assert cfg.encoder.component == "none"
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg
    assert sorted(ENCODERS.names())[:2] == sorted(n for n in ENCODERS.names())[:2]


def test_merge_and_dotted_overrides():
    base = {"model": {"encoder": {"name": "cnn", "dim": 64}}, "train": {"lr": 1e-4, "steps": 10}}
    flags = dotted({"train.lr": 3e-4, "train.steps": None, "model.encoder.dim": 32})
    merged = merge(base, flags)
    assert merged == {"model": {"encoder": {"name": "cnn", "dim": 32}}, "train": {"lr": 3e-4, "steps": 10}}
    # choosing another component replaces its options instead of merging foreign keys into it
    assert merge(base, {"model": {"encoder": {"name": "none"}}})["model"]["encoder"] == {"name": "none"}


def test_yaml_round_trip_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    save_yaml(to_dict(ModelConfig()), path)
    assert from_dict(ModelConfig, load_yaml(path)) == ModelConfig()
    assert not list(tmp_path.glob(".*tmp"))
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"model:\n  name: \xff\xfe\x00\x89PNG\n")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a YAML text file \(byte 15 is not UTF-8\)"):
        load_yaml(tmp_path / "binary.yaml")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("write", [lambda path: save_yaml({"a": 1}, path),
                                   lambda path: save_audio(path, np.zeros(16, np.float32), 16000),
                                   lambda path: save_weights({"w": torch.zeros(2)}, path)],
                         ids=["yaml", "wav", "safetensors"])
def test_atomic_writes_follow_the_umask_not_mkstemps_0600(tmp_path, umask_022, write):
    path = tmp_path / "out" / "file"
    write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["file"]
