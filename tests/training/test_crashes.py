"""Crash consistency of training: a run killed at any point resumes to the uninterrupted run's exact end.

A kill -9 is emulated in-process: the call at the crash point raises :class:`Killed`, and the clean-up a failing
run does (removing a run that has nothing to resume) is switched off, because a killed process runs none.
``benchmarks/drill_kill9.py`` does the same with real SIGKILLs at random moments.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from types import SimpleNamespace

import pytest
import torch
from filelock import FileLock
from safetensors.torch import load_file

from ncse_cli import model_dir
from ncse_cli.catalog import trained_steps
from ncse_cli.model_dir import save_weights
from ncse_cli.training import TrainingError, checkpoints, loop, read_train_log, rundir, train
from ncse_cli.training.state import checkpoint_dir, list_checkpoints
from tests.dummies import make_model_dir
from tests.training.conftest import tiny_run_config

STEPS = 3


class Killed(BaseException):
    """Stands for the SIGKILL: no ``except Exception`` stops it."""


def crash_config(tiny_data, **train):
    """A checkpoint after every step, short crops, no validation: the cheapest run with several checkpoints."""
    return tiny_run_config(tiny_data, **{"steps": STEPS, "save_every": 1, "crop_frames": 16, "val_items": 0,
                                         "val_utterances": 0, **train})


@pytest.fixture(scope="module")
def straight(tiny_data, tmp_path_factory):
    """The uninterrupted run."""
    return train(crash_config(tiny_data), tmp_path_factory.mktemp("ws"), "m")


@contextlib.contextmanager
def killed_at(monkeypatch, module, name: str, call: int):
    """Kill the process at the ``call``-th call (from 1) of ``module.name``; nothing cleans up after it."""
    real, calls = getattr(module, name), []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Killed
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(module, name, crash)
        patch.setattr(loop, "discard_dir", lambda path: None)
        patch.setattr(rundir, "discard_dir", lambda path: None)
        patch.setattr(rundir, "shutil", SimpleNamespace(rmtree=lambda *args, **kwargs: None))
        with pytest.raises(Killed):
            yield
    assert len(calls) >= call, f"{name} was called only {len(calls)} times"


def assert_same_end(straight, run_dir) -> None:
    """Same exported weights, same final checkpoint, same logged losses."""
    last = f"checkpoints/step-{STEPS:07d}"
    for name in ("model.safetensors", f"{last}/model.safetensors", f"{last}/ema.safetensors",
                 f"{last}/optimizer.safetensors", f"{last}/frozen.safetensors"):
        if name.endswith("frozen.safetensors") and not (straight / name).exists():  # a model that trains all
            assert not (run_dir / name).exists()
            continue
        a, b = load_file(straight / name), load_file(run_dir / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    losses = [[r["step"], r["loss"]] for r in read_train_log(straight / "train_log.csv")]
    assert [[r["step"], r["loss"]] for r in read_train_log(run_dir / "train_log.csv")] == losses


def test_killed_while_writing_the_first_checkpoint_leaves_no_run_and_a_plain_rerun_works(
        straight, tiny_data, tmp_path, monkeypatch):
    cfg = crash_config(tiny_data)
    with killed_at(monkeypatch, model_dir, "safetensors_bytes", call=2):  # the step-0 checkpoint's weights
        train(cfg, tmp_path, "m")
    assert not (tmp_path / "models" / "m").exists()  # the half-written start is hidden (.new-m)
    with pytest.raises(TrainingError, match="no run at"):
        train(cfg, tmp_path, "m", resume=True)
    assert_same_end(straight, train(cfg, tmp_path, "m"))
    assert sorted(os.listdir(tmp_path / "models")) == [".m.lock", "m"]  # the leftover is gone


def test_killed_before_the_first_checkpoint_resumes_from_step_zero(straight, tiny_data, tmp_path, monkeypatch):
    cfg = crash_config(tiny_data)
    with killed_at(monkeypatch, loop, "train_step", call=1):
        train(cfg, tmp_path, "m")
    run_dir = tmp_path / "models" / "m"
    assert [step for step, _ in list_checkpoints(run_dir)] == [0] and not (run_dir / "model.safetensors").exists()
    with pytest.raises(TrainingError, match="already exists.*--resume"):
        train(cfg, tmp_path, "m")
    assert_same_end(straight, train(cfg, tmp_path, "m", resume=True))


def test_a_warm_started_run_killed_before_its_first_step_resumes_from_the_warm_started_weights(
        tiny_data, tmp_path, monkeypatch):
    source = make_model_dir(tmp_path / "source", encoder="none", seed=3)
    cfg = crash_config(tiny_data, init_from=str(source))
    straight = train(cfg, tmp_path / "a", "m")
    with killed_at(monkeypatch, loop, "train_step", call=1):
        train(cfg, tmp_path / "b", "m")
    run_dir = tmp_path / "b" / "models" / "m"
    step0, shared = load_file(checkpoint_dir(run_dir, 0) / "model.safetensors"), load_file(source / "model.safetensors")
    assert all(torch.equal(step0[k], v) for k, v in shared.items())  # the checkpoint of step 0 is the warm start
    assert_same_end(straight, train(cfg, tmp_path / "b", "m", resume=True))


def test_killed_inside_a_checkpoint_write_resumes_from_the_one_before(straight, tiny_data, tmp_path, monkeypatch):
    cfg = crash_config(tiny_data)
    # writes per checkpoint: rng, model, ema, optimizer (+ the export after step 0): call 8 is step 1's optimizer
    with killed_at(monkeypatch, model_dir, "safetensors_bytes", call=8):
        train(cfg, tmp_path, "m")
    run_dir = tmp_path / "models" / "m"
    assert [step for step, _ in list_checkpoints(run_dir)] == [0]
    assert (run_dir / "checkpoints" / ".tmp-step-0000001").is_dir()
    assert_same_end(straight, train(cfg, tmp_path, "m", resume=True))
    assert not (run_dir / "checkpoints" / ".tmp-step-0000001").exists()


def test_killed_between_the_last_export_and_its_checkpoint_leaves_the_final_weights(
        straight, tiny_data, tmp_path, monkeypatch):
    cfg = crash_config(tiny_data)
    with killed_at(monkeypatch, checkpoints, "commit_checkpoint", call=STEPS):  # the commit of the last step
        train(cfg, tmp_path, "m")
    run_dir = tmp_path / "models" / "m"
    assert list_checkpoints(run_dir)[-1][0] == STEPS - 1
    a, b = load_file(straight / "model.safetensors"), load_file(run_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # not stale: already the final weights
    assert trained_steps(run_dir) == STEPS
    assert_same_end(straight, train(cfg, tmp_path, "m", resume=True))


def test_resuming_a_finished_run_repairs_an_export_older_than_its_checkpoint(straight, tiny_data, tmp_path):
    # what a crash between the checkpoint and the export left before the export came first
    run_dir = tmp_path / "models" / "m"
    shutil.copytree(straight, run_dir)
    older = load_file(straight / f"checkpoints/step-{STEPS - 1:07d}/ema.safetensors")
    save_weights({k.removeprefix("module."): v for k, v in older.items() if k != "n_averaged"},
                 run_dir / "model.safetensors")
    train(crash_config(tiny_data), tmp_path, "m", resume=True)  # "nothing to do"
    a, b = load_file(straight / "model.safetensors"), load_file(run_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a) and trained_steps(run_dir) == STEPS


def test_a_model_being_trained_cannot_be_trained_by_a_second_process(tiny_data, tmp_path):
    (tmp_path / "models").mkdir()
    with FileLock(str(tmp_path / "models" / ".m.lock")):  # another process holds it
        for overwrite in (False, True):
            with pytest.raises(TrainingError, match="'m' is being trained by another process"):
                train(crash_config(tiny_data), tmp_path, "m", overwrite=overwrite)
    assert os.listdir(tmp_path / "models") == [".m.lock"]
