"""An experiment file expanded into units of work, each knowing from the files on disk whether it is done.

Units, in the order they run (each may need units of the kinds before it):

* **prepare** a data folder (``ncse prepare RECIPE``): done when its recipe completed there;
* **train** one model at one training seed (workspace name ``<model>-s<seed>``): done when its newest checkpoint
  is at the config's step count and its saved settings equal the config's;
* **evaluate** one trained model on one test manifest at one point (guidance scale, reference condition,
  sampler seed): done when the point's ``summary.json`` was made from the model's current weights with its
  sampler and today's metrics;
* **report** of the group: done when ``report.md`` is newer than every result it reads.

A unit that this machine cannot run is *blocked* with the reason (a corpus not in the machine file, a pre-trained
tower's checkpoint not at hand), as is everything that needs it; nothing is substituted. Every unit carries a
time estimate (:mod:`.estimate`). Building a plan reads only small files (manifests, configs, summaries) and
hashes each trained model's weights once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ncse_cli.catalog import trained_steps
from ncse_cli.config import component_name, to_dict
from ncse_cli.data.manifest import read_manifest
from ncse_cli.data.prepare import DemoConfig
from ncse_cli.evaluation.conditions import ReferenceCondition
from ncse_cli.evaluation.results import SUMMARY_FILE, read_summary
from ncse_cli.evaluation.run import EvalPoint
from ncse_cli.evaluation.testsets import load_testset
from ncse_cli.experiments import estimate
from ncse_cli.experiments.configs import (ModelRun, is_prepared, model_runs, prepared_differences,
                                         settings_changed)
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.spec import DataSource, ExperimentFile, Scale, source_dependencies
from ncse_cli.metrics import METRICS_VERSION
from ncse_cli.model_dir import CONFIG_FILE, WEIGHTS_FILE
from ncse_cli.training.state import latest_checkpoint
from ncse_cli.workspace import Workspace, eval_dir, file_sha256

PREPARE, TRAIN, EVALUATE, REPORT = "prepare", "train", "evaluate", "report"
KINDS = (PREPARE, TRAIN, EVALUATE, REPORT)
DONE, PENDING, BLOCKED = "done", "pending", "blocked"
REPORT_FILE = "report.md"
#: Rows of VoiceBank-DEMAND (11 572 training and 824 test utterances), of its test set, and the test set's length
#: (34.6 min at 16 kHz), for estimates before it is prepared.
VBDEMAND_ROWS, VBDEMAND_TEST_ROWS, VBDEMAND_TEST_SECONDS = 11_572 + 824, 824, 2076.0


@dataclass(frozen=True)
class Layout:
    """Where an experiment keeps its prepared data, its workspace (models, evaluations) and its report."""

    data: Path
    runs: Path
    reports: Path

    @classmethod
    def for_experiment(cls, out: str | Path, scale: str, group: str) -> "Layout":
        """``<out>/<scale>/{data, runs, reports/<group>}``: every group of a scale shares data and models."""
        root = Path(out) / scale
        return cls(root / "data", root / "runs", root / "reports" / group)

    @property
    def report(self) -> Path:
        return self.reports / REPORT_FILE


@dataclass(frozen=True)
class PrepareTask:
    """``ncse prepare recipe`` into ``out_dir`` with ``options`` (paths absolute, corpora filled in)."""

    name: str
    recipe: str
    out_dir: Path
    options: dict[str, Any]


@dataclass(frozen=True)
class TrainTask:
    """Train (or resume) one model run into its workspace directory."""

    run: ModelRun
    directory: Path
    done_steps: int = 0  #: the steps its newest checkpoint holds when the plan was built


@dataclass(frozen=True)
class EvalTask:
    """Evaluate one trained run on one manifest of a suite at one point."""

    run: ModelRun
    directory: Path
    suite: str
    manifest: Path
    point: EvalPoint


@dataclass
class Unit:
    """One unit of work with its state, what it needs first, and the time it is expected to take."""

    kind: str
    key: str
    label: str
    task: Any
    state: str = PENDING
    note: str = ""  #: why it is blocked, or how far it got
    needs: tuple[str, ...] = ()
    seconds: float = 0.0  #: the estimated time still to spend (0 when done)
    source: str = estimate.CALIBRATED  #: where the estimate's rate came from


@dataclass
class Plan:
    """The units of one experiment file at one scale."""

    spec: ExperimentFile
    scale_name: str
    layout: Layout
    machine: Machine
    units: list[Unit]
    runs: dict[str, ModelRun]  #: by workspace name

    @property
    def scale(self) -> Scale:
        return self.spec.scale(self.scale_name)

    def of(self, kind: str, state: str | None = None) -> list[Unit]:
        """Units of one kind (optionally in one state), in plan order."""
        return [u for u in self.units if u.kind == kind and (state is None or u.state == state)]

    def unit(self, key: str) -> Unit:
        return next(u for u in self.units if u.key == key)

    def failed(self) -> list[Unit]:
        """Pending evaluations whose last attempt failed (:func:`failure_record`)."""
        return [u for u in self.of(EVALUATE, PENDING) if u.note.startswith(FAILED_NOTE)]

    def seconds(self, state: str = "pending") -> float:
        """The estimated time of the units in ``state`` (pending: what a run will do now; blocked: what it would
        do once the machine has what they need)."""
        return sum(u.seconds for u in self.units if u.state == state)


def build_plan(spec: ExperimentFile, scale_name: str, layout: Layout, machine: Machine = Machine()) -> Plan:
    """Every unit of the experiment at ``scale_name``, with its state read from ``layout``'s folders."""
    scale = spec.scale(scale_name)
    units = prepare_units(scale, layout, machine, needed_folders(spec, scale))
    runs = {run.name: run for key in models_used(spec) for run in model_runs(spec, key, scale, layout.data, machine)}
    workspace = Workspace(layout.runs)
    units += [train_unit(run, spec.data_folder(run.key), workspace, units) for run in runs.values()]
    hashes: dict[str, str | None] = {}
    testsets: dict[Path, Any] = {}
    for task in eval_tasks(spec, scale, layout, runs, workspace):
        units.append(eval_unit(task, units, hashes, testsets, test_size(task.manifest, scale, layout.data)[1]))
    units.append(report_unit(units, layout, {_backbone(r) for r in runs.values()}))
    return Plan(spec, scale_name, layout, machine, units, runs)


def models_used(spec: ExperimentFile) -> list[str]:
    """The models an experiment file trains: those its experiments, comparisons, criteria and conditions name."""
    names = [entry.model for entry in spec.experiments.values()]
    names += [spec.comparator(entry) for entry in spec.experiments.values()]
    names += [ref.against for ref in spec.criteria] + list(spec.conditions.models)
    return [n for n in dict.fromkeys(names) if n is not None]


# --- prepare -----------------------------------------------------------------------------------------------------

def needed_folders(spec: ExperimentFile, scale: Scale) -> set[str]:
    """The data folders of a scale that an experiment file uses: its models' training folders, its suites'
    folders, and those their options point into."""
    suites = {s for entry in spec.experiments.values() for s in entry.suites} | set(spec.conditions.suites)
    todo = [spec.data_folder(m) for m in models_used(spec)]
    todo += [m.split("/", 1)[0] for s in suites for m in scale.suites[s].manifests]
    found: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += source_dependencies(scale.data[name], scale.data)
    return found


def prepare_units(scale: Scale, layout: Layout, machine: Machine, folders: set[str]) -> list[Unit]:
    """One unit per data folder of the scale in ``folders``, each after the folders its options point into."""
    units = []
    for name, source in scale.data.items():
        if name not in folders:
            continue
        options, missing = prepare_options(source, layout.data, machine)
        folder = layout.data / name
        unit = Unit(PREPARE, f"prepare:{name}", f"prepare {name} ({source.recipe})",
                    PrepareTask(name, source.recipe, folder, options),
                    needs=tuple(f"prepare:{d}" for d in source_dependencies(source, scale.data)))
        changed = prepared_differences(folder, options) if is_prepared(folder) else []
        if is_prepared(folder) and not changed:
            unit.state = DONE
        elif changed:
            unit.state, unit.note = BLOCKED, (f"{folder} was prepared with other {', '.join(changed)}; move it "
                                              f"away to prepare it again")
        else:
            if missing:
                unit.state, unit.note = BLOCKED, missing
            guess = estimate.preparation(source.recipe, prepare_rows(source, scale, layout.data))
            unit.seconds, unit.source = guess.seconds, guess.source
        units.append(unit)
    return _propagate(units)


def prepare_options(source: DataSource, data_dir: Path, machine: Machine) -> tuple[dict[str, Any], str]:
    """The recipe's options with paths into other data folders made absolute and the machine's corpora filled in;
    and what is missing (empty when nothing)."""
    options = {}
    for key, value in source.options.items():
        points_into = isinstance(value, str) and "/" in value and not value.startswith(("/", "~", "."))
        options[key] = str(data_dir / value) if points_into else value
    absent = [corpus for corpus in source.corpora.values() if corpus not in machine.corpora]
    for option, corpus in source.corpora.items():
        if corpus in machine.corpora:
            options[option] = machine.corpora[corpus]
    for option, corpus in source.optional_corpora.items():
        if corpus in machine.corpora:
            options[option] = machine.corpora[corpus]
    missing = ""
    if absent:
        missing = (f"needs the corpus {', '.join(absent)} ('corpora: {absent[0]}: PATH' in the machine file or "
                   f"--corpus {absent[0]}=PATH)")
    return options, missing


def prepare_rows(source: DataSource, scale: Scale, data_dir: Path) -> int:
    """How many rows a recipe will write (from the clean manifest when it exists, else guessed)."""
    options = source.options
    if source.recipe == "demo":
        base = DemoConfig()
        return sum(int(options.get(k, getattr(base, k))) for k in ("num_train", "num_valid", "num_test"))
    if source.recipe == "vbdemand":
        return VBDEMAND_ROWS
    clean, _ = test_size(data_dir / str(options.get("clean", "")), scale, data_dir)
    snrs = len(options.get("snrs", (0, 5, 10)))
    corpora = len(source.corpora) + len(source.optional_corpora if source.recipe == "ood" else ()) + bool(
        options.get("synthetic"))
    return clean * snrs * (max(corpora, 1) if source.recipe == "ood" else 1)


def test_size(manifest: Path, scale: Scale, data_dir: Path) -> tuple[int, float]:
    """(rows, seconds of audio) of a test manifest: read when it exists, else from the recipe of the folder it
    will be in (an OOD or non-stationary manifest has one row per clean utterance, of the same length)."""
    if manifest.is_file():
        rows = read_manifest(manifest)
        return len(rows), sum(row.num_samples / row.sample_rate for row in rows)
    folder = manifest.relative_to(data_dir).parts[0] if manifest.is_relative_to(data_dir) else None
    source = scale.data.get(folder) if folder else None
    if source is not None and source.recipe == "demo":
        rows = int(source.options.get("num_test", DemoConfig().num_test))
        return rows, rows * float(source.options.get("seconds", DemoConfig().seconds))
    if source is not None and source.recipe in ("ood", "nonstationary"):
        rows, seconds = test_size(data_dir / str(source.options.get("clean", "")), scale, data_dir)
        limit = source.options.get("max_utterances")
        return (rows, seconds) if not limit or limit >= rows else (int(limit), seconds * int(limit) / rows)
    return VBDEMAND_TEST_ROWS, VBDEMAND_TEST_SECONDS


# --- train -------------------------------------------------------------------------------------------------------

def train_unit(run: ModelRun, data: str, workspace: Workspace, earlier: list[Unit]) -> Unit:
    """The unit of one model run (see the module docstring)."""
    directory = workspace.model_dir(run.name)
    steps, done = run.cfg.train.steps, _steps_done(directory)
    unit = Unit(TRAIN, f"train:{run.name}", f"train {run.name}", TrainTask(run, directory, done),
                needs=(f"prepare:{data}",))
    if (directory / CONFIG_FILE).is_file() and latest_checkpoint(directory) is not None:
        changed = settings_changed(directory, run.cfg)
        if changed:
            unit.state = BLOCKED
            unit.note = (f"{directory} was trained with other settings ({', '.join(changed[:3])}); move it away "
                         f"to retrain")
            return unit
    if done == steps and latest_checkpoint(directory) is not None:
        unit.state, unit.note = DONE, f"{steps} steps"
        return unit
    if done > steps:
        unit.state = BLOCKED
        unit.note = f"{directory} was trained for {done} steps, more than the {steps} asked; move it away to retrain"
        return unit
    if run.missing:
        unit.state, unit.note = BLOCKED, run.missing
    elif done:
        unit.note = f"at step {done} of {steps}"
    guess = estimate.training(directory, _backbone(run), steps, done)
    unit.seconds, unit.source = guess.seconds, guess.source
    return _after(unit, earlier)


def _steps_done(directory: Path) -> int:
    return (trained_steps(directory) or 0) if directory.is_dir() else 0


def _backbone(run: ModelRun) -> str:
    return component_name(run.cfg.model.backbone)


# --- evaluate ----------------------------------------------------------------------------------------------------

def eval_targets(spec: ExperimentFile, scale: Scale) -> dict[tuple[str, str], list[tuple[float, ReferenceCondition]]]:
    """(model, suite) -> the (w, condition) pairs evaluated there: each experiment at its w, its comparison model
    at w = 1 on the same suites (also for every criterion's comparison), and the condition study's conditions
    beside the matched reference at the study's w."""
    targets: dict[tuple[str, str], list[tuple[float, ReferenceCondition]]] = {}

    def add(model: str | None, suite: str, w: float, condition: ReferenceCondition = ReferenceCondition()) -> None:
        if model is not None:
            targets.setdefault((model, suite), [])
            if (w, condition) not in targets[(model, suite)]:
                targets[(model, suite)].append((w, condition))

    for entry in spec.experiments.values():
        for suite in entry.suites:
            add(entry.model, suite, entry.w)
            add(spec.comparator(entry), suite, 1.0)
    for ref in spec.criteria:
        for entry in spec.experiments.values():
            for suite in entry.suites:
                if scale.suites[suite].kind == next(c.kind for c in _criteria() if c.id == ref.criterion):
                    add(ref.against, suite, 1.0)
    study = spec.conditions
    if study.conditions:
        suites = study.suites or tuple(dict.fromkeys(s for e in spec.experiments.values() for s in e.suites))
        models = study.models or tuple(dict.fromkeys(e.model for e in spec.experiments.values()))
        for model in models:
            for suite in suites:
                for condition in [ReferenceCondition(), *study.parsed()]:
                    add(model, suite, study.w, condition)
    return targets


def _criteria():
    from ncse_cli.report.stats import PLAN_CRITERIA

    return PLAN_CRITERIA


def eval_tasks(spec: ExperimentFile, scale: Scale, layout: Layout, runs: dict[str, ModelRun],
               workspace: Workspace) -> list[EvalTask]:
    """Every evaluation: each target's runs x manifests x points x sampler seeds, each result folder once (an
    unconditioned model collapses scales and conditions into ``w-``)."""
    tasks, seen = [], set()
    for (model, suite), pairs in eval_targets(spec, scale).items():
        for run in (r for r in runs.values() if r.key == model):
            for relative in scale.suites[suite].manifests:
                for w, condition in pairs:
                    for seed in scale.sampler_seeds:
                        point = (EvalPoint(w if condition.kind != "null" else None, condition, seed) if run.conditional
                                 else EvalPoint(None, ReferenceCondition(), seed))
                        key = (run.name, relative, point.label)
                        if key not in seen:
                            seen.add(key)
                            tasks.append(EvalTask(run, workspace.model_dir(run.name), suite, layout.data / relative,
                                                  point))
    return tasks


FAILED_NOTE = "failed last time: "


def failure_record(model_dir: Path, manifest: Path, label: str) -> Path:
    """Where the runner notes why the evaluation of ``manifest`` at point ``label`` failed last time (removed when
    it succeeds): the unit stays pending, and status and report show the reason."""
    digest = hashlib.sha256(f"{Path(manifest).resolve()}:{label}".encode()).hexdigest()[:16]
    return model_dir / "eval" / ".failed" / f"{digest}.txt"


def eval_unit(task: EvalTask, earlier: list[Unit], hashes: dict[str, str | None], testsets: dict[Path, Any],
              audio: float) -> Unit:
    """The unit of one evaluation (see the module docstring) of ``audio`` seconds of test audio."""
    name = f"{task.run.name} {task.manifest.stem} {task.point.label}"
    unit = Unit(EVALUATE, f"evaluate:{task.run.name}:{task.manifest}:{task.point.label}", f"evaluate {name}", task,
                needs=(f"train:{task.run.name}", *(u.key for u in earlier if u.kind == PREPARE
                                                     and task.manifest.is_relative_to(u.task.out_dir))))
    if task.manifest.is_file():
        if task.manifest not in testsets:
            testsets[task.manifest] = load_testset(task.manifest)
        testset, manifest = testsets[task.manifest]
        if _evaluated(task, testset.id, hashes):
            unit.state = DONE
            return unit
    guided = estimate.is_guided(task.point.w, task.run.conditional, task.point.condition.kind)
    guess = estimate.evaluation(_backbone(task.run), audio, estimate.network_evaluations(to_dict(task.run.cfg.sampler),
                                                                                         guided),
                                estimate.measured_enhance_rate(task.directory) if task.directory.is_dir() else None)
    unit.seconds, unit.source = guess.seconds, guess.source
    failed = failure_record(task.directory, task.manifest, task.point.label)
    if failed.is_file():
        unit.note = FAILED_NOTE + failed.read_text().strip()
    return _after(unit, earlier)


def _evaluated(task: EvalTask, testset_id: str, hashes: dict[str, str | None]) -> bool:
    """Whether the point's stored summary was made from the model's current weights with its sampler."""
    summary = read_summary(eval_dir(task.directory, testset_id, task.point.label) / SUMMARY_FILE)
    if summary is None:
        return False
    if task.run.name not in hashes:
        weights = task.directory / WEIGHTS_FILE
        hashes[task.run.name] = file_sha256(weights) if weights.is_file() else None
    settings = summary.settings
    return (settings.get("model_sha256") == hashes[task.run.name] and settings.get("metrics_version") == METRICS_VERSION
            and settings.get("sampler") == to_dict(task.run.cfg.sampler))


# --- report ------------------------------------------------------------------------------------------------------

def report_unit(units: list[Unit], layout: Layout, backbones: set[str]) -> Unit:
    """The group's report: pending while it is missing or older than a result it reads."""
    unit = Unit(REPORT, "report", f"report {layout.report}", None,
                needs=tuple(u.key for u in units if u.kind == EVALUATE))
    evaluations = [u for u in units if u.kind == EVALUATE]
    newest = max((_summary_time(u.task) for u in evaluations if u.state == DONE), default=0.0)
    if layout.report.is_file() and layout.report.stat().st_mtime >= newest and \
            all(u.state != PENDING for u in evaluations):
        unit.state = DONE
        return unit
    guess = estimate.report(backbones)
    unit.seconds, unit.source = guess.seconds, guess.source
    return unit


def _summary_time(task: EvalTask) -> float:
    found = list(task.directory.glob(f"eval/*/{task.point.label}/{SUMMARY_FILE}"))
    return max((p.stat().st_mtime for p in found), default=0.0)


# --- states ------------------------------------------------------------------------------------------------------

def _after(unit: Unit, earlier: Iterable[Unit]) -> Unit:
    """Blocked when a unit it needs is blocked (saying which), otherwise as it was."""
    if unit.state == DONE:
        return unit
    blocked = [u for u in earlier if u.key in unit.needs and u.state == BLOCKED]
    if blocked:
        unit.state = BLOCKED
        unit.note = unit.note or f"after {blocked[0].label}: {blocked[0].note}"
    return unit


def _propagate(units: list[Unit]) -> list[Unit]:
    """Blocks passed down the prepare units' own dependencies (in their order)."""
    for i, unit in enumerate(units):
        _after(unit, units[:i])
    return units


def counts(units: Iterable[Unit]) -> dict[str, int]:
    """Units by state."""
    found = {DONE: 0, PENDING: 0, BLOCKED: 0}
    for unit in units:
        found[unit.state] += 1
    return found


def wall_seconds(plan: Plan, jobs: int) -> float:
    """The pending time when training and evaluation run ``jobs`` side by side (preparation and the report do not:
    they use their own workers)."""
    serial = sum(u.seconds for u in plan.units if u.state == PENDING and u.kind in (PREPARE, REPORT))
    parallel = [u.seconds for u in plan.units if u.state == PENDING and u.kind in (TRAIN, EVALUATE)]
    longest = max(parallel, default=0.0)
    return serial + max(sum(parallel) / max(jobs, 1), longest)


