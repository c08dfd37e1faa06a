"""``ncse demo``: the whole pipeline on the built-in synthetic corpus, offline, in minutes on a CPU.

1. ``prepare_demo`` writes synthetic talkers mixed with synthetic noises (train, valid, test manifests);
2. two tiny NCSN++ models train on it: the noise-conditioned one (CNN encoder, classifier-free-guidance
   dropout p_uncond 0.2, the plan's best setting) and the unconditioned SGMSE+ baseline (encoder none);
3. both are evaluated on the test set (the conditioned one at w = 1 and 3) with PESQ, ESTOI and SI-SDR;
4. the report is built from the stored results and written to ``<out>/report.md``.

Everything lives under ``<out>`` (data in ``<out>/data``, the workspace in ``<out>/runs``), never in the user's
own workspace. A re-run reuses what is finished: the corpus, trained models, evaluations.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ncse_cli.catalog import trained_steps
from ncse_cli.config import atomic_write_text
from ncse_cli.data.config import data_config_from_path
from ncse_cli.data.recipes import DemoConfig, prepare_demo
from ncse_cli.evaluation import EvaluateOptions, ScoreSummary, evaluate
from ncse_cli.evaluation.run import TaskProgress
from ncse_cli.report import Report, build_report
from ncse_cli.training import RunConfig, resolve_run_config, train
from ncse_cli.training.state import latest_checkpoint
from ncse_cli.workspace import Workspace

log = logging.getLogger("ncse")

CONDITIONED = "demo-cnn-cfg"
BASELINE = "demo-uncond"

#: A tiny NCSN++ (about 1.4 M parameters) and a small CNN noise encoder; short crops, no data-loader workers.
DEMO_MODEL: dict[str, Any] = {"backbone": "tiny", "encoder": {"name": "cnn", "channels": [16, 32, 64, 64], "dim": 64}}
DEMO_TRAIN: dict[str, Any] = {"batch_size": 4, "crop_frames": 64, "lr": 1e-3, "num_workers": 0, "log_every": 25,
                              "val_items": 8, "val_utterances": 2, "val_steps": 4, "keep_checkpoints": 1}


@dataclass(frozen=True)
class DemoOptions:
    """Sizes of the demo (the defaults fit in five minutes on two CPU cores)."""

    seed: int = 0
    train_steps: int = 300
    sampler_steps: int = 6
    cfg_scales: tuple[float, ...] = (1.0, 3.0)
    jobs: int = 2  #: worker processes for data preparation and metrics
    corpus: DemoConfig | None = None  #: sizes of the synthetic corpus (default: ``DemoConfig()``)


@dataclass
class DemoResult:
    """Where the demo wrote everything, its summaries and report, and how long each stage took."""

    out_dir: Path
    workspace: Workspace
    summaries: list[ScoreSummary]
    report: Report
    report_path: Path
    seconds: dict[str, float] = field(default_factory=dict)


def demo_run_config(data_dir: Path, options: DemoOptions, conditioned: bool) -> RunConfig:
    """The training config of one demo model."""
    model = {**DEMO_MODEL, "encoder": DEMO_MODEL["encoder"] if conditioned else "none"}
    train_cfg = {**DEMO_TRAIN, "steps": options.train_steps, "p_uncond": 0.2 if conditioned else 0.0,
                 "seed": options.seed, "val_every": options.train_steps, "save_every": options.train_steps}
    overrides = {"model": model, "train": train_cfg, "sampler": {"name": "pc", "steps": options.sampler_steps}}
    return resolve_run_config(overrides=overrides, data=data_config_from_path(data_dir))


def train_demo_model(workspace: Workspace, name: str, cfg: RunConfig, progress: bool) -> Path:
    """Train ``name`` unless a finished run is there; an interrupted one resumes, a broken one restarts."""
    directory = workspace.model_dir(name)
    if directory.is_dir() and trained_steps(directory) == cfg.train.steps and latest_checkpoint(directory):
        log.info("%s is already trained (%d steps): reused", name, cfg.train.steps)
        return directory
    resume = directory.is_dir() and latest_checkpoint(directory) is not None
    return train(cfg, workspace, name, resume=resume, overwrite=directory.exists() and not resume, progress=progress)


def run_demo(out_dir: str | os.PathLike = "ncse-demo", options: DemoOptions = DemoOptions(),
             progress: TaskProgress | None = None) -> DemoResult:
    """Prepare, train both models, evaluate, report (see the module docstring)."""
    out_dir = Path(out_dir)
    workspace, data_dir, seconds = Workspace(out_dir / "runs"), out_dir / "data", {}
    clock = _Clock(seconds)
    with clock("prepare"):
        prepare_demo(data_dir, options.seed, config=options.corpus, jobs=options.jobs,
                     progress=progress("prepare demo data") if progress else None)
    for name, conditioned in ((CONDITIONED, True), (BASELINE, False)):
        with clock(f"train {name}"):
            train_demo_model(workspace, name, demo_run_config(data_dir, options, conditioned), progress is not None)
    summaries: list[ScoreSummary] = []
    evaluate_options = EvaluateOptions(options.cfg_scales, options.sampler_steps, options.seed, options.jobs)
    for name in (CONDITIONED, BASELINE):
        with clock(f"evaluate {name}"):
            found = evaluate(workspace, name, [data_dir / "test.jsonl"], evaluate_options, progress)
            summaries += [s for s in found if not s.is_noisy or not summaries]
    report = build_report(workspace, summary_metrics=("pesq", "estoi", "si_sdr"))
    report_path = out_dir / "report.md"
    atomic_write_text(report_path, report.markdown)
    return DemoResult(out_dir, workspace, summaries, report, report_path, seconds)


class _Clock:
    """``with clock(stage):`` adds the stage's wall-clock seconds to a dict."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def __call__(self, stage: str) -> "_Clock":
        self.stage = stage
        return self

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.seconds[self.stage] = time.perf_counter() - self.start
