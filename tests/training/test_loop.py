"""The training loop end to end on tiny data: run directory, exact resume, refusals, precision, trackers."""

from __future__ import annotations

import dataclasses
import math
import os
import signal

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ncse_cli.model_dir import load_model
from ncse_cli.config import to_dict
from ncse_cli.data.config import DataConfig, DynamicMixingConfig
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.errors import NcseError
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.training import TrainingError, loop, read_train_log, train
from ncse_cli.training import session
from ncse_cli.training.session import loader_workers
from ncse_cli.training.state import list_checkpoints, read_state
from tests.dummies import TINY_MODEL, ProgressLog, assert_same_tensors, make_manifest
from tests.training.conftest import tiny_run_config


def with_train(cfg, **changes):
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """(config, run directory, progress reports) of one tiny 4-step run shared by the tests that only read it."""
    cfg = tiny_run_config(tiny_data)
    workspace = tmp_path_factory.mktemp("ws")
    progress = ProgressLog()
    run_dir = train(cfg, workspace, "m", progress=progress)
    assert run_dir == workspace / "models" / "m"
    return cfg, run_dir, progress


def test_a_run_is_a_loadable_model_directory(trained):
    cfg, run_dir, _ = trained
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == to_dict(cfg)
    assert [s for s, _ in list_checkpoints(run_dir)] == [2, 4]  # save_every 2, keep 2
    last = run_dir / "checkpoints" / "step-0000004"
    ema = {k.removeprefix("module."): v for k, v in load_file(last / "ema.safetensors").items() if k != "n_averaged"}
    assert_same_tensors(load_file(run_dir / "model.safetensors"), ema)  # the export is the EMA
    assert int(load_file(last / "ema.safetensors")["n_averaged"]) == 4
    model = load_model(run_dir)
    noisy = torch.randn(1, 2048) * 0.1
    out = enhance_waveforms(model, noisy, torch.randn(1, 800) * 0.1, sampler=PCConfig(steps=2)).waveform
    assert out.shape == noisy.shape and torch.isfinite(out).all()


def test_the_log_has_a_row_per_step_and_validation_at_its_interval(trained):
    rows = read_train_log(trained[1] / "train_log.csv")
    reports = trained[2].tasks["train"]  # one report before the first step, then one per step with its loss
    assert [(done, total) for done, total, _ in reports] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert [note for _, _, note in reports[1:]] == [f"loss {row['loss']:.4f}" for row in rows]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(r["loss"]) and r["lr"] == 1e-4 and r["grad_norm"] > 0 for r in rows)
    assert [math.isfinite(r["val_loss"]) for r in rows] == [False, True, False, True]
    assert all(math.isfinite(r["val_si_sdr"]) for r in rows if math.isfinite(r["val_loss"]))
    assert [r["seconds"] for r in rows] == sorted(r["seconds"] for r in rows)


@pytest.fixture
def frozen_encoder(monkeypatch):
    """Training builds models whose noise encoder does not train (``requires_grad`` off), as a frozen pre-trained
    tower does: its weights go to the checkpoints' ``frozen.safetensors``."""
    real = session.build_model

    def build(*args, **kwargs):
        model = real(*args, **kwargs)
        model.encoder.requires_grad_(False)
        return model
    monkeypatch.setattr(session, "build_model", build)


def test_resume_gives_exactly_the_uninterrupted_run(tiny_data, tmp_path, frozen_encoder):
    # 6 examples, batch 2, 2 micro-batches per step: 4 steps cross an epoch boundary mid-step
    cfg = tiny_run_config(tiny_data, steps=4, grad_accum=2, p_uncond=0.5, val_every=100)
    straight = train(cfg, tmp_path, "straight")
    train(with_train(cfg, steps=2), tmp_path, "resumed")
    resumed = train(cfg, tmp_path, "resumed", resume=True)
    for name in ("model.safetensors", "frozen.safetensors", "ema.safetensors", "optimizer.safetensors"):
        assert_same_tensors(load_file(straight / "checkpoints/step-0000004" / name),
                            load_file(resumed / "checkpoints/step-0000004" / name))
    frozen = [resumed / f"checkpoints/step-000000{step}/frozen.safetensors" for step in (2, 4)]
    assert os.path.samefile(*frozen)  # written once, linked by the checkpoint after the resume
    encoder = {f"encoder.{name}" for name, _ in load_model(resumed).encoder.named_parameters()}
    assert set(load_file(frozen[0])) == encoder and not encoder & set(load_file(resumed / "checkpoints/step-0000004"
                                                                                 / "model.safetensors"))
    state, _ = read_state(resumed / "checkpoints/step-0000004")
    assert (state.step, state.position.epoch, state.position.batch) == (4, 2, 2)  # 8 batches, 3 per epoch
    assert [r["step"] for r in read_train_log(resumed / "train_log.csv")] == [1, 2, 3, 4]


def test_resume_and_validation_leave_the_global_generator_of_training_alone(tiny_data, tmp_path):
    # dropout draws from the global generator, as a fine-tuned tower's SpecAugment does; data loaders created
    # on resume or for validation must not shift it (val_every may change on resume)
    model = {**TINY_MODEL, "backbone": {**TINY_MODEL["backbone"], "dropout": 0.3}}
    cfg = tiny_run_config(tiny_data, model=model, steps=4, val_every=100)
    straight = train(cfg, tmp_path, "straight")
    train(with_train(cfg, steps=2), tmp_path, "resumed")
    resumed = train(with_train(cfg, val_every=1), tmp_path, "resumed", resume=True)
    assert_same_tensors(load_file(straight / "checkpoints/step-0000004/model.safetensors"),
                        load_file(resumed / "checkpoints/step-0000004/model.safetensors"))


def test_existing_names_are_protected(tiny_cfg, tmp_path):
    tiny_cfg = with_train(tiny_cfg, steps=2)
    train(tiny_cfg, tmp_path, "m")
    with pytest.raises(TrainingError, match="already exists.*--resume.*--overwrite"):
        train(tiny_cfg, tmp_path, "m")
    with pytest.raises(TrainingError, match=r"different config \(train.lr: 0.0001 -> 0.001\)"):
        train(with_train(tiny_cfg, lr=1e-3, steps=6), tmp_path, "m", resume=True)
    with pytest.raises(TrainingError, match="already at step 2, beyond --steps 1"):
        train(with_train(tiny_cfg, steps=1), tmp_path, "m", resume=True)
    with pytest.raises(TrainingError, match="cannot resume 'other': no run at"):
        train(tiny_cfg, tmp_path, "other", resume=True)
    (tmp_path / "models" / "m" / "stale.txt").write_text("old run")
    run_dir = train(with_train(tiny_cfg, steps=1), tmp_path, "m", overwrite=True)
    assert not (run_dir / "stale.txt").exists() and read_train_log(run_dir / "train_log.csv")[-1]["step"] == 1


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path):
    make_manifest(tmp_path / "data", 4, seconds=0.5, name="train")
    (tmp_path / "data" / "train" / "clean" / "train_002.wav").unlink()
    cfg = tiny_run_config(tmp_path / "data")
    with pytest.raises(NcseError, match="train_002.wav"):
        train(cfg, tmp_path / "ws", "broken")
    assert not (tmp_path / "ws" / "models" / "broken").exists()


def test_too_little_data_for_one_batch_is_refused_before_writing(tiny_data, tmp_path):
    with pytest.raises(TrainingError, match="fewer than one batch"):
        train(tiny_run_config(tiny_data, batch_size=7), tmp_path, "m")
    assert not (tmp_path / "models").exists()


def test_bf16_mixed_precision_trains_on_the_cpu(tiny_data, tmp_path):
    cfg = tiny_run_config(tiny_data, steps=2, mixed_precision="bf16")
    rows = read_train_log(train(cfg, tmp_path, "bf16") / "train_log.csv")
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert next(load_model(tmp_path / "models" / "bf16").parameters()).dtype == torch.float32


def test_fp16_on_the_cpu_is_refused_before_writing(tiny_data, tmp_path):
    with pytest.raises(TrainingError, match="fp16 needs a GPU"):
        train(tiny_run_config(tiny_data, mixed_precision="fp16"), tmp_path, "fp16")
    assert not (tmp_path / "models").exists()


def test_tensorboard_tracker_writes_events(tiny_data, tmp_path):
    cfg = tiny_run_config(tiny_data, steps=2, trackers=("tensorboard",))
    run_dir = train(cfg, tmp_path, "tb")
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))


def test_dynamic_mixing_data_trains(tiny_data, tmp_path):
    data = DataConfig(train=str(tiny_data / "train.jsonl"), valid=str(tiny_data / "valid.jsonl"),
                      dynamic=DynamicMixingConfig())  # synthetic noise pool
    cfg = dataclasses.replace(tiny_run_config(tiny_data, steps=2), data=data)
    rows = read_train_log(train(cfg, tmp_path, "dyn") / "train_log.csv")
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    real_step = loop.train_step

    def step_then_interrupt(session, stream):
        result = real_step(session, stream)
        if session.step == 0:  # the first step: Ctrl-C arrives while it runs
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(loop, "train_step", step_then_interrupt)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a shell's background job
    with pytest.raises(TrainingError, match="interrupted at step 1; checkpoint saved, continue with --name m --resume"):
        train(with_train(tiny_cfg, save_every=100), tmp_path, "m")
    run_dir = tmp_path / "models" / "m"
    assert [s for s, _ in list_checkpoints(run_dir)] == [0, 1]  # the run starts with a checkpoint of step 0
    assert [r["step"] for r in read_train_log(run_dir / "train_log.csv")] == [1]
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


def test_the_window_finds_the_first_non_finite_gradient_without_reading_back_every_step(monkeypatch):
    window = loop.Window()

    def read(*args, **kwargs):
        raise AssertionError("tensor read on the host")

    with monkeypatch.context() as patch:  # on a GPU each read would stall the step
        for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist"):
            patch.setattr(torch.Tensor, name, read)
        for step, norm, skipped in [(1, 2.0, False), (2, math.inf, True), (3, 4.0, False), (4, math.nan, False),
                                    (5, math.inf, False)]:
            window.add(torch.tensor(1.0), torch.tensor(norm), step, skipped)
    assert window.count == 5 and window.norms == 4  # the norm of the step fp16 loss scaling skipped is left out
    with pytest.raises(TrainingError, match="the gradient became nan at step 4; lower --lr"):
        window.check()
    window = loop.Window()
    window.add(torch.tensor(1.0), torch.tensor(2.0), 1)
    window.check()


def test_a_non_finite_gradient_stops_the_run_before_it_is_logged_or_saved(tiny_cfg, tmp_path, monkeypatch):
    real_step = loop.train_step

    def nan_at_step_one(session, stream):
        loss, norm = real_step(session, stream)
        return loss, torch.full_like(norm, math.nan) if session.step == 0 else norm

    monkeypatch.setattr(loop, "train_step", nan_at_step_one)
    with pytest.raises(TrainingError, match="the gradient became nan at step 1"):
        train(with_train(tiny_cfg, log_every=2), tmp_path, "m")
    assert not (tmp_path / "models" / "m").exists()  # no checkpoint, so nothing is left


def test_loader_workers_are_capped_at_the_cpus_available(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert [loader_workers(n) for n in (0, 1, 2, 4)] == [0, 1, 2, 2]
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert loader_workers(4) == 3
