"""Evaluation: stored rows and summaries agree, shared noisy scores, reuse and resume, settings guard, missing
metrics, test-set identity, and two concurrent processes."""

import dataclasses
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from ncse_cli import api
from ncse_cli.audio import AudioError
from ncse_cli.data.manifest import read_manifest, write_manifest
from ncse_cli.evaluation import EvaluateOptions, EvaluationError, evaluate, load_testset
from ncse_cli.evaluation.conditions import ReferenceCondition
from ncse_cli.evaluation.results import read_summary
from ncse_cli.evaluation.run import score_noisy
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.metrics import METRICS_VERSION
from ncse_cli.workspace import Workspace, eval_dir, folder_lock
from tests.dummies import ProgressLog, make_manifest, read_wav, write_wav

#: one worker builds the session fixture these tests share (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("evaluated-workspace")

#: without DNSMOS (about 0.4 s a clip on this CPU) except in the tests that read it
W1 = EvaluateOptions(ws=(1.0,), settings=EnhanceSettings(steps=1), dnsmos=False)
W1_DNSMOS = dataclasses.replace(W1, dnsmos=True)


def folder(summary):
    return summary.path.parent


def test_summaries_equal_the_stored_per_utterance_scores(evaluated, testset):
    ws, cond, base = evaluated
    ids = [row.id for row in read_manifest(testset)]
    assert [(s.model, s.label) for s in cond] == [(None, "noisy"), ("cond", "w1"), ("cond", "w3")]
    for summary in cond + base:
        scores = read_scores(folder(summary) / ("noisy_scores.csv" if summary.is_noisy else "scores.csv"))
        assert list(scores["id"]) == ids
        for metric, stored in summary.metrics.items():
            values = scores[metric].to_numpy(float)
            assert stored.mean == pytest.approx(np.nanmean(values), abs=1e-12)
            assert (stored.n, stored.missing) == (int(np.isfinite(values).sum()), int(np.isnan(values).sum()))
    assert cond[0] == base[0]  # the noisy input is scored once per test set and shared
    assert folder(cond[0]) == ws.testset_dir(cond[0].testset.id)


def test_enhanced_files_and_scores_differ_between_scales(evaluated):
    _, cond, _ = evaluated
    w1, w3 = (read_scores(folder(s) / "scores.csv") for s in cond[1:])
    assert not np.allclose(w1["si_sdr"], w3["si_sdr"])
    enhanced = folder(cond[1]) / "enhanced"
    assert sorted(p.name for p in enhanced.iterdir()) == [".ncse-enhance.json", ".ncse-inputs.jsonl",
                                                          *(f"tiny_test_00{i}.wav" for i in range(3))]


def test_an_unconditioned_model_is_evaluated_once_without_a_scale(evaluated):
    ws, _, base = evaluated
    assert [(s.label, s.w, s.scale_text) for s in base[1:]] == [("w-", None, "-")]
    assert [p.name for p in (ws.model_dir("base") / "eval" / base[1].testset.id).iterdir()] == ["w-"]


def test_a_second_run_reuses_finished_results(evaluated, testset):
    ws, cond, _ = evaluated
    files = [p for s in cond for p in folder(s).rglob("*") if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    again = evaluate(ws, "cond", [testset], dataclasses.replace(W1, ws=(3.0, 1.0)))
    assert {(s.label, s.metrics["pesq"].mean) for s in again} == {(s.label, s.metrics["pesq"].mean) for s in cond}
    assert {p: p.stat().st_mtime_ns for p in files} == before


@pytest.fixture
def fresh(tmp_path, model_dir, testset):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    first = evaluate(ws, "m", [testset], W1)[1]
    return ws, first


def test_results_stored_before_w_was_called_w_are_reused(fresh, testset):
    ws, first = fresh
    out = folder(first)
    for name in ("settings.json", "summary.json"):  # as versions before the rename wrote them
        data = json.loads((out / name).read_text())
        settings = data.get("settings", data)
        settings["cfg_scale"] = settings.pop("w")
        if name == "summary.json":
            data["cfg_scale"] = data.pop("w")
        (out / name).write_text(json.dumps(data))
    again = evaluate(ws, "m", [testset], W1)[1]
    assert (again.w, again.settings["w"], again.metrics) == (1.0, 1.0, first.metrics)


def test_an_interrupted_evaluation_continues_where_it_stopped(fresh, testset):
    ws, first = fresh
    out = folder(first)
    (out / "summary.json").unlink()
    (out / "scores.csv").unlink()
    (out / "enhanced" / "tiny_test_002.wav").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (out / "enhanced").glob("*.wav")}
    second = evaluate(ws, "m", [testset], W1)[1]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # not recomputed
    assert second.metrics == first.metrics  # the recomputed file is the same, so are the scores


def test_a_finished_point_is_redone_when_a_noisy_file_was_replaced(tmp_path, model_dir):
    """A noisy file replaced by another recording of the same rate and length (the manifest unchanged) must not be
    answered with the scores of the old one."""
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    manifest = make_manifest(tmp_path / "data", count=2, name="t", split="test")
    first = evaluate(ws, "m", [manifest], W1)[1]
    enhanced = [read_wav(folder(first) / "enhanced" / f"t_00{i}.wav") for i in range(2)]
    noisy = tmp_path / "data" / "t" / "noisy" / "t_001.wav"
    write_wav(noisy, np.random.default_rng(7).normal(0, 0.1, len(read_wav(noisy))).astype(np.float32), 16000)
    again = evaluate(ws, "m", [manifest], W1)[1]
    assert (first.timing["enhanced"], again.timing["enhanced"]) == (2.0, 1.0)
    np.testing.assert_array_equal(read_wav(folder(again) / "enhanced" / "t_000.wav"), enhanced[0])
    assert not np.allclose(read_wav(folder(again) / "enhanced" / "t_001.wav"), enhanced[1])
    assert evaluate(ws, "m", [manifest], W1)[1].created == again.created  # now finished with today's files


def test_a_test_set_given_twice_is_evaluated_and_listed_once(fresh, testset):
    ws, first = fresh
    summaries = evaluate(ws, "m", [testset, testset], W1)
    assert [(s.testset.id, s.label) for s in summaries] == [(first.testset.id, "noisy"), (first.testset.id, "w1")]


def test_other_settings_are_refused_unless_overwrite(fresh, testset):
    ws, first = fresh
    with pytest.raises(EvaluationError, match="other sampler.*--overwrite"):
        evaluate(ws, "m", [testset], EvaluateOptions(settings=EnhanceSettings(steps=3), dnsmos=False))
    evaluate(ws, "m", [testset], EvaluateOptions(settings=EnhanceSettings(steps=3), overwrite=True, dnsmos=False))
    settings = json.loads((folder(first) / "settings.json").read_text())
    assert settings["sampler"]["steps"] == 3


def test_results_of_older_metrics_are_rescored_from_the_enhanced_files_they_kept(fresh, testset):
    ws, first = fresh
    noisy_file = ws.testset_dir(first.testset.id) / "noisy_summary.json"
    for path in (folder(first) / "settings.json", folder(first) / "summary.json", noisy_file):
        stored = json.loads(path.read_text())
        (stored.get("settings", stored)).pop("metrics_version")  # as written before metrics were versioned
        path.write_text(json.dumps(stored))
    kept = {p: p.stat().st_mtime_ns for p in (folder(first) / "enhanced").iterdir()}
    again = evaluate(ws, "m", [testset], W1)
    assert read_summary(noisy_file).settings["metrics_version"] == METRICS_VERSION
    assert again[1].settings["metrics_version"] == METRICS_VERSION and again[1].metrics == first.metrics
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # scored again, not enhanced again


def test_fewer_metrics_reuse_a_result_and_more_rescore_it(tmp_path, model_dir):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    testset = make_manifest(tmp_path / "data", count=1, name="one", split="test")  # DNSMOS: 0.35 s a clip
    first = evaluate(ws, "m", [testset], W1_DNSMOS)[1]
    assert {"dnsmos_ovrl", "pesq"} <= set(first.metrics)
    fewer = evaluate(ws, "m", [testset], W1)
    assert fewer[1].metrics == first.metrics  # the result with DNSMOS serves a call without it
    settings, summary = folder(first) / "settings.json", folder(first) / "summary.json"
    stored = json.loads(settings.read_text())
    settings.write_text(json.dumps({**stored, "metrics": ["pesq", "estoi", "si_sdr"]}))  # as if scored without
    before = summary.stat().st_mtime_ns
    again = evaluate(ws, "m", [testset], W1_DNSMOS)[1]
    assert summary.stat().st_mtime_ns != before  # scored again, with DNSMOS
    assert again.metrics == first.metrics and again.settings["metrics"] == list(first.settings["metrics"])


def test_a_failing_metric_is_missing_for_its_row_and_counted(tmp_path):
    manifest = make_manifest(tmp_path, count=3, seconds=1.0, name="with_silence", split="test")
    write_wav(tmp_path / "with_silence" / "clean" / "with_silence_001.wav", np.zeros(16000, np.float32), 16000)
    testset, rows = load_testset(manifest)
    summary = score_noisy(Workspace(tmp_path / "ws"), testset, rows, metrics=("pesq", "si_sdr"))
    assert (summary.metrics["pesq"].n, summary.metrics["pesq"].missing) == (2, 1)
    assert (summary.metrics["si_sdr"].n, summary.metrics["si_sdr"].missing) == (2, 1)
    errors = read_scores(folder(summary) / "noisy_scores.csv")["errors"]
    assert "silent reference" in errors[1] and errors[0] == ""


def test_testset_ids_follow_the_manifest_file_and_contents(tmp_path):
    a = make_manifest(tmp_path / "a", count=2, name="test")
    b = make_manifest(tmp_path / "b", count=2, name="test", seed=5)  # same text, other audio
    first = load_testset(a)[0].id
    assert load_testset(a)[0].id == first != load_testset(b)[0].id and first.startswith("test-")
    manifest = read_manifest(a)
    manifest.rows[0].snr_db = 10.0
    write_manifest(a, manifest.rows)
    assert load_testset(a)[0].id != first


def test_recordings_without_clean_files_are_scored_with_dnsmos_alone(tmp_path, model_dir, caplog):
    manifest = read_manifest(make_manifest(tmp_path, count=2, seconds=1.0, name="field", split="test"))
    manifest.rows[1].clean = None  # one row from the field, one with its clean speech
    write_manifest(manifest.path, manifest.rows)
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    with pytest.raises(EvaluationError, match="field.jsonl: rows without a clean file .* drop --no-dnsmos"):
        evaluate(ws, "m", [manifest.path], W1)
    with caplog.at_level("INFO", logger="ncse"):
        noisy, enhanced = evaluate(ws, "m", [manifest.path], W1_DNSMOS)
    assert "field.jsonl: 1 of 2 rows have no clean file, scored with DNSMOS alone" in caplog.text
    for summary in (noisy, enhanced):
        scores = read_scores(folder(summary) / ("noisy_scores.csv" if summary.is_noisy else "scores.csv"))
        assert scores["pesq"].isna().tolist() == [False, True]
        assert scores.loc[1, "errors"].startswith("pesq: no clean reference")
        assert np.isfinite(scores[["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"]].to_numpy()).all()
        assert (summary.metrics["pesq"].n, summary.metrics["dnsmos_ovrl"].n) == (1, 2)
    report = api.report(workdir=ws.root).markdown
    assert "DNSMOS SIG ↑ | DNSMOS BAK ↑ | DNSMOS OVRL ↑" in report
    assert "DNSMOS SIG vs input | DNSMOS BAK vs input | DNSMOS OVRL vs input" in report


def test_a_stale_manifest_is_refused_before_any_work(tmp_path, model_dir):
    path = make_manifest(tmp_path, count=2, seconds=1.0, name="stale", split="test")
    noisy = read_manifest(path).resolve(read_manifest(path).rows[1].noisy)
    for file in (noisy, noisy.parent.parent / "clean" / noisy.name):  # both replaced by 0.5 s versions
        write_wav(file, 0.1 * np.ones(8000, np.float32), 16000)
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    with pytest.raises(AudioError, match="stale_001.wav: 16000 Hz, 8000 samples, but stale.jsonl row "
                                         "'stale_001' says 16000 Hz, 16000 samples"):
        evaluate(ws, "m", [path], W1)
    assert not list(ws.root.rglob("*.json"))


def test_a_reference_shared_by_several_rows_is_checked_once(tmp_path, model_dir, monkeypatch):
    import ncse_cli.inference.enhancer as enhance_module
    from ncse_cli.evaluation.run import check_testset_audio
    from ncse_cli.inference.enhancer import Enhancer

    manifest = read_manifest(make_manifest(tmp_path, count=3, seconds=0.5, name="shared", split="test"))
    for row in manifest.rows:
        row.noise_ref = manifest.rows[0].noise_ref
    write_manifest(manifest.path, manifest.rows)
    reads = []
    real = enhance_module.load_audio
    monkeypatch.setattr(enhance_module, "load_audio", lambda path, *a, **k: reads.append(path) or real(path, *a, **k))
    check_testset_audio(read_manifest(manifest.path), Enhancer.load(model_dir))
    ref = manifest.resolve(manifest.rows[0].noise_ref)
    assert reads.count(ref) == 1 and len(reads) == 4  # three noisy files, one reference


def _wait_for(predicate, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
def test_two_concurrent_evaluate_processes_wait_for_each_other_and_lose_nothing(tmp_path, model_dir, testset,
                                                                                 evaluated):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("cond"))
    testset_id = evaluated[1][1].testset.id
    command = [sys.executable, "-m", "ncse_cli", "evaluate", "--model", "cond", "--testset", str(testset),
               "--cfg-scale", "1", "--steps", "1", "--workdir", str(ws.root), "--no-progress", "--no-dnsmos"]
    logs = [tmp_path / f"stderr{i}.txt" for i in range(2)]
    with folder_lock(ws.testset_dir(testset_id), "holding the test set for this test"):
        procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w")) for log in logs]
        _wait_for(lambda: all("waiting for another process" in log.read_text() for log in logs))
        assert all(p.poll() is None for p in procs)  # both blocked on the lock we hold
    assert [p.wait(timeout=600) for p in procs] == [0, 0], [log.read_text() for log in logs]
    summary = read_summary(eval_dir(ws.model_dir("cond"), testset_id, "w1") / "summary.json")
    alone = evaluated[1][1].metrics  # same weights and seed: the numbers of a run alone (up to thread rounding)
    assert all(summary.metrics[m].mean == pytest.approx(alone[m].mean, rel=1e-4) for m in alone)
    assert len(pd.read_csv(ws.testset_dir(testset_id) / "noisy_scores.csv")) == 3
    assert len(read_scores(summary.path.parent / "scores.csv")) == 3 and not list(ws.root.rglob("*.tmp*"))


def _table_row(markdown: str, section: str, first_cells: list[str]) -> list[str]:
    """The cells of the first table row under heading ``section`` that starts with ``first_cells``."""
    text = markdown[markdown.index(section):]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:len(first_cells)] == first_cells:
            return cells
    raise AssertionError(f"no row {first_cells} under {section}")


def test_the_report_shows_the_stored_numbers(evaluated, testset):
    from ncse_cli.report import build_report

    ws, cond, base = evaluated
    markdown = build_report(ws, summary_metrics=("pesq", "si_sdr")).markdown
    section = f"### {cond[0].testset.name} "
    for summary, first in ((cond[0], ["Noisy input", "-"]), (cond[1], ["cond", "1"]), (cond[2], ["cond", "3"]),
                           (base[1], ["base", "-"])):
        scores = read_scores(folder(summary) / ("noisy_scores.csv" if summary.is_noisy else "scores.csv"))
        cells = _table_row(markdown, section, first)
        for cell, metric, digits in zip(cells[2:], ("pesq", "estoi", "si_sdr"), (2, 2, 1)):
            assert cell.split(" ± ")[0] == f"{scores[metric].mean():.{digits}f}"
    row = _table_row(markdown, "## Comparison summary", ["cond (w=3)"])
    assert row[1:3] == [f"{cond[2].metrics['pesq'].mean:.2f}", f"{cond[2].metrics['si_sdr'].mean:.1f}"]


def test_rows_without_a_reference_are_counted_and_labelled_in_conditioned_results(tmp_path, model_dir):
    """Under the auto condition a row whose pauses are too short for a reference is enhanced with the null
    condition: its summary counts it, the tables say how many of n, the report says what it means."""
    from ncse_cli import api
    from ncse_cli.report import build_report

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    manifest = make_manifest(tmp_path / "data", count=3, name="t", split="test", seconds=1.0)
    options = EvaluateOptions(ws=(1.0,), settings=EnhanceSettings(steps=1), dnsmos=False,
                              conditions=(ReferenceCondition(), ReferenceCondition("auto"), ReferenceCondition("null")))
    noisy, matched, auto, null = evaluate(ws, "m", [manifest], options)
    sources = json.loads((folder(auto) / "references.json").read_text())["rows"]
    without = sum("reason" in source for source in sources.values())  # why no reference could be cut
    assert without > 0  # one-second mixtures of continuous speech leave no pause of the trained reference length
    assert [s.unreferenced for s in (noisy, matched, auto, null)] == [0, 0, without, 0]
    assert read_summary(auto.path).unreferenced == without
    header, cells = api.summary_rows([noisy, matched, auto, null])
    assert header[-1] == "no ref" and [row[-1] for row in cells] == ["", "", f"{without}/3", ""]
    markdown = build_report(ws).markdown
    assert _table_row(markdown, "### t ", ["m", "1", "auto"])[-1] == f"{without}/3"
    assert f"averaged into these conditioned results: m w1.auto: {without}/3." in markdown


def test_a_test_set_without_references_is_evaluated_once_unconditionally(tmp_path, model_dir):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    bare = make_manifest(tmp_path / "data", count=2, name="bare", split="test", with_ref=False)
    summaries = evaluate(ws, "m", [bare], W1)
    assert [(s.label, s.unreferenced) for s in summaries] == [("noisy", 0), ("w-", 0)]


def test_reading_the_inputs_up_front_reports_progress(evaluated, testset, model_dir, tmp_path):
    from ncse_cli import api

    ws, _, _ = evaluated
    progress = ProgressLog()
    evaluate(ws, "cond", [testset], W1, progress)
    assert [report[:2] for report in progress.tasks["check tiny_test"]] == [(1, 3), (2, 3), (3, 3)]
    progress = ProgressLog()
    api.enhance(str(model_dir), testset, tmp_path / "out", settings=EnhanceSettings(steps=1), progress=progress)
    assert list(progress.tasks) == ["check tiny_test", "enhance tiny_test"]
    assert progress.tasks["check tiny_test"][-1][:2] == (6, 6)  # three noisy files and three references
    progress = ProgressLog()
    api.enhance(str(model_dir), testset, tmp_path / "out", settings=EnhanceSettings(steps=1), progress=progress)
    assert progress.tasks["check tiny_test"] == [(0, 0, None)]  # all done: nothing to read


def test_the_report_says_when_rows_of_one_table_used_other_sampler_steps(evaluated, testset, tmp_path):
    from ncse_cli.report import build_report

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(evaluated[0].root, ws.root)
    assert "Sampler settings differ" not in build_report(ws).markdown
    evaluate(ws, "cond", [testset], EvaluateOptions(ws=(5.0,), settings=EnhanceSettings(steps=2), dnsmos=False))
    markdown = build_report(ws).markdown
    assert "Sampler settings differ between rows: base w -: pc 1 steps; cond w 1: pc 1 steps; cond w 3: pc 1 " \
           "steps; cond w 5: pc 2 steps." in markdown


def _section(markdown: str, title: str) -> list[list[str]]:
    """The table rows under ``## title`` (cells stripped), header and rule excluded."""
    part = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in part.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_the_report_pairs_every_model_with_its_input_and_the_conditioned_ones_with_the_baseline(evaluated):
    """The differences shown are the means of per-utterance differences read back from the scores files, and
    the verdict follows the interval."""
    from ncse_cli.evaluation.scoring import read_scores
    from ncse_cli.report import build_report

    ws, cond, base = evaluated
    markdown = build_report(ws).markdown
    scores = {(s.model, s.label): read_scores(s.path.parent / "scores.csv") for s in [*cond, *base]
              if not s.is_noisy}
    noisy = read_scores(cond[0].path.parent / "noisy_scores.csv")
    for row in _section(markdown, "Against the noisy input"):
        mine = scores[(row[1], "w-" if row[2] == "-" else f"w{row[2]}")]
        expected = (mine.set_index("id")["si_sdr"] - noisy.set_index("id")["si_sdr"]).mean()
        assert float(row[5].split(" ")[0]) == pytest.approx(expected, abs=0.051)
        assert ("worse than the input" in row[-1]) == all(cell.split("]")[0].split(", ")[1].startswith("-")
                                                           for cell in row[3:-1])  # every metric, DNSMOS too
    rows = _section(markdown, "Against the unconditioned baseline")
    assert [(r[1], r[2], r[3]) for r in rows] == [("cond", "1", "base"), ("cond", "3", "base")]
    for row in rows:
        expected = (scores[("cond", f"w{row[2]}")].set_index("id")["si_sdr"]
                    - scores[("base", "w-")].set_index("id")["si_sdr"]).mean()
        assert float(row[6].split(" ")[0]) == pytest.approx(expected, abs=0.051)


def test_a_test_set_too_long_to_score_in_little_memory_is_warned_about(tmp_path, caplog):
    import dataclasses
    import logging

    from ncse_cli.evaluation.run import _say_if_scoring_is_large

    manifest = read_manifest(make_manifest(tmp_path, count=2, name="t", split="test"))
    long = dataclasses.replace(manifest.rows[1], num_samples=16000 * 1200)  # as a 20-minute row would say
    with caplog.at_level(logging.WARNING, logger="ncse"):
        _say_if_scoring_is_large(manifest, 2)
        assert not caplog.records
        manifest.rows[1] = long
        _say_if_scoring_is_large(manifest, 2)
    assert "row 't_001' is 1200 s long; scoring reads each utterance whole, about 3.9 GB" in caplog.text
