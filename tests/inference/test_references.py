"""Noise references of the enhancement use case: ``auto`` (the default) cuts one of the trained length from each
input's own pauses and records where from, falls back to the null condition with a message when there is no pause,
and yields to a manifest row's own reference; ``none`` and a file behave as before; output folders record the mode."""

import json
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from ncse_cli import api
from ncse_cli.auto_reference import auto_reference
from ncse_cli.cli import app
from ncse_cli.data.manifest import read_manifest, write_manifest
from ncse_cli.inference.outputs import RECORD_FILE
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from ncse_cli.vad import detect_speech
from tests.dummies import make_manifest, make_model_dir, noise, read_wav, speech, speech_with_pauses, write_wav

FAST = EnhanceSettings(steps=1)
#: One clear pause between two bursts of speech (the one of 0.8 s is where a reference must come from).
LAYOUT = [("speech", 1.0), ("pause", 0.8), ("speech", 1.0)]


@pytest.fixture(scope="module")
def long_ref_model(tmp_path_factory):
    """A tiny conditioned model trained (as its config says) with 1 s references."""
    return make_model_dir(tmp_path_factory.mktemp("models") / "ref1s", ref_seconds=1.0)


def sidecar(out_dir, stem):
    return json.loads((out_dir / f"{stem}.noise-ref.json").read_text())


def test_auto_takes_the_reference_from_the_pause_and_records_it(model_dir, tmp_path):
    recording, _ = speech_with_pauses(LAYOUT, 16000, noise_level=0.02)
    noisy = write_wav(tmp_path / "talk.wav", recording, 16000)
    report = api.enhance(str(model_dir), noisy, tmp_path / "auto", settings=FAST)  # auto is the default
    assert (report.auto_references, report.unconditional) == (1, 0)
    record = sidecar(tmp_path / "auto", "talk")
    assert record["condition"] == "reference" and record["seconds"] == 0.25 and record["detector"] == "silero"
    (start, end), = record["stretches"]
    assert 1.0 <= start and end <= 1.8 and end - start == pytest.approx(0.25, abs=1e-3)  # inside the pause
    # the same output as giving that reference as a file: the auto reference is what conditions the model
    found = auto_reference(recording, 16000, 0.25, activity=detect_speech(recording, 16000))
    ref = write_wav(tmp_path / "ref.wav", found.samples, 16000)
    api.enhance(str(model_dir), noisy, tmp_path / "file", noise_ref=ref, settings=FAST)
    api.enhance(str(model_dir), noisy, tmp_path / "none", noise_ref="none", settings=FAST)
    auto, given, null = (read_wav(tmp_path / d / "talk.wav") for d in ("auto", "file", "none"))
    np.testing.assert_array_equal(auto, given)
    assert not np.allclose(auto, null, atol=1e-4)
    assert not (tmp_path / "file" / "talk.noise-ref.json").exists()


def test_a_file_without_pauses_falls_back_to_the_null_condition_with_a_message(long_ref_model, tmp_path):
    talk = write_wav(tmp_path / "talk.wav", speech(2.5, seed=3) + noise(2.5, seed=4, level=0.01), 16000)
    result = CliRunner().invoke(app, ["enhance", "-m", str(long_ref_model), "-i", str(talk), "-o",
                                      str(tmp_path / "out"), "--steps", "1", "--no-progress"], terminal_width=200)
    assert result.exit_code == 0, result.output
    said = "".join(result.stderr.split())  # log lines are wrapped, long paths anywhere: compared without spaces
    assert f"{talk}:nopauselongenoughfora1snoisereference" in said  # the model's trained reference length
    assert "enhancedwiththenullcondition" in said and said.count("nopauselongenough") == 1
    record = sidecar(tmp_path / "out", "talk")
    assert record["condition"] == "null" and record["stretches"] == [] and record["reason"].startswith("no pause")
    assert "without a reference" in result.stdout
    api.enhance(str(long_ref_model), talk, tmp_path / "none", noise_ref="none", settings=FAST)
    np.testing.assert_array_equal(read_wav(tmp_path / "out" / "talk.wav"), read_wav(tmp_path / "none" / "talk.wav"))


def test_a_manifest_rows_own_reference_comes_before_auto_and_a_file_replaces_all(model_dir, tmp_path):
    path = make_manifest(tmp_path, count=3, seconds=0.6, name="mixed", split="test")
    manifest = read_manifest(path)
    manifest.rows[1].noise_ref = None
    write_manifest(path, manifest.rows)
    report = api.enhance(str(model_dir), path, tmp_path / "auto", settings=FAST)
    assert sorted(p.name for p in (tmp_path / "auto").glob("*.noise-ref.json")) == ["mixed_001.noise-ref.json"]
    assert report.auto_references + report.unconditional == 1
    api.enhance(str(model_dir), path, tmp_path / "none", noise_ref="none", settings=FAST)
    for key in ("mixed_000", "mixed_002"):  # their own references, whatever the mode
        np.testing.assert_array_equal(read_wav(tmp_path / "auto" / f"{key}.wav"),
                                      read_wav(tmp_path / "none" / f"{key}.wav"))
    ref = write_wav(tmp_path / "ref.wav", noise(0.5, seed=9, level=0.05), 16000)
    api.enhance(str(model_dir), path, tmp_path / "file", noise_ref=ref, settings=FAST)
    assert not list((tmp_path / "file").glob("*.noise-ref.json"))
    assert not np.allclose(read_wav(tmp_path / "file" / "mixed_000.wav"), read_wav(tmp_path / "none" / "mixed_000.wav"),
                           atol=1e-4)


def test_the_output_folder_records_the_mode_and_refuses_another(model_dir, tmp_path):
    noisy = write_wav(tmp_path / "in" / "a.wav", speech(0.6) + noise(0.6, level=0.02), 16000)
    write_wav(tmp_path / "in" / "b.wav", speech(0.6, seed=2) + noise(0.6, seed=3, level=0.02), 16000)
    api.enhance(str(model_dir), tmp_path / "in", tmp_path / "out", settings=FAST)
    assert json.loads((tmp_path / "out" / RECORD_FILE).read_text())["reference"] == "auto"
    (tmp_path / "out" / "b.wav").unlink()
    with pytest.raises(EnhanceError, match="other reference; choose another --out"):
        api.enhance(str(model_dir), tmp_path / "in", tmp_path / "out", noise_ref="none", settings=FAST)
    assert api.enhance(str(model_dir), tmp_path / "in", tmp_path / "out", settings=FAST).written == 1
    # an unconditioned model uses no reference whatever the mode, so the mode is not recorded
    base = make_model_dir(tmp_path / "base", encoder="none")
    api.enhance(str(base), noisy, tmp_path / "base_out", settings=FAST)
    assert "reference" not in json.loads((tmp_path / "base_out" / RECORD_FILE).read_text())
    assert not (tmp_path / "base_out" / "a.noise-ref.json").exists()


def test_a_folder_written_before_modes_existed_is_continued_with_none_only(model_dir, tmp_path):
    write_wav(tmp_path / "in" / "a.wav", speech(0.6) + noise(0.6, level=0.02), 16000)
    write_wav(tmp_path / "in" / "b.wav", speech(0.6, seed=2) + noise(0.6, seed=3, level=0.02), 16000)
    out = tmp_path / "out"
    api.enhance(str(model_dir), tmp_path / "in", out, noise_ref="none", settings=FAST)
    record = json.loads((out / RECORD_FILE).read_text())
    for key in ("reference", "window", "overlap"):  # what versions before automatic references wrote
        del record[key]
    (out / RECORD_FILE).write_text(json.dumps(record))
    (out / "b.wav").unlink()
    with pytest.raises(EnhanceError, match="other reference"):
        api.enhance(str(model_dir), tmp_path / "in", out, settings=FAST)
    assert api.enhance(str(model_dir), tmp_path / "in", out, noise_ref="none", settings=FAST).written == 1


def test_a_16_khz_model_says_once_that_full_band_inputs_lose_their_high_band(model_dir, tmp_path, caplog):
    for name, rate in (("a", 48000), ("b", 44100), ("c", 48000), ("d", 16000)):
        write_wav(tmp_path / "in" / f"{name}.wav", speech(0.3, rate, seed=len(name)), rate)
    with caplog.at_level(logging.WARNING, logger="ncse"):
        api.enhance(str(model_dir), tmp_path / "in", tmp_path / "out", noise_ref="none", settings=FAST)
    said = [r.getMessage() for r in caplog.records if "no band above" in r.getMessage()]
    assert said == ["the model works at 16 kHz: outputs of 44.1/48 kHz inputs carry no band above 8 kHz"]
