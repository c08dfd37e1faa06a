"""``ncse train`` through the Typer app and as two data-parallel CPU processes under ``accelerate launch``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from ncse_cli.model_dir import load_model
from ncse_cli.cli import app
from ncse_cli.config import from_dict
from ncse_cli.encoders import ENCODERS
from ncse_cli.training import RunConfig, TrainingError, read_train_log, run_config_for, train
from ncse_cli.training.state import list_checkpoints, read_state
from tests.dummies import TINY_MODEL, make_manifest
from tests.training.conftest import TINY_TRAIN

runner = CliRunner()
RECIPES = Path(__file__).parents[2] / "recipes"
TINY_FLAGS = ["--backbone", "tiny", "--encoder", "cnn", "--steps", "2", "--batch-size", "2", "--crop-frames", "16",
              "--num-workers", "0", "--no-progress"]


@pytest.fixture
def tiny_recipe(tmp_path) -> Path:
    """The tiny model and schedule of the loop tests as a recipe file."""
    path = tmp_path / "tiny_test.yaml"
    path.write_text(yaml.safe_dump({"model": TINY_MODEL, "train": {**TINY_TRAIN, "steps": 2}}))
    return path


def invoke(*args: str):
    return runner.invoke(app, ["train", *map(str, args)], env={"COLUMNS": "200"})


def test_help_explains_every_option():
    result = invoke("--help")
    assert result.exit_code == 0
    for option in ("--data", "--recipe", "--encoder", "--p-uncond", "--backbone", "--injection", "--steps",
                   "--batch-size", "--lr", "--mixed-precision", "--resume", "--seed", "--workdir", "--dry-run",
                   "--tracker", "--overwrite", "--clap-ckpt", "--panns-ckpt", "--finetune-encoder", "--encoder-lr",
                   "--save-every"):
        assert option in result.output


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tiny_data, tmp_path):
    result = invoke("--recipe", RECIPES / "tiny.yaml", "--data", tiny_data, "--p-uncond", "0.3", "--steps", "7",
                    "--workdir", tmp_path, "--name", "m", "--dry-run")
    assert result.exit_code == 0, result.output
    cfg = from_dict(RunConfig, yaml.safe_load(result.output))
    assert (cfg.train.p_uncond, cfg.train.steps, cfg.train.crop_frames) == (0.3, 7, 64)  # flags over recipe
    assert cfg.data.train == str(tiny_data / "train.jsonl") and cfg.data.valid == str(tiny_data / "valid.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_dry_run_refuses_a_name_a_run_would_refuse(tiny_data, tmp_path):
    result = invoke("--data", tiny_data, "--workdir", tmp_path, "--name", "../elsewhere", "--dry-run")
    assert result.exit_code == 1 and "invalid model name '../elsewhere'" in result.output


@pytest.mark.skipif("clap" not in ENCODERS, reason="the clap encoder is not registered")
def test_the_users_clap_example_parses(tiny_data):
    result = invoke("--encoder", "clap", "--p-uncond", "0.2", "--data", tiny_data, "--dry-run")
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output)
    assert cfg["model"]["encoder"]["name"] == "clap" and cfg["train"]["p_uncond"] == 0.2


@pytest.mark.parametrize("args, message", [
    (["--encoder", "nope"], "unknown noise encoder 'nope'"),
    (["--backbone", "huge"], "unknown backbone 'huge'"),
    (["--injection", "concat"], "'concat' is not one of 'add', 'film'"),
    (["--data", "missing/train.jsonl"], "missing/train.jsonl: no such manifest"),
    (["--recipe", "missing.yaml"], "missing.yaml: no such file"),
    (["--freeze-encoder"], "--freeze-encoder/--finetune-encoder does not apply to encoder cnn"),
    (["--clap-ckpt", "x.pt"], "--clap-ckpt does not apply to encoder cnn"),
    (["--mixed-precision", "fp16"], "fp16 needs a GPU"),
    (["--resume"], "cannot resume 'm': no run at"),
])
def test_bad_input_is_one_red_line_and_nothing_written(args, message, tiny_data, tmp_path):
    result = invoke("--data", tiny_data, "--name", "m", "--workdir", tmp_path / "ws", *TINY_FLAGS, *args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "ws" / "models").exists()


def test_a_name_is_required_and_validated(tiny_data, tmp_path):
    result = invoke("--data", tiny_data, "--workdir", tmp_path, *TINY_FLAGS)
    assert result.exit_code == 1 and "name the model to train: --name NAME" in result.output
    result = invoke("--data", tiny_data, "--workdir", tmp_path, "--name", "a/b", *TINY_FLAGS)
    assert result.exit_code == 1 and "invalid model name 'a/b'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_malformed_manifest_and_recipe_keys(tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"id": "a"}\n')
    result = invoke("--data", bad, "--name", "m", "--workdir", tmp_path / "ws", *TINY_FLAGS)
    assert result.exit_code == 1 and "train.jsonl:1: missing fields" in result.output
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  lr: 1e-4\n  warmup: 10\n")
    result = invoke("--recipe", recipe, "--dry-run")
    assert result.exit_code == 1 and "r.yaml: unknown key in train: warmup" in result.output
    assert not (tmp_path / "ws").exists()


def test_train_then_refuse_then_resume_from_the_command_line(tiny_data, tiny_recipe, tmp_path):
    common = ["--recipe", tiny_recipe, "--data", tiny_data, "--name", "m", "--workdir", tmp_path, "--no-progress"]
    first = invoke(*common, "--save-every", "1")
    assert first.exit_code == 0, first.output
    assert "Trained m" in first.output and "validation SI-SDR" in first.output
    assert [s for s, _ in list_checkpoints(tmp_path / "models" / "m")] == [1, 2]  # the recipe says every 2, keep 2
    again = invoke(*common)
    assert again.exit_code == 1 and "already exists" in again.output
    longer = invoke("--name", "m", "--workdir", tmp_path, "--resume", "--steps", "3", "--no-progress")
    assert longer.exit_code == 0, longer.output
    assert [r["step"] for r in read_train_log(tmp_path / "models" / "m" / "train_log.csv")][-1] == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                    reason="the accelerate launcher is not installed beside this interpreter")
def test_two_cpu_processes_train_data_parallel(tmp_path):
    make_manifest(tmp_path / "data", 8, seconds=0.5, name="train")
    # a learned null condition that p_uncond 0 never uses: DDP must not wait for its gradient
    model = {**TINY_MODEL, "conditioning": {"null": "learned"}}
    tiny_recipe = tmp_path / "ddp.yaml"
    tiny_recipe.write_text(yaml.safe_dump({"model": model, "train": {**TINY_TRAIN, "p_uncond": 0.0}}))
    launcher = str(Path(sys.executable).parent / "accelerate")
    command = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", "ncse_cli", "train", "--data", tmp_path / "data" / "train.jsonl", "--name", "ddp",
               "--workdir", tmp_path / "ws", "--recipe", tiny_recipe, "--steps", "3", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "ws" / "models" / "ddp"
    ckpt = run_dir / "checkpoints" / "step-0000003"
    state, _ = read_state(ckpt)
    # 8 examples, 2 per process and batch, 2 processes: 2 batches per epoch per process
    assert (state.num_processes, state.step, state.position.epoch, state.position.batch) == (2, 3, 1, 1)
    assert all((ckpt / f"rng-{rank}.{ext}").is_file() for rank in (0, 1) for ext in ("json", "safetensors"))
    assert int(load_file(ckpt / "ema.safetensors")["n_averaged"]) == 3
    assert [r["step"] for r in read_train_log(run_dir / "train_log.csv")] == [1, 2, 3]
    assert done.stdout.count("Trained ddp") == 1  # only the main process reports
    load_model(run_dir)
    with pytest.raises(TrainingError, match="written by 2 process"):
        cfg = run_config_for(tmp_path / "ws", "ddp", resume=True, overrides={"train": {"steps": 4}})
        train(cfg, tmp_path / "ws", "ddp", resume=True)
