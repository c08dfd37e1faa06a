"""``ncse demo`` end to end on a miniature corpus, run by the experiment runner: both models trained side by side
in worker processes with the demo's configs, evaluated, reported from the stored files; a re-run with other
sampler steps re-evaluates without preparing or training again."""

import dataclasses
import re

import pytest

from ncse_cli.data.prepare import DemoConfig
from ncse_cli.demo import BASELINE, CONDITIONED, DemoOptions, demo_run_config, run_demo
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.model_dir import CONFIG_FILE
from ncse_cli.training.config import load_run_config

MINI = DemoOptions(train_steps=2, sampler_steps=2, ws=(3.0,),
                   corpus=DemoConfig(num_train=4, num_valid=1, num_test=3, seconds=0.8, num_talkers=4))


@pytest.mark.slow
@pytest.mark.xdist_group("forkserver")  # one fork server for the pool tests: see tests/conftest.py
def test_demo_runs_the_pipeline_and_reports_the_stored_numbers(tmp_path):
    result = run_demo(tmp_path / "demo", MINI)
    conditioned, baseline = result.names[CONDITIONED], result.names[BASELINE]
    assert (conditioned, baseline) == (f"{CONDITIONED}-s0", f"{BASELINE}-s0")  # the runner's <model>-s<seed>
    labels = [(s.model, s.label) for s in result.summaries]
    assert labels == [(None, "noisy"), (conditioned, "w3"), (baseline, "w-")]  # several ws: the plan test below
    assert result.report_path == tmp_path / "demo" / "report.md"
    assert result.report_path.read_text() == result.report.markdown
    assert result.report_path.with_suffix(".html").stat().st_size > 0
    experiment = result.experiment_report.read_text()  # the group report: embedding diagnosis and its map
    assert result.experiment_report == tmp_path / "demo" / "experiment" / "report.md"
    assert "## Embedding diagnosis" in experiment and f"**{CONDITIONED}**" in experiment
    for link in re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", experiment):
        assert (result.experiment_report.parent / link).stat().st_size > 1000
    assert re.search(r"!\[embeddings_", experiment)
    assert result.workspace.root == tmp_path / "demo" / "runs"
    for name, flag in ((conditioned, True), (baseline, False)):
        saved = load_run_config(result.workspace.model_dir(name) / CONFIG_FILE, saved=True)
        assert saved == demo_run_config(tmp_path / "demo" / "data", MINI, flag)
    for summary in result.summaries[1:]:
        pesq = read_scores(summary.path.parent / "scores.csv")["pesq"].mean()
        assert f"| {summary.model} | {summary.scale_text} | {pesq:.2f}" in result.report.markdown
    assert {name: run.steps for name, run in result.runs.items()} == {conditioned: 2, baseline: 2}
    weights = result.workspace.model_dir(conditioned) / "model.safetensors"
    stamp, data = weights.stat().st_mtime_ns, (tmp_path / "demo" / "data" / "test.jsonl").stat().st_mtime_ns
    # a re-run reuses the corpus and the trained models (that it does nothing when nothing changed is the
    # runner's, test_runner.py); other sampler settings in the demo's own workspace replace its results instead
    # of being refused
    other = run_demo(tmp_path / "demo", dataclasses.replace(MINI, sampler_steps=1))
    assert [s.settings["sampler"]["steps"] for s in other.summaries[1:]] == [1, 1]
    assert (weights.stat().st_mtime_ns, (tmp_path / "demo" / "data" / "test.jsonl").stat().st_mtime_ns) == \
        (stamp, data)


def test_the_demo_plan_holds_both_models_and_follows_the_demo_constants(tmp_path, monkeypatch):
    """Before any work: one data folder, both models with the demo's configs, the conditioned one evaluated at
    each w and the baseline once; a change of DEMO_MODEL or of the corpus changes the plan."""
    from ncse_cli import demo
    from ncse_cli.config import component_name, to_dict
    from ncse_cli.experiments.plan import Layout, build_plan

    monkeypatch.setattr(demo, "DEMO_MODEL", {**demo.DEMO_MODEL, "encoder": {"name": "cnn", "dim": 32},
                                             "conditioning": {"injection": "add"}})
    options = dataclasses.replace(MINI, seed=3, ws=(0.5, 2.0))
    layout = Layout(tmp_path, tmp_path / "runs", tmp_path)
    plan = build_plan(demo.demo_experiment(options), "demo", layout)
    assert [u.label for u in plan.units] == [
        "prepare data (demo)", f"train {CONDITIONED}-s3", f"train {BASELINE}-s3",
        f"evaluate {CONDITIONED}-s3 test w0.5.seed3", f"evaluate {CONDITIONED}-s3 test w2.seed3",
        f"evaluate {BASELINE}-s3 test w-.seed3", f"report {tmp_path / 'report.md'}"]
    assert plan.units[0].task.options == {**to_dict(MINI.corpus), "seed": 3}  # prepare_demo's resolved config
    conditioned, baseline = plan.runs[f"{CONDITIONED}-s3"].cfg, plan.runs[f"{BASELINE}-s3"].cfg
    assert (conditioned.model.encoder.dim, conditioned.train.p_uncond, conditioned.train.seed) == (32, 0.2, 3)
    assert component_name(baseline.model.encoder) == "none" and baseline.train.p_uncond == 0.0
    assert conditioned.sampler.steps == baseline.sampler.steps == MINI.sampler_steps


def test_a_demo_folder_prepared_with_other_noise_kinds_is_not_taken_for_the_demo_corpus(tmp_path):
    from ncse_cli.data.prepare import prepare_demo
    from ncse_cli.demo import DemoError

    prepare_demo(tmp_path / "demo" / "data", MINI.seed, config=dataclasses.replace(MINI.corpus, noise_kinds=("white",)))
    with pytest.raises(DemoError, match=r"prepared with other noise_kinds; move it away"):
        run_demo(tmp_path / "demo", MINI)
