"""``ncse enhance / evaluate / report / models / demo`` and the root through the Typer app: files written,
exit codes, one-line errors naming the culprit, and nothing half-written."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from ncse_cli import __version__, api
from ncse_cli.cli import app
from ncse_cli.evaluation import load_testset
from ncse_cli.evaluation.run import score_noisy
from ncse_cli.workspace import Workspace
from tests.dummies import cut_wav, make_manifest, make_model_dir, noise, speech, write_wav

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], terminal_width=200)


def disk_full(fd: int) -> None:
    """``os.fsync`` on a full disk."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    make_model_dir(ws.model_dir("cond"))
    make_model_dir(ws.model_dir("base"), encoder="none")
    return ws


def test_version_and_help():
    assert run("--version").stdout.strip() == f"ncse {__version__}"
    result = run("--help")
    for command in ("prepare", "train", "enhance", "evaluate", "report", "models", "demo"):
        assert command in result.stdout


def test_enhance_a_stereo_file_writes_mono_at_its_rate_with_a_notice(workspace, tmp_path):
    noisy = write_wav(tmp_path / "in.wav", speech(0.6, 22050) + noise(0.6, 22050, level=0.02), 22050, channels=2)
    result = run("enhance", "--model", "cond", "--input", noisy, "--out", tmp_path / "out", "--steps", 1,
                 "--workdir", workspace.root, "--no-progress")
    assert result.exit_code == 0, result.output
    info = sf.info(tmp_path / "out" / "in.wav")
    assert (info.samplerate, info.frames, info.channels) == (22050, sf.info(noisy).frames, 1)
    said = " ".join(result.stderr.split())
    assert said.count("mixed down to mono") == 1 and "no pause long enough" in said  # 0.6 s of speech
    assert "null condition" in said
    assert "enhanced" in result.stdout


@pytest.mark.parametrize("problem", ["unknown model", "model without config", "missing input", "corrupt wav", "cut wav", "1 Hz header",
                                     "nan clip", "empty clip", "missing manifest", "malformed manifest",
                                     "missing reference", "silent reference", "out is a file", "disk full",
                                     "unusable device"])
def test_bad_input_gives_one_error_line_and_exit_1(workspace, tmp_path, problem, monkeypatch):
    good = write_wav(tmp_path / "good.wav", speech(0.5), 16000)
    bad = tmp_path / "bad.wav"
    model, source, extra, expected = "cond", good, [], None
    if problem == "unknown model":
        model, expected = "nope", "no model 'nope'.*known: base, cond.*pass --workdir or set NCSE_HOME"
        make_model_dir(workspace.models_dir / ".new-nope")  # a run being started is not a model
    elif problem == "model without config":
        workspace.model_dir("half").mkdir(exist_ok=True)
        model, expected = "half", "models/half: not a model directory \\(no config.yaml\\)"
    elif problem == "missing input":
        source, expected = tmp_path / "absent.wav", "absent.wav: no such file or folder"
    elif problem == "corrupt wav":
        bad.write_bytes(b"RIFF not really a wave file")
        source, expected = bad, "bad.wav: not a readable audio file"
    elif problem == "cut wav":
        source, expected = cut_wav(write_wav(bad, speech(0.5), 16000)), "bad.wav: cut short"
    elif problem == "1 Hz header":
        source, expected = write_wav(bad, speech(0.5), 1, "PCM_16"), "bad.wav: implausible sample rate 1 Hz"
    elif problem == "silent reference":
        ref = write_wav(tmp_path / "ref.wav", np.zeros(8000, np.float32), 16000)
        extra, expected = ["--noise-ref", ref], "ref.wav: the noise reference is silent"
    elif problem == "nan clip":
        samples = speech(0.5)
        samples[100] = np.nan
        source, expected = write_wav(bad, samples, 16000), "bad.wav: contains NaN"
    elif problem == "empty clip":
        source, expected = write_wav(bad, np.zeros(0, np.float32), 16000), "bad.wav: empty"
    elif problem == "missing manifest":
        source, expected = tmp_path / "absent.jsonl", "absent.jsonl: no such file or folder"
    elif problem == "malformed manifest":
        source = tmp_path / "rows.jsonl"
        source.write_text('{"id": "a", "noisy": "good.wav", "sample_rate": 16000}\n')
        expected = r"rows.jsonl:1: missing fields clean, noise_ref, snr_db"
    elif problem == "missing reference":
        extra, expected = ["--noise-ref", tmp_path / "ref.wav"], "ref.wav: no such audio file"
    elif problem == "out is a file":
        (tmp_path / "out").write_text("not a folder")
        expected = "out: not a folder"
    elif problem == "disk full":
        monkeypatch.setattr("os.fsync", disk_full)
        extra = ["--noise-ref", write_wav(tmp_path / "ref.wav", noise(0.5), 16000)]
        expected = f"{tmp_path / 'out'}/.+: No space left on device"
    elif problem == "unusable device":
        extra, expected = ["--device", "cuda:99"], "--device cuda:99: (CUDA is not available|this machine has)"
    result = run("enhance", "--model", model, "--input", source, "--out", tmp_path / "out", *extra,
                 "--workdir", workspace.root, "--no-progress")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert re.search(expected, lines[0]), lines
    assert not list((tmp_path / "out").rglob("*.wav")) if (tmp_path / "out").exists() else True
    for leftover in (workspace.model_dir("half"), workspace.models_dir / ".new-nope"):
        shutil.rmtree(leftover, ignore_errors=True)


def test_file_system_errors_are_one_line_naming_the_path(workspace, tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    score_noisy(ws, *load_testset(make_manifest(tmp_path, count=1, seconds=0.5, name="esc50_snr0")), metrics=("si_sdr",))
    with monkeypatch.context() as patch:
        patch.setattr("os.fsync", disk_full)
        result = run("report", "--out", tmp_path / "report.md", "--workdir", ws.root, "--metric", "si_sdr")
    assert result.exit_code == 1 and error_lines(result) == [f"error: {tmp_path / 'report.md'}: No space left on "
                                                             f"device"]
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # root may write anywhere, so a read-only workspace is simulated
        if self.is_relative_to(workspace.root / "models" / "cond" / "eval"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    manifest = make_manifest(tmp_path / "test", count=1, seconds=0.5, name="tiny")
    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", read_only)
        result = run("evaluate", "--model", "cond", "--testset", manifest, "--steps", 1, "--workdir", workspace.root,
                     "--no-progress")
    assert result.exit_code == 1, result.output
    assert re.fullmatch(f"error: {workspace.root / 'models' / 'cond' / 'eval'}/\\S+: Permission denied",
                        error_lines(result)[0]), error_lines(result)


def test_evaluate_errors_leave_nothing_half_written(workspace, tmp_path):
    manifest = make_manifest(tmp_path, count=2, seconds=0.5, name="broken")
    (tmp_path / "broken" / "noisy" / "broken_001.wav").write_bytes(b"garbage")
    result = run("evaluate", "--model", "cond", "--testset", manifest, "--steps", 1, "--workdir", workspace.root,
                 "--no-progress", "--no-dnsmos")
    assert result.exit_code == 1 and "broken_001.wav" in error_lines(result)[0]
    assert not list(workspace.root.rglob("summary.json")) and not list(workspace.root.rglob("*.tmp*"))
    missing = run("evaluate", "--model", "cond", "--testset", tmp_path / "none.jsonl", "--workdir", workspace.root)
    assert missing.exit_code == 1 and error_lines(missing) == [f"error: {tmp_path / 'none.jsonl'}: no such manifest"]
    device = run("evaluate", "--model", "cond", "--testset", tmp_path / "none.jsonl", "--device", "tpu",
                 "--workdir", workspace.root)
    assert device.exit_code == 1 and error_lines(device) == ["error: --device tpu: not a device name (auto, cpu, "
                                                             "cuda, cuda:1, mps)"]


@pytest.mark.parametrize("flags,expected", [(["--guidance-scale", "1", "3", "5"], [1.0, 3.0, 5.0]),
                                            (["-w", "1", "--guidance-scale", "3"], [1.0, 3.0]),
                                            (["-w", "2.5"], [2.5]), (["--cfg-scale", "1", "3"], [1.0, 3.0]),
                                            ([], None)])
def test_evaluate_takes_several_scales_after_one_flag(monkeypatch, flags, expected):
    seen = {}

    def fake_evaluate(model, testsets, **kwargs):
        seen.update(model=model, testsets=[str(t) for t in testsets], **kwargs)
        return []

    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    result = run("evaluate", "--model", "m", "--testset", "a.jsonl", *flags, "--testset", "b.jsonl", "--jobs", 2)
    assert result.exit_code == 0, result.output
    assert (seen["model"], seen["testsets"], seen.get("ws"), seen["jobs"]) == ("m", ["a.jsonl", "b.jsonl"],
                                                                               expected, 2)
    notices = [line for line in error_lines(result) if "deprecated" in line]
    assert notices == (["deprecated: --cfg-scale is now --guidance-scale"] if "--cfg-scale" in flags else [])


@pytest.mark.parametrize("flags,references,seeds", [
    (["--reference", "null", "mismatched", "oracle-1s", "--seed", "0", "1"], ["null", "mismatched", "oracle-1s"],
     [0, 1]),
    (["-r", "matched", "-w", "1", "3", "-r", "auto", "--seed", "2"], ["matched", "auto"], [2]),
    ([], None, None)])
def test_evaluate_takes_several_conditions_and_seeds_after_one_flag(monkeypatch, flags, references, seeds):
    seen = {}
    monkeypatch.setattr(api, "evaluate", lambda model, testsets, **kwargs: seen.update(kwargs) or [])
    result = run("evaluate", "--model", "m", "--testset", "a.jsonl", *flags, "--jobs", 2)
    assert result.exit_code == 0, result.output
    assert (seen.get("references"), seen.get("seeds"), seen["jobs"]) == (references, seeds, 2)


def test_evaluate_names_an_unknown_reference_condition(workspace, tmp_path):
    manifest = make_manifest(tmp_path, count=2, name="cond_t", split="test")
    result = run("evaluate", "--model", "cond", "--testset", manifest, "-r", "shuffled", "--workdir", workspace.root)
    assert result.exit_code == 1
    assert error_lines(result) == ["error: unknown reference condition 'shuffled'; known: matched, null, same-type, "
                                   "mismatched, white, oracle, auto"]


def test_models_list_and_show(workspace):
    listed = run("models", "list", "--workdir", workspace.root)
    assert listed.exit_code == 0
    assert "cond" in listed.stdout and "base" in listed.stdout and "none" in listed.stdout
    shown = run("models", "show", "cond", "--workdir", workspace.root)
    assert shown.exit_code == 0 and "cnn" in shown.stdout and "not evaluated yet" in shown.stdout
    unknown = run("models", "show", "nope", "--workdir", workspace.root)
    assert unknown.exit_code == 1 and "known: base, cond" in error_lines(unknown)[0]


def test_a_broken_model_folder_is_skipped_with_a_warning_by_list_and_report(workspace, tmp_path):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(workspace.model_dir("cond"), ws.model_dir("good"))
    for name in ("corrupt", "no-config"):
        ws.model_dir(name).mkdir()
        shutil.copy(workspace.model_dir("cond") / "model.safetensors", ws.model_dir(name))
    (ws.model_dir("corrupt") / "config.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\x00")
    for args in (["models", "list"], ["report"]):
        result = run(*args, "--workdir", ws.root)
        assert result.exit_code == 0, result.output
        assert "good" in result.stdout and "corrupt" not in result.stdout and "no-config" not in result.stdout
        unwrapped = "".join(result.stderr.split())  # rich wraps log lines at the test console's width
        assert unwrapped.count("WARNING") == 2, result.stderr
        for name, problem in (("corrupt", "/config.yaml: not a YAML text file"),
                              ("no-config", ": not a model directory (no config.yaml)")):
            assert "".join(f"skipped model {name}: {ws.model_dir(name)}{problem}".split()) in unwrapped
    shown = run("models", "show", "corrupt", "--workdir", ws.root)
    assert shown.exit_code == 1 and error_lines(shown) == [
        f"error: {ws.model_dir('corrupt') / 'config.yaml'}: not a YAML text file (byte 0 is not UTF-8)"]
    config = ws.model_dir("good") / "config.yaml"
    config.write_text(config.read_text() + "train: null\n")  # a section that is not a mapping: no p_uncond
    listed = run("models", "list", "--workdir", ws.root)
    assert listed.exit_code == 0 and "good" in listed.stdout, listed.output


def test_report_prints_and_writes_the_same_markdown(tmp_path):
    ws = Workspace(tmp_path / "ws")
    score_noisy(ws, *load_testset(make_manifest(tmp_path, count=2, seconds=1.0, name="esc50_snr0")),
                metrics=("si_sdr",))
    out = tmp_path / "report.md"
    result = run("report", "--out", out, "--workdir", ws.root, "--metric", "si_sdr")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text in result.stdout and "| Method | OOD SI-SDR | Notes |" in text
    assert run("report", "--metric", "nope", "--workdir", ws.root).exit_code == 1


def test_a_workdir_that_is_a_file_is_one_error_line(workspace, tmp_path):
    manifest = make_manifest(tmp_path, count=1, seconds=0.5, name="tiny")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a workspace")
    for args in (["models", "list"], ["report"],
                 ["evaluate", "--model", workspace.model_dir("cond"), "--testset", manifest, "--no-progress"]):
        result = run(*args, "--workdir", blocker / "ws")
        assert result.exit_code == 1, result.output
        assert error_lines(result) == [f"error: {blocker}: not a folder, so it cannot hold the workspace "
                                       f"{blocker / 'ws'}"]
    assert blocker.read_text() == "not a workspace"
