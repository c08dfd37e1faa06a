"""Checkpoint primitives: optimizer and RNG states survive safetensors + JSON exactly; listing, pruning and
deleting; the step of an export; frozen weights linked from the checkpoint before when they fit."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import torch
from torch import nn

from safetensors.torch import load_file

from ncse_cli.model_dir import save_weights
from ncse_cli.training import checkpoints, state
from ncse_cli.training.state import (FROZEN_FILE, STEP_KEY, DataPosition, TrainingState, checkpoint_dir, discard_dir,
                                     exported_step, flatten_optimizer_state, latest_checkpoint, list_checkpoints,
                                     prune_checkpoints, read_rng_state, read_state, unflatten_optimizer_state,
                                     write_rng_state, write_state)
from tests.dummies import assert_same_tensors


def stepped_adam() -> tuple[nn.Module, torch.optim.Adam]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    groups = [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 1e-3}]
    opt = torch.optim.Adam(groups, lr=1e-4, betas=(0.8, 0.99))
    for _ in range(3):
        model(torch.randn(5, 3)).square().sum().backward()
        opt.step()
        opt.zero_grad()
    return model, opt


def test_optimizer_state_round_trips_through_tensors_and_json():
    model, opt = stepped_adam()
    tensors, meta = flatten_optimizer_state(opt.state_dict())
    meta = json.loads(json.dumps(meta))  # what state.json holds
    assert all(k.startswith("state.") for k in tensors)
    fresh = torch.optim.Adam([{"params": model[0].parameters()}, {"params": model[1].parameters()}], lr=5.0)
    fresh.load_state_dict(unflatten_optimizer_state(tensors, meta))
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]  # lr, betas (a tuple again), eps, ...
    assert a["state"].keys() == b["state"].keys()
    for index, entry in a["state"].items():
        assert_same_tensors(entry, b["state"][index])


def test_rng_states_round_trip(tmp_path):
    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's legacy state
    write_rng_state(tmp_path, rank=0)
    expected = (torch.rand(4), random.random(), np.random.randn(3))
    torch.manual_seed(99), random.seed(99), np.random.seed(99)
    read_rng_state(tmp_path, rank=0)
    got = (torch.rand(4), random.random(), np.random.randn(3))
    assert torch.equal(expected[0], got[0]) and expected[1] == got[1] and np.array_equal(expected[2], got[2])


def test_state_json_round_trip(tmp_path):
    state = TrainingState(step=12, position=DataPosition(epoch=3, batch=1), num_processes=2, seconds=4.5)
    write_state(tmp_path, state, {"param_groups": [], "scalars": {}})
    assert read_state(tmp_path) == (state, {"param_groups": [], "scalars": {}})


def test_listing_ignores_temporary_dirs_and_pruning_keeps_the_newest(tmp_path):
    for step in (2, 10, 4):
        checkpoint_dir(tmp_path, step).mkdir(parents=True)
    (tmp_path / "checkpoints" / ".tmp-step-0000012").mkdir()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 10]
    assert latest_checkpoint(tmp_path) == checkpoint_dir(tmp_path, 10)
    prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 10]
    assert not (tmp_path / "checkpoints" / ".tmp-step-0000012").exists()
    assert latest_checkpoint(tmp_path / "nowhere") is None


def test_a_deleted_checkpoint_disappears_under_its_name_in_one_rename(tmp_path, monkeypatch):
    folder = checkpoint_dir(tmp_path, 3)
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{}")
    monkeypatch.setattr(state.shutil, "rmtree", lambda path, ignore_errors=False: None)  # killed while deleting
    discard_dir(folder)
    assert list_checkpoints(tmp_path) == [] and (tmp_path / "checkpoints" / ".tmp-step-0000003").is_dir()
    monkeypatch.undo()
    prune_checkpoints(tmp_path, keep=1)  # the next prune removes the leftover
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_the_exported_step_is_read_from_the_weights(tmp_path):
    assert exported_step(tmp_path) is None
    save_weights({"w": torch.zeros(1)}, tmp_path / "model.safetensors")
    assert exported_step(tmp_path) is None  # weights saved outside training
    save_weights({"w": torch.zeros(1)}, tmp_path / "model.safetensors", {STEP_KEY: "12"})
    assert exported_step(tmp_path) == 12


def test_frozen_weights_are_linked_when_they_fit_and_written_otherwise(tmp_path, monkeypatch):
    weights = {"tower.w": torch.randn(3, 4), "tower.n": torch.tensor(7)}
    first, second, third, fourth = (tmp_path / name for name in ("a", "b", "c", "d"))
    for folder in (first, second, third, fourth):
        folder.mkdir()
    checkpoints._write_frozen(weights, first, None)  # the first checkpoint of a run
    checkpoints._write_frozen(weights, second, first)
    assert os.path.samefile(first / FROZEN_FILE, second / FROZEN_FILE)
    other = {**weights, "tower.n": torch.tensor([7, 8])}  # another shape: not the previous file's tensors
    checkpoints._write_frozen(other, third, second)
    assert not os.path.samefile(second / FROZEN_FILE, third / FROZEN_FILE)
    assert_same_tensors(load_file(third / FROZEN_FILE), other)

    def no_links(*args):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(checkpoints.os, "link", no_links)  # a file system without hard links
    checkpoints._write_frozen(weights, fourth, first)
    assert not os.path.samefile(first / FROZEN_FILE, fourth / FROZEN_FILE)
    assert_same_tensors(load_file(fourth / FROZEN_FILE), weights)
