"""``ncse demo`` end to end on a miniature corpus: both models trained side by side in worker processes,
evaluated, reported from the stored files; a re-run reuses everything."""

import dataclasses

from ncse_cli.data.prepare import DemoConfig
from ncse_cli.demo import BASELINE, CONDITIONED, DemoOptions, run_demo
from ncse_cli.evaluation.scoring import read_scores

MINI = DemoOptions(train_steps=2, sampler_steps=2, corpus=DemoConfig(num_train=4, num_valid=1, num_test=2,
                                                                      seconds=0.8, num_talkers=4))


def test_demo_runs_the_pipeline_and_reports_the_stored_numbers(tmp_path):
    result = run_demo(tmp_path / "demo", MINI)
    labels = [(s.model, s.label) for s in result.summaries]
    assert labels == [(None, "noisy"), (CONDITIONED, "w1"), (CONDITIONED, "w3"), (BASELINE, "w-")]
    assert result.report_path.read_text() == result.report.markdown
    for summary in result.summaries[1:]:
        pesq = read_scores(summary.path.parent / "scores.csv")["pesq"].mean()
        assert f"| {summary.model} | {summary.scale_text} | {pesq:.2f}" in result.report.markdown
    assert {name: run.steps for name, run in result.runs.items()} == {CONDITIONED: 2, BASELINE: 2}
    weights = result.workspace.model_dir(CONDITIONED) / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = run_demo(tmp_path / "demo", MINI)
    assert weights.stat().st_mtime_ns == stamp and again.report.markdown.split("\n", 3)[3] == \
        result.report.markdown.split("\n", 3)[3]
    # other sampler settings in the demo's own workspace replace its results instead of being refused
    other = run_demo(tmp_path / "demo", dataclasses.replace(MINI, sampler_steps=3))
    assert [s.settings["sampler"]["steps"] for s in other.summaries[1:]] == [3, 3, 3]
