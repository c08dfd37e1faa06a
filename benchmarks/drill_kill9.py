"""The kill -9 drill: training killed at random moments, then resumed, must end bit-identical to a run never killed.

A tiny model trains for ``--steps`` steps on a small demo corpus with a checkpoint after every step. One run goes
through uninterrupted; then each trial starts the same ``ncse train`` in a fresh workspace and kills it with SIGKILL:

* half the trials at a random moment of training (after the model is built; imports are not worth killing), and
* half just before a random file write or checkpoint commit (the process kills itself there, so the moments
  inside the first checkpoint and between the last export and its commit are reached on purpose).

To widen the windows inside checkpoint writes, every file write of a drill process first sleeps ``--write-delay``
seconds. The hooks live in this script (its processes wrap a few library functions before running the CLI), not
in ncse. A trial then recovers the way a user would, ``--resume`` when the model folder is there and the plain
command when it is not, sometimes killed once more, and finally runs to the end. It passes when the exported
weights, the last checkpoint (model, EMA, optimizer) and the logged losses equal the uninterrupted run's.

Run (one core; 20 trials took 7 to 20 minutes on a shared 2-core machine, mostly process start-up)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/drill_kill9.py            # 20 trials
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/drill_kill9.py --trials 40 --steps 8 --seed 1
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import torch
import typer
import yaml
from rich.console import Console
from rich.table import Table
from safetensors.torch import load_file

from ncse_cli.data.prepare.demo import DemoConfig, prepare_demo
from ncse_cli.training import read_train_log
from ncse_cli.training.state import checkpoint_dir, exported_step, list_checkpoints

NAME = "m"
#: Environment of a drill process: set only by this script, read only by :func:`child`.
CHILD, KILL_AT, DELAY, STARTED = "NCSE_DRILL_CHILD", "NCSE_DRILL_KILL_AT", "NCSE_DRILL_DELAY", "NCSE_DRILL_STARTED"
#: A model of about 0.4 M weights on 16-frame crops, no validation: a step costs little, checkpoints dominate.
RECIPE = {"model": {"backbone": {"name": "tiny", "nf": 8}, "encoder": {"name": "cnn", "channels": [8, 16, 16, 32],
                                                                       "dim": 32}},
          "train": {"batch_size": 2, "crop_frames": 16, "num_workers": 0, "log_every": 1, "save_every": 1,
                    "keep_checkpoints": 2, "val_items": 0, "val_utterances": 0, "p_uncond": 0.2, "lr": 1e-3}}


def child() -> None:
    """A drill process: wrap the write and commit functions (sleep, and kill at the N-th), then run the CLI."""
    from ncse_cli import files, model_dir
    from ncse_cli.cli import app
    from ncse_cli.training import checkpoints, loop, rundir

    kill_at, delay, events = int(os.environ[KILL_AT]), float(os.environ[DELAY]), [0]

    def hooked(real, sleeps: bool):
        def call(*args, **kwargs):
            events[0] += 1
            if events[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if sleeps:
                time.sleep(delay)
            return real(*args, **kwargs)
        return call

    model_dir.atomic_write_bytes = hooked(model_dir.atomic_write_bytes, True)  # safetensors files
    files.atomic_write_bytes = hooked(files.atomic_write_bytes, True)  # JSON and YAML files (atomic_write_text)
    checkpoints.commit_checkpoint = hooked(checkpoints.commit_checkpoint, False)
    rundir.commit_checkpoint = hooked(rundir.commit_checkpoint, False)
    real_build = loop.build_session

    def build_and_signal(*args, **kwargs):
        session = real_build(*args, **kwargs)
        Path(os.environ[STARTED]).touch()
        return session

    loop.build_session = build_and_signal
    torch.set_num_threads(1)
    try:
        app(sys.argv[1:], prog_name="ncse")
    finally:
        Path(os.environ[STARTED]).with_suffix(".events").write_text(str(events[0]))


@dataclass
class Outcome:
    """What one process did: its exit code (``-9``: killed), its times, and where a killed one stood."""

    code: int
    seconds: float  #: the whole process
    training: float  #: from the model built to the exit
    events: int  #: writes and commits it got to
    landed: str = ""


@dataclass
class Trial:
    """One killed run: how it was first killed, every process it took, how it recovered, what differed."""

    number: int
    kill: str
    outcomes: list[Outcome] = field(default_factory=list)
    recovery: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Drill:
    """Runs ``ncse train`` processes on one corpus and recipe, each in a workspace of its own."""

    def __init__(self, root: Path, steps: int, delay: float) -> None:
        self.root, self.steps, self.delay = root, steps, delay
        self.data = root / "data"
        prepare_demo(self.data, config=DemoConfig(num_train=8, num_valid=1, num_test=1, seconds=1.0))
        self.recipe = root / "recipe.yaml"
        self.recipe.write_text(yaml.safe_dump(RECIPE))

    def command(self, workdir: Path, resume: bool) -> list[str]:
        args = ["train", "--name", NAME, "--workdir", str(workdir), "--no-progress"]
        if resume:
            return [*args, "--resume"]
        return [*args, "--recipe", str(self.recipe), "--data", str(self.data), "--steps", str(self.steps)]

    def run(self, workdir: Path, resume: bool, kill_at: int = 0, kill_after: float | None = None) -> Outcome:
        """One process; ``kill_at`` makes it kill itself before that write or commit, ``kill_after`` has it
        killed that many seconds after its model is built."""
        marker = workdir.with_name(f".{workdir.name}-started")
        marker.unlink(missing_ok=True)
        env = {**os.environ, CHILD: "1", KILL_AT: str(kill_at), DELAY: str(self.delay), STARTED: str(marker),
               "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
        log = workdir.with_name(f"{workdir.name}.log")
        begin, built, deadline = time.perf_counter(), None, None
        with log.open("a") as stderr:
            process = subprocess.Popen([sys.executable, __file__, *self.command(workdir, resume)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
            while process.poll() is None:
                if built is None and marker.exists():
                    built = time.perf_counter()
                    deadline = None if kill_after is None else built + kill_after
                if deadline is not None and time.perf_counter() >= deadline:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.002)
            code = process.wait()
        end = time.perf_counter()
        events = marker.with_suffix(".events")
        outcome = Outcome(code, end - begin, end - (built or end), int(events.read_text()) if events.exists() else -1)
        events.unlink(missing_ok=True)
        if code == -signal.SIGKILL:
            outcome.landed = where(workdir / "models" / NAME)
        elif code != 0:
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            outcome.landed = f"failed: {lines[-1] if lines else code}"
        return outcome


def where(run_dir: Path) -> str:
    """Where a killed run stood, read from the files it left."""
    if not run_dir.exists():
        staging = run_dir.with_name(f".new-{run_dir.name}")
        return "starting: writing the step-0 checkpoint" if staging.exists() else "before the run folder"
    if not list_checkpoints(run_dir):
        return "a run folder without a checkpoint"
    latest, exported = list_checkpoints(run_dir)[-1][0], exported_step(run_dir)
    if exported is not None and exported > latest:
        return f"export {exported} written, its checkpoint not committed"
    partial = sorted((run_dir / "checkpoints").glob(".tmp-step-*"))
    if partial:
        return f"writing checkpoint {int(partial[-1].name.split('-')[-1])}"
    return f"training after checkpoint {latest}"


def compare(reference: Path, run_dir: Path, steps: int) -> list[str]:
    """Differences from the uninterrupted run: exported weights, last checkpoint, logged losses."""
    last = checkpoint_dir(run_dir, steps).relative_to(run_dir)
    problems = []
    frozen = ("frozen.safetensors",) if (reference / last / "frozen.safetensors").is_file() else ()
    for name in ("model.safetensors", *(str(last / f) for f in ("model.safetensors", "ema.safetensors",
                                                                 "optimizer.safetensors", *frozen))):
        if not (run_dir / name).is_file():
            problems.append(f"{name} missing")
            continue
        a, b = load_file(reference / name), load_file(run_dir / name)
        if a.keys() != b.keys() or not all(torch.equal(a[k], b[k]) for k in a):
            problems.append(f"{name} differs")
    losses = [(r["step"], r["loss"]) for r in read_train_log(reference / "train_log.csv")]
    if [(r["step"], r["loss"]) for r in read_train_log(run_dir / "train_log.csv")] != losses:
        problems.append("train_log.csv differs")
    return problems


def trial(drill: Drill, number: int, rng: random.Random, reference: Outcome) -> Trial:
    """Kill a fresh run once (sometimes its first recovery too), recover until it finishes, compare."""
    workdir = drill.root / f"trial-{number:02d}"
    if number % 2:
        kill_at, kill_after = rng.randint(1, reference.events), None
        result = Trial(number, f"before write/commit {kill_at} of {reference.events}")
    else:
        kill_at, kill_after = 0, rng.uniform(0, reference.training)
        result = Trial(number, f"{kill_after:.2f} s into training")
    first = drill.run(workdir, resume=False, kill_at=kill_at, kill_after=kill_after)
    for _ in range(3):  # a machine less busy than during the reference run may finish before the kill
        if first.code != 0 or kill_after is None:
            break
        shutil.rmtree(workdir)
        kill_after = rng.uniform(0, 0.9 * first.training)
        result.kill = f"{kill_after:.2f} s into training"
        first = drill.run(workdir, resume=False, kill_after=kill_after)
    result.outcomes.append(first)
    again = rng.random() < 0.3  # kill the first recovery as well, at a random moment
    for attempt in range(4):
        if result.outcomes[-1].code == 0:
            break
        resume = (workdir / "models" / NAME / "config.yaml").is_file()
        result.recovery.append("--resume" if resume else "re-run")
        kill_after = rng.uniform(0, reference.training / 2) if again and attempt == 0 else None
        result.outcomes.append(drill.run(workdir, resume=resume, kill_after=kill_after))
    if result.outcomes[-1].code != 0:
        result.problems.append(f"did not finish: {result.outcomes[-1].landed}")
    else:
        result.problems += compare(drill.root / "reference" / "models" / NAME, workdir / "models" / NAME,
                                   drill.steps)
    return result


def main(trials: Annotated[int, typer.Option(help="Killed runs.")] = 20,
         steps: Annotated[int, typer.Option(help="Training steps of a run (a checkpoint after each).")] = 6,
         write_delay: Annotated[float, typer.Option(help="Seconds each file write sleeps first (widens the "
                                                         "windows inside checkpoint writes).")] = 0.05,
         seed: Annotated[int, typer.Option(help="Seed of the kill points.")] = 0) -> None:
    """Kill tiny training runs with SIGKILL at random points, resume them, and check they end bit-identical."""
    console = Console()
    console = console if console.is_terminal else Console(width=150)  # a log file gets the whole table
    rng = random.Random(seed)
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ncse-drill-") as tmp:
        drill = Drill(Path(tmp), steps, write_delay)
        reference = drill.run(drill.root / "reference", resume=False)
        if reference.code != 0:
            raise SystemExit(f"the uninterrupted run failed: {reference.landed}")
        console.print(f"uninterrupted run: {reference.seconds:.1f} s ({reference.training:.1f} s after the model "
                      f"was built), {reference.events} file writes and checkpoint commits")
        results = [trial(drill, n, rng, reference) for n in range(1, trials + 1)]
    console.print(table(results, steps, write_delay))
    passed = sum(not r.problems and kills(r) > 0 for r in results)
    console.print(f"[bold]{passed}/{len(results)}[/] trials killed and ended bit-identical to the uninterrupted run "
                  f"({sum(map(kills, results))} SIGKILLs in all, {time.perf_counter() - begin:.0f} s)")
    raise typer.Exit(code=0 if passed == len(results) else 1)


def table(results: list[Trial], steps: int, delay: float) -> Table:
    out = Table(title=f"kill -9 drill: {steps} steps, a checkpoint after each, {delay * 1000:.0f} ms per write")
    for column in ("trial", "first kill", "where it stood", "kills", "recovery", "result"):
        out.add_column(column, justify="right" if column in ("trial", "kills") else "left")
    for r in results:
        landed = "; ".join(o.landed for o in r.outcomes if o.code == -signal.SIGKILL) or "finished first"
        verdict = "[green]bit-identical[/]" if not r.problems else f"[red]{', '.join(r.problems)}[/]"
        out.add_row(str(r.number), r.kill, landed, str(kills(r)), " then ".join(r.recovery) or "-", verdict)
    return out


def kills(result: Trial) -> int:
    """SIGKILLs a trial's processes received."""
    return sum(o.code == -signal.SIGKILL for o in result.outcomes)


if __name__ == "__main__":
    if os.environ.get(CHILD):
        child()
    else:
        typer.run(main)
