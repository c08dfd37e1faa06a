"""Running an experiment: prepare, train, evaluate, report, skipping every unit that is already done.

The plan (:func:`~ncse_cli.experiments.plan.build_plan`) is rebuilt from the files on disk before each stage, so
a stage sees what the one before made, and a run that was interrupted (a crash, Ctrl-C, a lost machine) simply
runs again: finished units are skipped, a model whose training stopped resumes from its newest checkpoint, and an
evaluation keeps the enhanced files it had written. Blocked units (a missing corpus or tower checkpoint) are left
out with their reason; everything else runs.

With ``jobs`` >= 2 trainings run side by side in single-threaded worker processes, then evaluations (shared out so
each worker's queue takes about as long: a guided scale costs two network evaluations per step), because on a
small shared CPU two single-threaded processes are faster than one with two threads, whose threads spin waiting
for each other whenever another program takes a core. Progress is read from the files the workers write
(``train_log.csv``, enhanced WAVs). Data preparation uses ``jobs`` workers of its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ncse_cli.data.prepare import prepare_recipe
from ncse_cli.errors import NcseError
from ncse_cli.evaluation.run import EvalPoint, EvaluateOptions, evaluate_points
from ncse_cli.evaluation.testsets import load_testset
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import (DONE, EVALUATE, PENDING, PREPARE, TRAIN, Layout, Plan, PrepareTask, Unit,
                                       build_plan, failure_record)
from ncse_cli.experiments.spec import ExperimentFile
from ncse_cli.files import atomic_write_text
from ncse_cli.inference.enhancer import Enhancer
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.progress import Progress
from ncse_cli.training import RunConfig, read_train_log, train
from ncse_cli.training.state import latest_checkpoint
from ncse_cli.workers import call, preload, run_parallel
from ncse_cli.workspace import Workspace, eval_dir

log = logging.getLogger("ncse")

Watcher = Callable[[], tuple[int, int]]
#: The stages of a run, in order (the keys of :attr:`RunResult.seconds`).
STAGES = ("prepare data", "train", "evaluate", "report")


@dataclass
class RunResult:
    """What a run found, what it left, the report it wrote and how long each stage took."""

    before: Plan
    after: Plan
    report: Any = None  #: the :class:`~ncse_cli.experiments.report.GroupReport`, when one was built
    seconds: dict[str, float] = field(default_factory=dict)


def open_plan(file: str | Path, scale: str, out: str | Path, machine_file: str | Path | None = None,
              corpora: Sequence[str] = (), weights: Sequence[str] = (), train_steps: int | None = None,
              sampler_steps: int | None = None) -> Plan:
    """The plan of an experiment file at ``scale`` under ``out`` (see :class:`~.plan.Layout`), with the machine
    file and ``NAME=PATH`` pairs, and the scale's step counts replaced when given."""
    from ncse_cli.experiments.machine import load_machine
    from ncse_cli.experiments.spec import load_experiment

    spec = load_experiment(file).with_steps(scale, train_steps, sampler_steps)
    return build_plan(spec, scale, Layout.for_experiment(out, scale, spec.group),
                      load_machine(machine_file, corpora, weights))


def run_experiment(spec: ExperimentFile, scale: str, layout: Layout, machine: Machine = Machine(), jobs: int = 1,
                   progress: Progress | None = None, report: bool = True) -> RunResult:
    """Run every pending unit of ``spec`` at ``scale`` (see the module docstring) and build the group's report."""
    from ncse_cli.experiments.report import write_group_report

    plan = before = build_plan(spec, scale, layout, machine)
    if jobs > 1:  # every stage's workers fork from one server: import their stack (and the optimizer's) there once
        preload(__name__, "ncse_cli.evaluation.run", "torch._dynamo")
    seconds: dict[str, float] = {}
    stages: list[tuple[str, Callable[[Plan], None]]] = [
        ("prepare data", lambda p: prepare_stage(p, jobs, progress)),
        ("train", lambda p: train_stage(p, jobs, progress)),
        ("evaluate", lambda p: evaluate_stage(p, jobs, progress))]
    for stage, run in stages:
        with _clock(seconds, stage):
            run(plan)
        plan = build_plan(spec, scale, layout, machine)
    written = None
    if report:
        with _clock(seconds, "report"):
            written = write_group_report(plan, progress)
        plan = build_plan(spec, scale, layout, machine)
    return RunResult(before, plan, written, seconds)


class _clock:
    """``with _clock(seconds, stage):`` adds the stage's wall-clock seconds to ``seconds``."""

    def __init__(self, seconds: dict[str, float], stage: str) -> None:
        self.seconds, self.stage = seconds, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + time.perf_counter() - self.start


def ready(plan: Plan, kind: str) -> list[Unit]:
    """Pending units of ``kind`` whose needs are all done."""
    done = {u.key for u in plan.units if u.state == DONE}
    return [u for u in plan.of(kind, PENDING) if all(need in done for need in u.needs)]


# --- prepare -----------------------------------------------------------------------------------------------------

def prepare_stage(plan: Plan, jobs: int, progress: Progress | None) -> None:
    """Prepare every pending data folder, each after those it reads from."""
    todo = plan.of(PREPARE, PENDING)
    done = {u.key for u in plan.units if u.state == DONE}
    while todo:
        unit = next((u for u in todo if all(n in done for n in u.needs)), None)
        if unit is None:  # what is left waits for a blocked folder
            return
        prepare_folder(unit.task, jobs, progress)
        done.add(unit.key)
        todo.remove(unit)


def prepare_folder(task: PrepareTask, jobs: int, progress: Progress | None) -> None:
    """``ncse prepare`` of one data folder."""
    log.info("preparing %s (%s)", task.out_dir, task.recipe)
    prepare_recipe(task.recipe, task.out_dir, jobs=jobs, progress=progress, **task.options)


# --- train -------------------------------------------------------------------------------------------------------

def train_model(root: Path, name: str, cfg: RunConfig, progress: Progress | None = None) -> Path:
    """Train ``name`` in the workspace at ``root``: an interrupted run resumes from its newest checkpoint, a run
    that left none starts over."""
    workspace = Workspace(root)
    directory = workspace.model_dir(name)
    resume = directory.is_dir() and latest_checkpoint(directory) is not None
    return train(cfg, workspace, name, resume=resume, overwrite=directory.exists() and not resume, progress=progress)


def train_stage(plan: Plan, jobs: int, progress: Progress | None) -> None:
    """Train every ready model run, side by side when ``jobs`` allows."""
    units = ready(plan, TRAIN)
    if not units:
        return
    in_process = jobs <= 1
    calls = [(train_model, (plan.layout.runs, u.task.run.name, u.task.run.cfg, progress if in_process else None))
             for u in units]
    watchers = {f"train {u.task.run.name}": _steps_watcher(u.task.directory, u.task.run.cfg.train.steps)
                for u in units}
    run_side_by_side(calls, watchers, jobs, progress, costs=[u.seconds for u in units])


def _steps_watcher(run_dir: Path, total: int) -> Watcher:
    def read() -> tuple[int, int]:
        rows = read_train_log(run_dir / "train_log.csv")
        return (rows[-1]["step"] if rows else 0), total
    return read


# --- evaluate ----------------------------------------------------------------------------------------------------

#: One evaluation for a worker: (workspace root, model name, manifest, point, settings, whether to score DNSMOS).
EvalItem = tuple[Path, str, Path, EvalPoint, EnhanceSettings, bool]


def evaluate_items(items: Sequence[EvalItem]) -> None:
    """Evaluate items in this process, loading each model once (items of one model are consecutive). An item that
    fails with a user-facing error (a test set its condition cannot serve, a broken file) does not stop the others:
    its reason is written to its :func:`~ncse_cli.experiments.plan.failure_record`, logged, and the unit stays
    pending for the next run."""
    loaded: dict[str, Enhancer] = {}
    for root, name, manifest, point, settings, dnsmos in items:
        workspace = Workspace(root)
        record = failure_record(workspace.model_dir(name), manifest, point.label)
        try:
            if name not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[name] = Enhancer.load(workspace.resolve(name), settings)
            # the experiment owns its workspace: results of other settings are replaced
            options = EvaluateOptions(settings=settings, overwrite=True, dnsmos=dnsmos)
            evaluate_points(workspace, name, [(manifest, [point])], options, enhancer=loaded[name])
        except NcseError as err:
            log.error("evaluate %s %s %s failed: %s", name, Path(manifest).name, point.label, err)
            atomic_write_text(record, f"{err}\n")
            continue
        record.unlink(missing_ok=True)


def evaluate_stage(plan: Plan, jobs: int, progress: Progress | None) -> None:
    """Evaluate every ready point: shared out to ``jobs`` workers by estimated time, one bar counting outputs."""
    units = ready(plan, EVALUATE)
    if not units:
        return
    watcher = _outputs_watcher(units)
    if jobs <= 1:  # in order, one bar counting the outputs
        task = progress("evaluate") if progress else None
        for unit in units:
            evaluate_items([eval_item(plan, unit)])
            if task is not None:
                task(*watcher())
        return
    calls = [(evaluate_items, ([eval_item(plan, u) for u in bucket],)) for bucket in share_out(units, jobs)]
    run_side_by_side(calls, {"evaluate": watcher}, jobs, progress)


def eval_item(plan: Plan, unit: Unit) -> EvalItem:
    """A unit's evaluation at the run's sampler steps, which may differ from those the model was saved with: a
    changed step count needs no retraining (:func:`~ncse_cli.experiments.configs.settings_changed`)."""
    settings = EnhanceSettings(steps=unit.task.run.cfg.sampler.steps, precision=plan.scale.precision)
    return plan.layout.runs, unit.task.run.name, unit.task.manifest, unit.task.point, settings, plan.scale.dnsmos


def share_out(units: Sequence[Unit], jobs: int) -> list[list[Unit]]:
    """Longest estimated first into the bucket with the least so far (Graham's LPT rule); each bucket then in
    model order, so a worker loads each of its models once."""
    buckets: list[list[Unit]] = [[] for _ in range(max(jobs, 1))]
    load = [0.0] * len(buckets)
    for unit in sorted(units, key=lambda u: -u.seconds):
        i = load.index(min(load))
        buckets[i].append(unit)
        load[i] += unit.seconds
    order = {u.key: n for n, u in enumerate(units)}
    return [sorted(b, key=lambda u: (u.task.run.name, order[u.key])) for b in buckets if b]


def _outputs_watcher(units: Sequence[Unit]) -> Watcher:
    """(enhanced files written, files to write) over the units' result folders."""
    folders, total = [], 0
    for unit in units:
        testset, manifest = load_testset(unit.task.manifest)
        folders.append(eval_dir(unit.task.directory, testset.id, unit.task.point.label) / "enhanced")
        total += len(manifest)

    def read() -> tuple[int, int]:
        return sum(len(list(f.glob("*.wav"))) for f in folders if f.is_dir()), total
    return read


# --- side by side ------------------------------------------------------------------------------------------------

def run_side_by_side(calls: list[tuple[Callable, tuple]], watchers: dict[str, Watcher], jobs: int,
                     progress: Progress | None, costs: Sequence[float] | None = None) -> list[Any]:
    """Run ``calls`` in ``jobs`` single-threaded worker processes (in this process when ``jobs`` is 1), drawing
    one bar per watcher from what it reads on disk; results in call order, a worker's error re-raised here. The
    longest ``costs`` start first."""
    if jobs <= 1:
        return [fn(*args) for fn, args in calls]
    order = sorted(range(len(calls)), key=lambda i: -(costs[i] if costs else 0.0))
    bars = {label: progress(label) for label in watchers} if progress else {}

    def poll() -> None:
        for label, bar in bars.items():
            bar(*watchers[label]())

    results = run_parallel(call, [calls[i] for i in order], jobs, poll=poll, preload=__name__)
    for label, bar in bars.items():
        bar(*watchers[label]())
    by_call = dict(zip(order, results))
    return [by_call[i] for i in range(len(calls))]
