"""The miniature experiment the runner and report tests share, run once per session (the tests' tiny model, 2
training steps, 2 sampler steps, 3 test utterances of 2 noise types; no DNSMOS)."""

from __future__ import annotations

import json

import pytest

from ncse_cli.experiments import runner
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import Layout, build_plan
from ncse_cli.config import merge
from ncse_cli.experiments.spec import load_experiment
from tests.dummies import TINY_MODEL

#: Every model of the miniature: :data:`TINY_MODEL` (the ``demo`` preset's size is the demo test's), 2-utterance
#: batches of 32 frames, a one-utterance validation.
TINY = {"model": TINY_MODEL,
        "train": {"batch_size": 2, "crop_frames": 32, "num_workers": 0, "log_every": 1, "val_every": 2,
                  "save_every": 2, "val_items": 1, "val_utterances": 1, "val_steps": 1}}
MINI = f"""
group: mini
title: "Mini"
models:
  uncond: {{settings: {json.dumps(merge(TINY, {"model": {"encoder": "none"}}))}}}
  cnn: {{settings: {json.dumps(merge(TINY, {"train": {"p_uncond": 0.2}}))}}}
baseline: uncond
experiments:
  E-1: {{model: cnn, w: 1, suites: [test]}}
  E-3: {{model: cnn, w: 3, suites: [test]}}
conditions: {{conditions: ["null"], w: 1}}
criteria: [{{criterion: in-distribution, against: uncond}}]
scales:
  demo:
    preset: recipes
    precision: fp32
    dnsmos: false
    train_steps: 2
    sampler_steps: 2
    data:
      vb: {{recipe: demo, options: {{num_train: 4, num_valid: 1, num_test: 3, seconds: 0.8, num_talkers: 4,
                                     noise_kinds: [white, pink]}}}}
    suites:
      test: {{kind: in-distribution, title: "mini test", manifests: [vb/test.jsonl]}}
"""


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """The miniature experiment, run once to the end."""
    root = tmp_path_factory.mktemp("experiment")
    (root / "mini.yaml").write_text(MINI)
    spec = load_experiment(root / "mini.yaml")
    layout = Layout.for_experiment(root / "out", "demo", spec.group)
    before = build_plan(spec, "demo", layout, Machine())
    result = runner.run_experiment(spec, "demo", layout, Machine())
    return spec, layout, before, result
