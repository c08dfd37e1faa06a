"""Experiment files: every group and ID of the research plan has its entry, each file expands into the right
models and evaluation points, the full scale trains the recipes as written, and malformed files fail with one
line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ncse_cli.cli import app
from ncse_cli.config import ConfigError, component_name, to_dict
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import EVALUATE, TRAIN, Layout, build_plan
from ncse_cli.experiments.spec import load_experiment
from ncse_cli.experiments.status import work_rows
from ncse_cli.training.config import resolve_run_config

PLAN = Path(__file__).resolve().parents[2] / "recipes" / "plan"
GROUPS = ("cfg", "clap", "panns", "xattn", "comb", "ablation")
#: Every experiment ID the plan (noise_conditioning_plan.md, sections 4-5) names.
PLAN_IDS = {*(f"CFG-0{i}" for i in range(1, 7)), "CLAP-01", "CLAP-02", "CLAP-03", "CLAP-CFG", "PANNs-01",
            "XAttn-01", "XAttn-02", "XAttn-03", "XAttn-CFG", "COMB-01", "COMB-02", "COMB-03"}


def plan_of(group: str, scale: str, tmp_path: Path):
    spec = load_experiment(PLAN / f"{group}.yaml")
    return build_plan(spec, scale, Layout.for_experiment(tmp_path, scale, spec.group), Machine())


def points(plan, model: str) -> set[str]:
    return {u.task.point.label for u in plan.of(EVALUATE) if u.task.run.key == model}


def test_every_group_and_id_of_the_plan_has_an_entry():
    files = {p.stem for p in PLAN.glob("*.yaml") if not p.name.startswith("_")}
    assert files == set(GROUPS)
    ids = [key for group in GROUPS for key in load_experiment(PLAN / f"{group}.yaml").experiments]
    assert PLAN_IDS <= set(ids)
    assert len(ids) == len(set(ids)), "an ID appears in two files"


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("scale", ["demo", "full"])
def test_every_group_expands_at_both_scales(group, scale, tmp_path):
    plan = plan_of(group, scale, tmp_path)
    spec = plan.spec
    trained = {u.task.run.key for u in plan.of(TRAIN)}
    assert {e.model for e in spec.experiments.values()} <= trained
    for key, entry in spec.experiments.items():  # each ID is evaluated at its w on each of its suites
        evals = [u for u in plan.of(EVALUATE) if u.task.run.key == entry.model and u.task.suite in entry.suites]
        assert {u.task.suite for u in evals} == set(entry.suites), key
        manifests = {plan.layout.data / m for s in entry.suites for m in plan.scale.suites[s].manifests}
        assert {u.task.manifest for u in evals} == manifests, key
    assert set(plan.runs) == {u.task.run.name for u in plan.of(TRAIN)}


def test_cfg_dry_run_lists_models_scales_and_conditions(tmp_path):
    plan = plan_of("cfg", "demo", tmp_path)
    assert {u.task.run.name for u in plan.of(TRAIN)} == {"cfg-p0.1-s0", "cfg-p0.2-s0", "nc-s0", "uncond-s0"}
    conditions = {"w-.null", "w1.same-type", "w1.mismatched", "w1.white", "w1.oracle"}
    assert points(plan, "cfg-p0.2") == {"w1", "w3", "w5"} | conditions
    assert points(plan, "nc") == {"w1"}
    assert points(plan, "uncond") == {"w-"}  # neither w nor a reference changes an unconditioned model
    assert {u.task.out_dir.name for u in plan.of("prepare")} == {"vb", "ood"}  # only the folders it uses
    assert plan.seconds() > 0 and all(u.state == "pending" for u in plan.units)
    work = {row.work: row for row in work_rows(plan)}
    assert work["evaluate cfg-p0.2-s0 (32 points)"].note.split(", ")[:3] == ["w1", "w3", "w5"]
    assert work["evaluate uncond-s0 (4 points)"].note == "w-" and "train nc-s0" in work


def test_ablation_studies_every_reference_condition_and_length(tmp_path):
    plan = plan_of("ablation", "demo", tmp_path)
    expected = {"w1", "w-.null", "w1.same-type", "w1.mismatched", "w1.white", "w1.oracle", "w1.oracle-0.25s",
                "w1.oracle-0.5s", "w1.oracle-1s", "w1.oracle-2s"}
    assert points(plan, "nc") == expected and points(plan, "cfg-p0.2") == expected


def test_full_scale_without_corpora_is_blocked_with_the_reason_and_still_estimated(tmp_path):
    plan = plan_of("cfg", "full", tmp_path)
    train = plan.unit("train:cfg-p0.2-s0")
    assert train.state == "blocked" and "voicebank" in train.note
    assert plan.seconds("blocked") > 24 * 3600  # 3 seeds x 4 models x 50k steps is days, not minutes
    clap = plan_of("clap", "full", tmp_path).unit("train:clap-frozen-s0")
    assert clap.state == "blocked" and "630k-audioset-best.pt" in clap.note


@pytest.mark.parametrize("group,model,recipe", [("cfg", "cfg-p0.2", "cfg_p0.2.yaml"),
                                                ("cfg", "uncond", "uncond_baseline.yaml"),
                                                ("comb", "comb-02", "comb_02.yaml"),
                                                ("xattn", "xattn", "xattn_01.yaml")])
def test_full_scale_trains_the_recipe_as_written(group, model, recipe, tmp_path):
    run = plan_of(group, "full", tmp_path).runs[f"{model}-s1"]
    written = to_dict(resolve_run_config(PLAN.parent / recipe))
    trained = to_dict(run.cfg)
    assert trained["train"].pop("seed") == 1
    written["train"].pop("seed")
    assert {k: trained[k] for k in ("model", "train", "sampler")} == \
        {k: written[k] for k in ("model", "train", "sampler")}


def test_demo_scale_shrinks_every_model_to_the_demo_size(tmp_path):
    plan = plan_of("xattn", "demo", tmp_path)
    for run in plan.runs.values():
        assert component_name(run.cfg.model.backbone) == "tiny" and run.cfg.train.steps == 250
    assert component_name(plan.runs["xattn-s0"].cfg.model.encoder) == "sequence"
    assert plan.runs["xattn-cfg-s0"].cfg.train.p_uncond == 0.2


MINIMAL = """
group: g
title: t
models: {a: {settings: {model: {encoder: none}}}}
experiments: {X-1: {model: a, suites: [s]}}
scales:
  demo:
    data: {vb: {recipe: demo}}
    suites: {s: {kind: in-distribution, manifests: [vb/test.jsonl]}}
"""


@pytest.mark.parametrize("change,message", [
    (("title: t", "title: t\ncolour: red"), "colour"),
    (("{model: a, suites", "{model: b, suites"), "experiment X-1 names model 'b'"),
    (("suites: [s]", "suites: [nope]"), "names suite 'nope'"),
    (("suites: [s]", "suites: [s], w: -1"), "w must be finite and non-negative"),
    (("manifests: [vb/test.jsonl]", "manifests: [other/test.jsonl]"), "data folder 'other'"),
    (("title: t", "title: t\nconditions: {conditions: [sideways]}"), "sideways"),
    (("title: t", "title: t\ncriteria: [{criterion: speed, against: a}]"), "unknown criterion 'speed'"),
    (("recipe: demo", "recipe: cooking"), "cooking"),
    (("group: g", "extends: loop.yaml\ngroup: g"), "loops back"),
])
def test_malformed_files_fail_with_one_line_naming_the_file(change, message, tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    text = str(caught.value)
    assert message in text and str(path.name) in text and "\n" not in text


def test_cli_prints_one_red_line_for_a_malformed_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL.replace("suites: [s]", "suites: [nope]"))
    result = CliRunner().invoke(app, ["experiment", "status", str(path), "--scale", "demo", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "nope" in lines[0] and "bad.yaml" in result.output.replace("\n", "")
