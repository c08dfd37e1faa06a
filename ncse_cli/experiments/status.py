"""The status of an experiment file, one row per experiment ID: how far its models trained, which of its
evaluations are finished (guidance scales, reference conditions, sampler seeds) and what work is missing; and
the plan of work of a dry run, with its time estimate."""

from __future__ import annotations

from dataclasses import dataclass

from ncse_cli.experiments.estimate import format_seconds
from ncse_cli.experiments.plan import BLOCKED, DONE, EVALUATE, PENDING, TRAIN, Plan, Unit, counts, wall_seconds


@dataclass(frozen=True)
class StatusRow:
    """One experiment ID of a plan."""

    id: str
    model: str
    w: float
    suites: tuple[str, ...]
    trained: str  #: ``250/250`` per training seed, ``-`` before training
    evaluated: int  #: finished evaluations of the ID (its model's and its comparison's)
    evaluations: int  #: evaluations the ID needs
    conditions: tuple[str, ...]  #: result labels finished for the ID's model (``w1``, ``w-.null``, ``w3.seed1``)
    missing: str  #: the work still to do, or why it cannot run


def id_units(plan: Plan, key: str) -> list[Unit]:
    """The train and evaluate units an experiment ID depends on: its model's and its comparison model's runs,
    the model's evaluations at the ID's ``w`` on the ID's suites (with the condition study's when the study runs
    on this model at this ``w``), and the comparison model's at w = 1."""
    spec = plan.spec
    entry = spec.experiments[key]
    study = spec.conditions
    studied = entry.model in (study.models or [e.model for e in spec.experiments.values()]) and entry.w == study.w
    wanted = {(entry.model, entry.w, "matched")}
    wanted |= {(entry.model, None if c.kind == "null" else entry.w, c.label) for c in study.parsed()} if studied else set()
    comparator = spec.comparator(entry)
    wanted |= {(comparator, 1.0, "matched")} if comparator else set()

    def needed(unit: Unit) -> bool:
        task = unit.task
        if task.suite not in entry.suites:
            return False
        if not task.run.conditional:
            return any(model == task.run.key for model, _, _ in wanted)
        return (task.run.key, task.point.w, task.point.condition.label) in wanted

    models = {entry.model, comparator} - {None}
    return [u for u in plan.of(TRAIN) if u.task.run.key in models] + [u for u in plan.of(EVALUATE) if needed(u)]


def status_rows(plan: Plan) -> list[StatusRow]:
    """A row per experiment ID, in file order."""
    rows = []
    for key, entry in plan.spec.experiments.items():
        units = id_units(plan, key)
        trains = [u for u in units if u.kind == TRAIN and u.task.run.key == entry.model]
        evals = [u for u in units if u.kind == EVALUATE]
        steps = [f"{u.task.done_steps}/{u.task.run.cfg.train.steps}" for u in trains]
        finished = tuple(dict.fromkeys(u.task.point.label for u in evals if u.state == DONE
                                       and u.task.run.key == entry.model))
        rows.append(StatusRow(key, entry.model, entry.w, entry.suites, ", ".join(steps) or "-",
                              sum(u.state == DONE for u in evals), len(evals), finished, missing_text(units)))
    return rows


def missing_text(units: list[Unit]) -> str:
    """``train cfg-p0.2-s0; 12 evaluations`` or the first reason something is blocked; empty when complete."""
    blocked = [u for u in units if u.state == BLOCKED]
    if blocked:
        return f"blocked: {blocked[0].note}"
    pending = [u for u in units if u.state == PENDING]
    trains = [u.task.run.name for u in pending if u.kind == TRAIN]
    evals = sum(u.kind == EVALUATE for u in pending)
    parts = ([f"train {', '.join(trains)}"] if trains else []) + ([f"{evals} evaluations"] if evals else [])
    return "; ".join(parts)


@dataclass(frozen=True)
class WorkRow:
    """A line of the plan of work: a unit still to do (a model run's evaluations counted together)."""

    work: str
    state: str
    estimate: str  #: ``2 min (calibrated)``
    note: str


def work_rows(plan: Plan) -> list[WorkRow]:
    """The units not done, in plan order, each model run's evaluations on one line."""
    grouped: dict[tuple[str, str], list[Unit]] = {}
    for unit in plan.units:
        if unit.state != DONE:
            label = f"evaluate {unit.task.run.name}" if unit.kind == EVALUATE else unit.label
            grouped.setdefault((label, unit.state), []).append(unit)
    rows = []
    for (label, state), units in grouped.items():
        evaluations = units[0].kind == EVALUATE
        note = units[0].note
        if evaluations and state != BLOCKED:
            note = ", ".join(dict.fromkeys(u.task.point.label for u in units))
        rows.append(WorkRow(label + (f" ({len(units)} points)" if evaluations else ""), state,
                            f"{format_seconds(sum(u.seconds for u in units))} ({units[0].source})", note))
    return rows


def work_caption(plan: Plan, jobs: int) -> str:
    """``3 done, 80 to run (about 11 min with 2 jobs), 0 blocked (...)``."""
    found = counts(plan.units)
    return (f"{found[DONE]} done, {found[PENDING]} to run (about {format_seconds(wall_seconds(plan, jobs))} with "
            f"{jobs} job{'s' * (jobs > 1)}), {found[BLOCKED]} blocked (about "
            f"{format_seconds(plan.seconds(BLOCKED))} more once unblocked)")
