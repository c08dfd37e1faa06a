"""Both pre-trained encoders through the command line: ``ncse train`` (2 steps) with an official-layout checkpoint,
PANNs given by path and CLAP downloaded into the default place by ``--download-weights``; then, the file gone,
PANNs' run restored from its checkpoint, and ``ncse enhance`` and ``ncse evaluate`` at w = 3 of CLAP's run from its
directory alone; and the one-line errors of a missing checkpoint and of a download not asked for, which leave no
run behind."""

import os
import shutil

import pytest
import torch
import yaml
from safetensors import safe_open
from typer.testing import CliRunner

from ncse_cli.cli import app
from ncse_cli.data.manifest import read_manifest
from ncse_cli.model_dir import load_model
from tests.dummies import TINY_MODEL, make_manifest, read_wav

pytestmark = pytest.mark.usefixtures("isolated_weights")

runner = CliRunner()
TRAIN = {"batch_size": 2, "crop_frames": 16, "num_workers": 0, "log_every": 1, "val_every": 2, "save_every": 2,
         "val_items": 2, "val_utterances": 1, "val_steps": 1}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Training, validation and test manifests of half-second mixtures with 0.25 s noise references."""
    root = tmp_path_factory.mktemp("corpus")
    make_manifest(root, 4, seconds=0.5, name="train", split="train")
    make_manifest(root, 2, seconds=0.5, name="valid", split="valid", seed=50)
    make_manifest(root, 1, seconds=0.5, name="test", split="test", seed=90)
    return root


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _recipe(tmp_path) -> str:
    """The tiny backbone and a 2-step schedule with a small validation."""
    path = tmp_path / "recipe.yaml"
    model = {key: TINY_MODEL[key] for key in ("backbone", "stft")}  # the encoder comes from the command line
    path.write_text(yaml.safe_dump({"model": model, "train": TRAIN}))
    return str(path)


CLAP_URL = "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-best.pt"


@pytest.fixture
def downloads(monkeypatch, clap_ckpt) -> list[str]:
    """The URLs asked of ``torch.hub.download_url_to_file``, which stands in for the network: it writes the
    official file (random weights)."""
    calls = []

    def fake_download(url, dst, progress=True):
        calls.append(url)
        assert os.environ.get("NCSE_ALLOW_DOWNLOAD") is None  # the flag reaches the library as an argument
        shutil.copyfile(clap_ckpt[0], dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    return calls


def _train(corpus, tmp_path, encoder: str, *flags) -> dict:
    """``ncse train`` (2 steps, p_uncond 0.2) with a frozen pre-trained tower, whose weights the checkpoints hold
    apart (not with the trained weights, nor again in the EMA) and once: the second checkpoint links the first's
    file; returns the saved config's ``model`` section."""
    ws = tmp_path / "ws"
    result = invoke("train", "--recipe", _recipe(tmp_path), "--data", corpus, "--encoder", encoder, *flags,
                    "--p-uncond", "0.2", "--steps", "2", "--workdir", ws, "--name", "m", "--no-progress")
    assert result.exit_code == 0, result.output
    checkpoints = ws / "models" / "m" / "checkpoints"
    tower = {f"encoder.tower.{name}" for name, _ in load_model(ws / "models" / "m").encoder.tower.named_parameters()}
    keys = {name: set(safe_open(checkpoints / "step-0000002" / f"{name}.safetensors", "pt").keys())
            for name in ("model", "ema", "frozen")}
    assert keys["frozen"] == tower and not tower & (keys["model"] | {k.removeprefix("module.") for k in keys["ema"]})
    assert os.path.samefile(checkpoints / "step-0000000" / "frozen.safetensors",
                            checkpoints / "step-0000002" / "frozen.safetensors")
    saved = yaml.safe_load((ws / "models" / "m" / "config.yaml").read_text())["model"]
    assert saved["encoder"]["name"] == encoder and saved["encoder"]["freeze"] is True
    return saved


@pytest.mark.slow
def test_a_downloaded_clap_tower_trains_then_the_run_alone_enhances_and_evaluates(corpus, tmp_path, clap_ckpt,
                                                                                  downloads):
    saved = _train(corpus, tmp_path, "clap", "--download-weights")
    local = tmp_path / "ncse-cache" / "clap" / clap_ckpt[0].name  # the default place (isolated_weights)
    assert downloads == [CLAP_URL] and local.stat().st_size == clap_ckpt[0].stat().st_size
    assert saved["encoder"]["ckpt"] is None  # found at the default place, as on the machine that loads it next

    local.unlink()  # the run directory alone must do from here on
    ws, out = tmp_path / "ws", tmp_path / "enhanced"
    result = invoke("enhance", "--model", "m", "--input", corpus / "test.jsonl", "--out", out, "-w", "3",
                    "--steps", "1", "--workdir", ws, "--no-progress")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(corpus / "test.jsonl")
    for row in manifest:
        assert read_wav(out / f"{row.id}.wav").shape == read_wav(manifest.resolve(row.noisy)).shape

    result = invoke("evaluate", "--model", "m", "--testset", corpus / "test.jsonl", "-w", "3",
                    "--steps", "1", "--workdir", ws, "--no-progress", "--no-dnsmos")
    assert result.exit_code == 0, result.output
    assert "PESQ" in result.output and "SI-SDR" in result.output


@pytest.mark.slow
def test_a_panns_tower_given_by_path_trains_with_film_and_is_restored_without_the_file(corpus, tmp_path, panns_ckpt):
    """(The run alone enhancing after the file is gone: CLAP's test above, and PANNs' in test_towers.py.)"""
    local = tmp_path / panns_ckpt[0].name
    os.link(panns_ckpt[0], local)
    saved = _train(corpus, tmp_path, "panns", "--panns-ckpt", local, "--injection", "film")
    assert saved["encoder"]["ckpt"] == str(local) and saved["conditioning"]["injection"] == "film"

    local.unlink()  # resuming, the tower's weights come back from the checkpoint (a fresh run would be refused)
    ws = tmp_path / "ws"
    stamp = (ws / "models" / "m" / "model.safetensors").stat().st_mtime_ns
    result = invoke("train", "--name", "m", "--workdir", ws, "--resume", "--steps", "2", "--no-progress")
    assert result.exit_code == 0, result.output  # nothing left to train: restored from step 2 and exported again
    with safe_open(ws / "models" / "m" / "model.safetensors", "pt") as weights:
        assert weights.get_tensor("encoder.pretrained").item()
        assert all(torch.equal(weights.get_tensor(f"encoder.tower.cnn14.{k}"), v) for k, v in panns_ckpt[1].items())
    assert (ws / "models" / "m" / "model.safetensors").stat().st_mtime_ns != stamp


def test_training_without_the_checkpoint_is_one_clear_line(corpus, tmp_path):
    ws = tmp_path / "ws"
    missing = tmp_path / "weights" / "630k-audioset-best.pt"
    result = invoke("train", "--recipe", _recipe(tmp_path), "--data", corpus, "--encoder",
                    "clap", "--clap-ckpt", missing, "--steps", "2", "--workdir", ws, "--name", "m", "--no-progress")
    assert result.exit_code == 1
    assert f"{missing} not found. Download 630k-audioset-best.pt from https://" in " ".join(result.output.split())
    assert not ws.exists()  # refused before anything was written, the workspace included


def test_a_checkpoint_at_no_place_is_downloaded_only_when_asked(corpus, tmp_path, downloads):
    result = runner.invoke(app, [str(a) for a in ["train", "--recipe", _recipe(tmp_path), "--data", corpus,
                                                  "--encoder", "clap", "--steps", "1", "--workdir", tmp_path / "ws",
                                                  "--name", "off", "--no-progress"]],
                           env={"NCSE_ALLOW_DOWNLOAD": None})  # restored afterwards
    assert result.exit_code == 1 and "--download-weights" in " ".join(result.output.split())
    assert not downloads and not (tmp_path / "ws").exists()
