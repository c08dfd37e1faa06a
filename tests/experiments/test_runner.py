"""The runner on a miniature experiment (2 training steps, 2 sampler steps, 3 test utterances of 2 noise types):
it prepares, trains, evaluates and reports; a second run does nothing; a lost result is redone alone; the status
table and the report show what was stored (its figures: test_report_figures.py)."""

from __future__ import annotations

import pytest

from ncse_cli.evaluation.conditions import ConditionError
from ncse_cli.evaluation.results import SUMMARY_FILE
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.experiments import runner
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import DONE, EVALUATE, PENDING, REPORT, build_plan
from ncse_cli.experiments.status import status_rows

#: one worker builds the session fixture these tests share (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("experiment-miniature")


def recorder(monkeypatch, calls: list, real: bool = False) -> None:
    """Replace training and evaluation by functions that record their calls (and run the real evaluation when
    ``real``)."""
    evaluate = runner.evaluate_items
    monkeypatch.setattr(runner, "train_model", lambda root, name, cfg, progress=None: calls.append(("train", name)))

    def record(items):
        calls.extend(("evaluate", name, point.label) for _, name, _, point, *_ in items)
        if real:
            evaluate(items)
    monkeypatch.setattr(runner, "evaluate_items", record)


@pytest.mark.slow
def test_a_run_does_every_unit_of_the_plan(finished):
    spec, layout, before, result = finished
    assert {u.state for u in before.units} == {PENDING}
    assert {u.key: u.state for u in result.after.units} == {u.key: DONE for u in before.units}
    labels = {(u.task.run.name, u.task.point.label) for u in result.after.of(EVALUATE)}
    assert labels == {("cnn-s0", "w1"), ("cnn-s0", "w3"), ("cnn-s0", "w-.null"), ("uncond-s0", "w-")}
    assert set(result.seconds) == set(runner.STAGES)


def test_a_second_run_does_nothing(finished, monkeypatch):
    spec, layout, _, result = finished
    calls: list = []
    recorder(monkeypatch, calls)
    stamp = layout.report.stat().st_mtime_ns
    again = runner.run_experiment(spec, "demo", layout, Machine())
    assert calls == [] and all(u.state == DONE for u in again.after.units)
    assert again.report.markdown.split("\n", 3)[3] == result.report.markdown.split("\n", 3)[3]
    assert layout.report.stat().st_mtime_ns >= stamp


def test_a_lost_result_is_redone_alone(finished, monkeypatch):
    spec, layout, _, _ = finished
    plan = build_plan(spec, "demo", layout, Machine())
    unit = next(u for u in plan.of(EVALUATE) if u.task.point.label == "w3")
    folder = next(unit.task.directory.glob("eval/*/w3"))
    (folder / SUMMARY_FILE).unlink()
    calls: list = []
    recorder(monkeypatch, calls, real=True)
    again = runner.run_experiment(spec, "demo", layout, Machine(), report=False)  # the next run writes it
    assert calls == [("evaluate", "cnn-s0", "w3")]
    assert all(u.state == DONE for u in again.after.units if u.kind != REPORT)


def test_a_failing_evaluation_leaves_the_others_done_and_says_why_until_it_succeeds(finished, monkeypatch):
    spec, layout, _, _ = finished
    plan = build_plan(spec, "demo", layout, Machine())
    lost = {label: next(u for u in plan.of(EVALUATE) if u.task.point.label == label) for label in ("w3", "w-.null")}
    for unit in lost.values():
        next(unit.task.directory.glob(f"eval/*/{unit.task.point.label}/{SUMMARY_FILE}")).unlink()
    real = runner.evaluate_points

    def failing(workspace, name, points, options, enhancer=None):
        if points[0][1][0].label == "w3":
            raise ConditionError("test.jsonl: this condition cannot be served")
        return real(workspace, name, points, options, enhancer=enhancer)
    monkeypatch.setattr(runner, "evaluate_points", failing)
    after = runner.run_experiment(spec, "demo", layout, Machine()).after
    assert after.unit(lost["w-.null"].key).state == DONE  # the other evaluation was not stopped
    assert [u.key for u in after.failed()] == [lost["w3"].key]
    assert after.unit(lost["w3"].key).note == "failed last time: test.jsonl: this condition cannot be served"
    assert "this condition cannot be served" in layout.report.read_text()  # the report's missing work says why
    monkeypatch.setattr(runner, "evaluate_points", real)
    again = runner.run_experiment(spec, "demo", layout, Machine()).after
    assert all(u.state == DONE for u in again.units) and not again.failed()
    assert not list(lost["w3"].task.directory.glob("eval/.failed/*"))


def test_status_rows_count_trained_steps_and_finished_points(finished, tmp_path):
    spec, layout, before, result = finished
    rows = {row.id: row for row in status_rows(result.after)}
    assert rows["E-1"].trained == "2/2" and rows["E-1"].missing == ""
    # E-1 needs its w 1, the null condition of the study (run at w 1) and the baseline
    assert (rows["E-1"].evaluated, rows["E-1"].evaluations) == (3, 3)
    assert rows["E-1"].conditions == ("w1", "w-.null")
    assert (rows["E-3"].evaluated, rows["E-3"].evaluations, rows["E-3"].conditions) == (2, 2, ("w3",))
    fresh = {row.id: row for row in status_rows(before)}
    assert fresh["E-1"].trained == "0/2" and fresh["E-1"].missing == "train cnn-s0, uncond-s0; 3 evaluations"


def test_the_report_shows_the_stored_numbers_and_figures(finished):
    spec, layout, _, result = finished
    text = layout.report.read_text()
    for unit in result.after.of(EVALUATE):
        scores = read_scores(next(unit.task.directory.glob(f"eval/*/{unit.task.point.label}")) / "scores.csv")
        if unit.task.point.label == "w3":
            assert f"| E-3 | cnn | 3 | mini test | 3 | {scores['pesq'].mean():.2f} ±" in text
    assert "E-1 - uncond, mini test" in text and "w-.null" not in text.split("## Reference conditions")[0]
    assert "cnn, mini test, null" in text and "## Success criteria" in text
    assert "E-3 (mini test) vs uncond" in text
    assert "E-1 - uncond, mini test, by noise type" in text
