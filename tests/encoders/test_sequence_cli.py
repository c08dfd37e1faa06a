"""End to end through the CLI with the sequence encoder: the plan's XAttn-CFG recipe, sized down, trains,
enhances with guidance and evaluates at two guidance scales."""

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ncse_cli.audio import load_audio
from ncse_cli.model_dir import load_model
from ncse_cli.cli import app
from ncse_cli.config import load_yaml
from ncse_cli.data.manifest import read_manifest
from ncse_cli.metrics.sisdr import si_sdr
from tests.dummies import make_manifest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Half-second mixtures with 1 s noise references (8 tokens of their own); no validation manifest: the recipe
    validates at 10 sampler steps, and enhancement with tokens is what ``enhance`` and ``evaluate`` check here."""
    root = tmp_path_factory.mktemp("xattn_data")
    make_manifest(root, 4, seconds=0.5, ref_seconds=1.0, name="train", split="train")
    make_manifest(root, 1, seconds=0.5, ref_seconds=1.0, name="test", split="test", seed=80)
    return root


@pytest.mark.slow
def test_xattn_recipe_trains_enhances_and_evaluates_through_the_cli(data, tmp_path):
    result = invoke("train", "--recipe", RECIPES / "xattn_cfg.yaml", "--data", data / "train.jsonl",
                    "--backbone", "tiny", "--steps", "2", "--batch-size", "2", "--crop-frames", "16",
                    "--num-workers", "0", "--workdir", tmp_path, "--name", "xattn", "--no-progress")
    assert result.exit_code == 0, result.output
    run = tmp_path / "models" / "xattn"
    saved = load_yaml(run / "config.yaml")
    assert saved["model"]["encoder"]["name"] == "sequence" and saved["train"]["p_uncond"] == 0.2
    model = load_model(run)
    assert model.encoder.spec.num_tokens == 16 and model.backbone.xattn_levels == {4}

    test = read_manifest(data / "test.jsonl")
    result = invoke("enhance", "-m", "xattn", "--workdir", tmp_path, "-i", data / "test.jsonl",
                    "-o", tmp_path / "enhanced", "-w", "3", "--steps", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    for row in test.rows:
        out = load_audio(tmp_path / "enhanced" / f"{row.id}.wav").samples
        assert len(out) == row.num_samples and np.isfinite(out).all()

    result = invoke("evaluate", "-m", "xattn", "--workdir", tmp_path, "-t", data / "test.jsonl",
                    "-w", "1", "3", "--steps", "1", "--no-progress", "--no-dnsmos")
    assert result.exit_code == 0, result.output
    for label in ("w1", "w3"):
        (scores,) = (run / "eval").glob(f"*/{label}/scores.csv")
        rows = {r["id"]: r for r in csv.DictReader(scores.open())}
        assert set(rows) == {row.id for row in test.rows}
        for row in test.rows:  # SI-SDR measured back from the written enhancement and the clean file
            enhanced = load_audio(scores.parent / "enhanced" / f"{row.id}.wav").samples
            clean = load_audio(test.root / row.clean).samples
            assert abs(si_sdr(enhanced, clean) - float(rows[row.id]["si_sdr"])) < 1e-3
