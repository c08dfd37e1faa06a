"""``ncse demo``: the whole pipeline on the built-in synthetic corpus, offline, in minutes on a CPU.

1. ``prepare_demo`` writes synthetic talkers mixed with synthetic noises (train, valid, test manifests);
2. two tiny NCSN++ models train on it in the few-step Schrodinger-bridge formulation (Jukic et al., Interspeech
   2024; SB-VE bridge, data-prediction loss): the noise-conditioned one (CNN encoder, classifier-free-guidance
   dropout p_uncond 0.2, the plan's best setting) and the unconditioned baseline (encoder none). Both start from
   the same backbone weights (one seed), so they differ only in the conditioning;
3. both are evaluated on the test set (the conditioned one at w = 1 and 3) with PESQ, ESTOI and SI-SDR, each
   enhanced with the bridge's ODE sampler at 5 network evaluations;
4. the report is built from the stored results and written to ``<out>/report.md``.

With ``jobs`` >= 2 the two trainings, and then the evaluations, run side by side in worker processes with one
torch thread each: on a small shared CPU, two single-threaded processes are faster than one process with two
threads, whose threads spin waiting for each other whenever another program takes a core. Progress is read
from the files the workers write (``train_log.csv``, enhanced WAVs). Everything lives under ``<out>`` (data in
``<out>/data``, the workspace in ``<out>/runs``), never in the user's own workspace, and a re-run reuses what is
finished: the corpus, trained models, evaluations.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ncse_cli.catalog import trained_steps
from ncse_cli.data.config import data_config_from_path
from ncse_cli.data.manifest import read_manifest
from ncse_cli.data.prepare import DemoConfig, prepare_demo
from ncse_cli.evaluation import EvaluateOptions, ScoreSummary, evaluate, load_testset
from ncse_cli.files import atomic_write_text
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.progress import Progress
from ncse_cli.report import Report, build_report
from ncse_cli.training import RunConfig, RunSummary, read_train_log, resolve_run_config, summarize_run, train
from ncse_cli.training.state import latest_checkpoint
from ncse_cli.workers import call, run_parallel
from ncse_cli.workspace import Workspace, eval_dir, scale_label

log = logging.getLogger("ncse")

CONDITIONED = "demo-cnn-cfg"
BASELINE = "demo-uncond"

#: ``recipes/tiny.yaml`` in the Schrodinger-bridge formulation of ``recipes/sb_cfg_p0.2.yaml``: a tiny NCSN++
#: (about 1.4 M parameters), a small CNN noise encoder, 64-frame crops. The bridge predicts the clean spectrogram
#: at every step, so it learns from a few hundred steps what the OUVE score model does not (README, "The demo").
DEMO_MODEL: dict[str, Any] = {"backbone": "tiny", "sde": "sbve", "loss": "data_prediction",
                              "encoder": {"name": "cnn", "channels": [16, 32, 64, 64], "dim": 64}}
DEMO_TRAIN: dict[str, Any] = {"batch_size": 4, "crop_frames": 64, "lr": 1e-3, "num_workers": 0, "log_every": 10,
                              "val_items": 8, "val_utterances": 2, "val_steps": 5, "keep_checkpoints": 1}
#: The bridge's probability-flow ODE sampler (``sampling/bridge.py``).
DEMO_SAMPLER = "sb-ode"


@dataclass(frozen=True)
class DemoOptions:
    """Sizes of the demo (the defaults fit in five minutes on two CPU cores)."""

    seed: int = 0
    train_steps: int = 250
    sampler_steps: int = 5
    ws: tuple[float, ...] = (1.0, 3.0)  #: guidance scales of the conditioned model
    jobs: int = 2  #: worker processes (data preparation, training, evaluation)
    corpus: DemoConfig | None = None  #: sizes of the synthetic corpus (default: ``DemoConfig()``)


@dataclass
class DemoResult:
    """Where the demo wrote everything, its summaries, training runs and report, and how long each stage took."""

    out_dir: Path
    workspace: Workspace
    summaries: list[ScoreSummary]
    runs: dict[str, RunSummary]
    first_loss: dict[str, float]  #: the first logged training loss of each model (learning: compare the last)
    report: Report
    report_path: Path
    seconds: dict[str, float] = field(default_factory=dict)


def demo_run_config(data_dir: Path, options: DemoOptions, conditioned: bool) -> RunConfig:
    """The training config of one demo model."""
    model = {**DEMO_MODEL, "encoder": DEMO_MODEL["encoder"] if conditioned else "none"}
    train_cfg = {**DEMO_TRAIN, "steps": options.train_steps, "p_uncond": 0.2 if conditioned else 0.0,
                 "seed": options.seed, "val_every": options.train_steps, "save_every": options.train_steps}
    overrides = {"model": model, "train": train_cfg,
                 "sampler": {"name": DEMO_SAMPLER, "steps": options.sampler_steps}}
    return resolve_run_config(overrides=overrides, data=data_config_from_path(data_dir))


def is_trained(directory: Path, steps: int) -> bool:
    """True when ``directory`` holds a finished run of ``steps`` steps."""
    return directory.is_dir() and latest_checkpoint(directory) is not None and trained_steps(directory) == steps


def train_demo_model(root: Path, name: str, cfg: RunConfig, progress: Progress | None = None) -> Path:
    """Train ``name`` unless a finished run is there; an interrupted one resumes, a broken one restarts."""
    workspace = Workspace(root)
    directory = workspace.model_dir(name)
    if is_trained(directory, cfg.train.steps):
        return directory
    resume = directory.is_dir() and latest_checkpoint(directory) is not None
    return train(cfg, workspace, name, resume=resume, overwrite=directory.exists() and not resume, progress=progress)


def evaluate_demo_model(root: Path, name: str, manifest: Path, options: EvaluateOptions) -> list[ScoreSummary]:
    """``evaluate`` in a worker (no progress callbacks cross processes)."""
    return evaluate(Workspace(root), name, [manifest], options)


Watcher = Callable[[], tuple[int, int]]


def run_side_by_side(calls: list[tuple[Callable, tuple]], watchers: dict[str, Watcher], jobs: int,
                     progress: Progress | None) -> list[Any]:
    """Run ``calls`` in ``jobs`` single-threaded worker processes (in this process when ``jobs`` is 1), drawing
    one bar per watcher from what it reads on disk; results in call order, a worker's error re-raised here."""
    if jobs <= 1:
        return [fn(*args) for fn, args in calls]
    bars = {label: progress(label) for label in watchers} if progress else {}

    def poll() -> None:
        for label, bar in bars.items():
            bar(*watchers[label]())

    results = run_parallel(call, calls, jobs, poll=poll, preload=__name__)
    for label, bar in bars.items():
        done, total = watchers[label]()
        bar(total, total)
    return results


def _steps_watcher(run_dir: Path, total: int) -> Watcher:
    def read() -> tuple[int, int]:
        rows = read_train_log(run_dir / "train_log.csv")
        return (rows[-1]["step"] if rows else 0), total
    return read


def _files_watcher(folders: list[Path], total: int) -> Watcher:
    def read() -> tuple[int, int]:
        return sum(len(list(f.glob("*.wav"))) for f in folders if f.is_dir()), total
    return read


def train_stage(workspace: Workspace, data_dir: Path, options: DemoOptions, progress: Progress | None) -> None:
    """Train (or reuse) both models, side by side when ``jobs`` allows."""
    configs = {CONDITIONED: demo_run_config(data_dir, options, True),
               BASELINE: demo_run_config(data_dir, options, False)}
    configs = {name: cfg for name, cfg in configs.items() if not is_trained(workspace.model_dir(name), cfg.train.steps)}
    if not configs:
        log.info("both demo models are trained: reused")
        return
    in_process = options.jobs <= 1
    calls = [(train_demo_model, (workspace.root, name, cfg, progress if in_process else None))
             for name, cfg in configs.items()]
    watchers = {f"train {name}": _steps_watcher(workspace.model_dir(name), cfg.train.steps)
                for name, cfg in configs.items()}
    run_side_by_side(calls, watchers, options.jobs, progress)


def _evaluate_units(root: Path, manifest: Path, units: list[tuple[str, EvaluateOptions]]) -> None:
    for name, options in units:
        evaluate_demo_model(root, name, manifest, options)


def evaluate_stage(workspace: Workspace, manifest: Path, options: DemoOptions,
                   progress: Progress | None) -> list[ScoreSummary]:
    """Evaluate both models. With ``jobs`` >= 2 the (model, w) pairs are shared out to workers first (a guided
    scale costs two network evaluations per step, so it counts double); the summaries are then collected here,
    where the finished results are simply reused."""
    def opts(scales: tuple[float, ...], jobs: int = 1) -> EvaluateOptions:
        # the demo owns its workspace: results of other settings or older metrics are replaced, equal ones reused
        settings = EnhanceSettings(steps=options.sampler_steps, seed=options.seed)
        return EvaluateOptions(scales, settings, jobs, overwrite=True)

    plan = [(CONDITIONED, (w,)) for w in options.ws] + [(BASELINE, (1.0,))]
    if options.jobs > 1:
        buckets: list[list[tuple[str, tuple[float, ...]]]] = [[] for _ in range(options.jobs)]
        cost = [0] * options.jobs
        for name, scales in sorted(plan, key=lambda u: -_cost(u)):
            i = cost.index(min(cost))
            buckets[i].append((name, scales))
            cost[i] += _cost((name, scales))
        testset_id, rows = load_testset(manifest)[0].id, len(read_manifest(manifest))
        folders = [eval_dir(workspace.model_dir(name), testset_id, scale_label(None if name == BASELINE else s[0]))
                   / "enhanced" for name, s in plan]
        calls = [(_evaluate_units, (workspace.root, manifest, [(n, opts(s)) for n, s in b])) for b in buckets if b]
        run_side_by_side(calls, {"evaluate": _files_watcher(folders, rows * len(plan))}, options.jobs, progress)
        progress = None  # the workers did the work: collecting their summaries needs no bars
    summaries = evaluate(workspace, CONDITIONED, [manifest], opts(options.ws, options.jobs), progress)
    return summaries + evaluate(workspace, BASELINE, [manifest], opts((1.0,), options.jobs), progress)[1:]


def _cost(unit: tuple[str, tuple[float, ...]]) -> int:
    name, scales = unit
    return 1 if name == BASELINE or scales == (1.0,) or scales == (0.0,) else 2


def run_demo(out_dir: str | os.PathLike = "ncse-demo", options: DemoOptions = DemoOptions(),
             progress: Progress | None = None) -> DemoResult:
    """Prepare, train both models, evaluate, report (see the module docstring)."""
    out_dir = Path(out_dir)
    workspace, data_dir, seconds = Workspace(out_dir / "runs"), out_dir / "data", {}
    clock = _Clock(seconds)
    with clock("prepare data"):
        prepare_demo(data_dir, options.seed, config=options.corpus, jobs=options.jobs,
                     progress=progress)
    with clock("train both models"):
        train_stage(workspace, data_dir, options, progress)
    with clock("evaluate"):
        summaries = evaluate_stage(workspace, data_dir / "test.jsonl", options, progress)
    with clock("report"):
        report = build_report(workspace, summary_metrics=("pesq", "estoi", "si_sdr"))
        report_path = out_dir / "report.md"
        atomic_write_text(report_path, report.markdown)
    runs = {name: summarize_run(workspace.model_dir(name)) for name in (CONDITIONED, BASELINE)}
    first = {name: read_train_log(workspace.model_dir(name) / "train_log.csv")[0]["loss"] for name in runs}
    return DemoResult(out_dir, workspace, summaries, runs, first, report, report_path, seconds)


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
