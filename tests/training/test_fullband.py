"""The full-band recipe: SGMSE+'s 48 kHz setting, at tiny size, trains and enhances a 48 kHz file end to end and
keeps its band above 8 kHz."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ncse_cli.audio import load_audio
from ncse_cli.cli import app
from ncse_cli.config import load_yaml
from tests.dummies import make_manifest, noise, speech, write_wav

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "fullband_48k.yaml"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def high_band_share(x: np.ndarray, rate: int, above: float = 8000.0) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(power[np.fft.rfftfreq(len(x), 1 / rate) > above].sum() / power.sum())


def test_the_recipe_is_sgmse_plus_full_band_setting():
    model = load_yaml(RECIPE)["model"]
    assert model["sample_rate"] == 48000
    assert model["stft"] == {"n_fft": 1534, "hop_length": 384, "alpha": 0.667, "beta": 0.065}
    assert model["sde"] == {"name": "ouve", "theta": 2.0, "sigma_min": 0.1, "sigma_max": 1.0}
    assert model["backbone"]["freq_bins"] == 1534 // 2 + 1 and model["backbone"]["attn_resolutions"] == []
    assert model["backbone"]["progressive"] == model["backbone"]["progressive_input"] == "none"  # ncsnpp_48k


@pytest.mark.slow
def test_a_tiny_full_band_model_trains_and_enhances_a_48_khz_file_with_its_high_band(tmp_path):
    data = tmp_path / "data"
    make_manifest(data, 4, sample_rate=48000, seconds=0.5, name="train", split="train")
    make_manifest(data, 2, sample_rate=48000, seconds=0.5, name="valid", split="valid", seed=50)
    recipe = tmp_path / "tiny48.yaml"
    backbone = {**load_yaml(RECIPE)["model"]["backbone"], "name": "tiny", "nf": 8}  # the recipe's layout, tiny
    recipe.write_text(f"extends: {RECIPE}\nmodel:\n  backbone: {json.dumps(backbone)}\n"
                      "  encoder: {name: cnn, channels: [8, 8, 8, 8], dim: 16}\n"
                      "train: {val_utterances: 1, val_steps: 1}\n")  # validation is tested elsewhere
    result = invoke("train", "--recipe", recipe, "--data", data, "--name", "fb", "--workdir", tmp_path / "ws",
                    "--steps", "2", "--batch-size", "2", "--crop-frames", "16", "--num-workers", "0", "--no-progress")
    assert result.exit_code == 0, result.output
    saved = load_yaml(tmp_path / "ws" / "models" / "fb" / "config.yaml")["model"]
    assert (saved["sample_rate"], saved["stft"]["n_fft"], saved["sde"]["theta"]) == (48000, 1534, 2.0)
    assert saved["backbone"]["progressive"] == "none" and saved["backbone"]["divide_after_output_layer"]

    rate = 48000
    recording = speech(1.0, rate, seed=7) + noise(1.0, rate, seed=8, kind="white", level=0.05)
    path = write_wav(tmp_path / "recording.wav", recording, rate)
    assert high_band_share(recording, rate) > 0.3
    result = invoke("enhance", "-m", "fb", "--workdir", tmp_path / "ws", "-i", path, "-o", tmp_path / "out",
                    "--steps", "1", "--noise-ref", "none", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "carry no band above" not in result.output
    out = load_audio(tmp_path / "out" / "recording.wav")
    assert out.sample_rate == rate and len(out.samples) == len(recording) and np.isfinite(out.samples).all()
    assert high_band_share(out.samples, rate) > 0.05  # a 16 kHz model's output has none (resampled from 16 kHz)
