"""Shared fixtures of the training tests: a tiny static corpus and tiny run configs on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ncse_cli.data.config import data_config_from_path
from ncse_cli.training import RunConfig, resolve_run_config
from tests.dummies import TINY_MODEL, make_manifest

#: A training schedule for :data:`tests.dummies.TINY_MODEL` that takes well under a second per step on one CPU
#: core. Crops of 48 frames (0.38 s): validation's leading crops reach past the synthetic talkers' leading silence (up to 0.24 s).
TINY_TRAIN = {"steps": 4, "batch_size": 2, "crop_frames": 48, "num_workers": 0, "log_every": 1, "val_every": 2,
              "save_every": 2, "val_items": 2, "val_utterances": 1, "val_steps": 1, "keep_checkpoints": 2}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """``train.jsonl`` (6 mixtures) and ``valid.jsonl`` (2) of half-second synthetic speech in pink noise."""
    root = tmp_path_factory.mktemp("tiny_data")
    make_manifest(root, 6, seconds=0.5, name="train", split="train")
    make_manifest(root, 2, seconds=0.5, name="valid", split="valid", seed=50)
    return root


def tiny_run_config(data_root: Path, model: dict | None = None, **train) -> RunConfig:
    """A tiny :class:`RunConfig` on ``data_root``; ``train`` overrides :data:`TINY_TRAIN`."""
    return resolve_run_config(overrides={"model": model or TINY_MODEL, "train": {**TINY_TRAIN, **train}},
                              data=data_config_from_path(data_root / "train.jsonl"))


@pytest.fixture
def tiny_cfg(tiny_data) -> RunConfig:
    return tiny_run_config(tiny_data)
