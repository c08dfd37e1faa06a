"""``ncse prepare ...`` through the Typer app: files written, exit codes, one-line errors, ``--snr 0 5 10``."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from ncse_cli.cli import app
from ncse_cli.cli._command import expand_multi_values
from ncse_cli.data.manifest import read_manifest
from tests.dummies import make_esc50_tree

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["prepare", *map(str, args)], terminal_width=200)


def error_lines(result) -> list[str]:
    return [line for line in (result.stderr or result.output).splitlines() if line.strip()]


def test_expand_multi_values():
    args = ["--snr", "0", "-5", "7.5", "--out", "x", "--snr=3", "--seed", "1", "--", "--snr", "9"]
    assert expand_multi_values(args, ["--snr"]) == ["--snr=0", "--snr=-5", "--snr=7.5", "--out", "x", "--snr=3",
                                                    "--seed", "1", "--", "--snr", "9"]
    assert expand_multi_values(["--snr", "--out", "x"], ["--snr"]) == ["--snr", "--out", "x"]
    assert expand_multi_values(["-s", "1", "-5"], ["-s", "--snr"]) == ["-s1", "-s-5"]


def test_demo_command_writes_manifests_and_reruns_as_a_noop(tmp_path):
    args = ("demo", "--out", tmp_path, "--train", 3, "--valid", 1, "--test", 2, "--seconds", 1, "--seed", 4)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "train.jsonl" in result.output and "written" in result.output
    assert [len(read_manifest(tmp_path / f"{s}.jsonl")) for s in ("train", "valid", "test")] == [3, 1, 2]
    again = run(*args, "--no-progress")  # every prepare command takes it, like the other long commands
    assert again.exit_code == 0 and "up to date" in again.output
    changed = run("demo", "--out", tmp_path, "--train", 4, "--valid", 1, "--test", 2, "--seconds", 1)
    assert changed.exit_code == 1
    assert error_lines(changed)[0].startswith("error:") and "--overwrite" in error_lines(changed)[0]


def test_ood_takes_several_snrs_after_one_flag(trees, tmp_path):
    result = run("ood", "--clean", trees["clean"], "--esc50", trees["esc50"], "--urbansound", trees["urbansound"],
                 "--snr", 0, 5, 10, "--out", tmp_path, "--esc50-fold", 1, 2, "--urbansound-class", "siren,drilling")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert names == sorted(f"{c}_snr{s}.jsonl" for c in ("esc50", "urbansound8k") for s in (0, 5, 10))
    assert {r.noise_type for r in read_manifest(tmp_path / "urbansound8k_snr5.jsonl")} <= {"siren", "drilling"}
    negative = run("ood", "--clean", trees["clean"], "--esc50", trees["esc50"], "--snr", -5, "--snr", 2.5,
                   "--out", tmp_path / "neg")
    assert negative.exit_code == 0, negative.output
    assert sorted(p.name for p in (tmp_path / "neg").glob("*.jsonl")) == ["esc50_snr-5.jsonl", "esc50_snr2.5.jsonl"]


def test_malformed_corpus_is_one_error_line_and_writes_nothing(trees, tmp_path):
    esc = make_esc50_tree(tmp_path / "esc", clips_per_category=1, seconds=0.3)
    table = pd.read_csv(esc / "meta" / "esc50.csv")
    table.drop(columns=["category"]).to_csv(esc / "meta" / "esc50.csv", index=False)
    result = run("ood", "--clean", trees["clean"], "--esc50", esc, "--out", tmp_path / "out")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and "esc50.csv: missing column category" in lines[0]
    assert not (tmp_path / "out").exists()  # validated before anything is written


@pytest.mark.parametrize("source", ["same", "other"])
def test_vbdemand_command(trees, tmp_path, source):
    result = run("vbdemand", "--root", trees["vb"], "--out", tmp_path, "--ref-source", source,
                 "--valid-speaker", "p287")
    assert result.exit_code == 0, result.output
    suffix = "" if source == "same" else "_other"
    valid = read_manifest(tmp_path / f"vbdemand_valid{suffix}.jsonl")
    assert {r.extra["speaker"] for r in valid} == {"p287"}
    assert len(read_manifest(tmp_path / f"vbdemand_train{suffix}.jsonl")) == 6


def test_nonstationary_command_and_bad_options(trees, tmp_path):
    result = run("nonstationary", "--clean", trees["clean"], "--out", tmp_path, "--kind", "ramp",
                 "--kind", "step", "--snr", 5, 15)
    assert result.exit_code == 0, result.output
    assert {r.noise_type for r in read_manifest(tmp_path / "nonstationary_snr15.jsonl")} <= {"ramp", "step"}
    bad = run("nonstationary", "--clean", tmp_path / "missing", "--out", tmp_path / "x")
    assert bad.exit_code == 1 and "no such clean manifest or folder" in error_lines(bad)[0]
    bad_method = run("vbdemand", "--root", trees["vb"], "--out", tmp_path / "y", "--snr-method", "loud")
    assert bad_method.exit_code == 1 and not (tmp_path / "y").exists()
    assert error_lines(bad_method) == ["error: vbdemand: snr_method must be one of power, active, got 'loud'"]
