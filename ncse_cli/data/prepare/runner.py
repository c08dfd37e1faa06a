"""Running a prepare recipe: one job per manifest row, made in worker processes, resumable, summarised.

A recipe plans its jobs (cheap, deterministic for its seed) and hands them to :func:`run_recipe` with a
module-level row function. Finished rows go to a journal as they complete, so an interrupted run continues where
it stopped; rows of a completed run are reused when the configuration is unchanged, so a re-run is a no-op.
Each job draws its randomness from :func:`ncse_cli.data.seeding.item_rng`, so outputs do not depend on
``workers``. A job that cannot be made (silent clip, unreadable file) is skipped with its reason.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ncse_cli.audio import AudioError, save_audio
from ncse_cli.data.manifest import Utterance, manifest_text, read_manifest, write_manifest
from ncse_cli.data.mixing import MixingError
from ncse_cli.data.noise import SkipItem
from ncse_cli.data.prepare.state import PrepareState
from ncse_cli.errors import NcseError
from ncse_cli.progress import Progress, open_task
from ncse_cli.workers import run_parallel

log = logging.getLogger("ncse")

RowFn = Callable[[Any, Path], Utterance]


class PrepareError(NcseError, ValueError):
    """A recipe that cannot produce a usable manifest."""


@dataclass(frozen=True)
class Job:
    """One row to make: the manifest it belongs to, its id and the recipe's picklable description of it."""

    manifest: str
    key: str
    spec: Any


@dataclass
class ManifestSummary:
    """What one manifest holds and how this run got it."""

    name: str
    path: Path
    rows: int
    written: int
    reused: int
    skipped: int
    seconds: float


@dataclass
class PrepareResult:
    """What a recipe wrote: manifests with counts, skipped items with reasons, collected notices."""

    recipe: str
    out_dir: Path
    config_path: Path
    manifests: list[ManifestSummary]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    notices: dict[str, int] = field(default_factory=dict)  # notice -> number of distinct files
    elapsed: float = 0.0

    @property
    def up_to_date(self) -> bool:
        """True when nothing had to be made (a re-run of a finished configuration)."""
        return all(m.written == 0 for m in self.manifests)

    def manifest_paths(self) -> dict[str, Path]:
        """Manifest name -> path."""
        return {m.name: m.path for m in self.manifests}


def absolute(path: str | os.PathLike | None) -> str | None:
    """An input path as an absolute string for the stored configuration (``None`` stays ``None``)."""
    return None if path is None else str(Path(path).expanduser().resolve())


def example_paths(out_dir: Path, manifest: str, key: str) -> dict[str, Path]:
    """Where a row's audio lives: ``<out>/<manifest>/{clean,noisy,noise_ref}/<key>.wav``."""
    return {part: out_dir / manifest / part / f"{key}.wav" for part in ("clean", "noisy", "noise_ref")}


def write_example(out_dir: Path, manifest: str, key: str, sample_rate: int, clean: np.ndarray,
                  noisy: np.ndarray, noise_ref: np.ndarray) -> dict[str, str]:
    """Write a row's three files atomically; returns their paths relative to ``out_dir`` (the manifest's folder)."""
    paths = example_paths(out_dir, manifest, key)
    for part, samples in (("clean", clean), ("noisy", noisy), ("noise_ref", noise_ref)):
        save_audio(paths[part], samples, sample_rate)
    return {part: path.relative_to(out_dir).as_posix() for part, path in paths.items()}


class _Notices(logging.Filter):
    """Collects (and silences) the library's notices while one job runs; they are summarised at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return False


def _count_notices(messages: list[str]) -> dict[str, int]:
    """``"<file>: <what>"`` notices -> {what: number of distinct files}."""
    files: dict[str, set[str]] = {}
    for message in messages:
        where, _, what = message.rpartition(": ")
        files.setdefault(what, set()).add(where)
    return {what: len(where) for what, where in sorted(files.items())}


def _execute(make_row: RowFn, job: Job, out_dir: Path) -> dict:
    notices = _Notices()
    log.addFilter(notices)
    entry: dict[str, Any] = {"manifest": job.manifest, "key": job.key}
    try:
        entry["row"] = make_row(job.spec, out_dir).to_dict()
    except (SkipItem, AudioError, MixingError) as err:
        entry["skipped"] = str(err)
    finally:
        log.removeFilter(notices)
    entry["notices"] = notices.messages
    return entry


def _files_exist(row: dict, out_dir: Path) -> bool:
    return all((out_dir / row[k]).is_file() for k in ("clean", "noisy", "noise_ref") if row.get(k))


def _previous_entries(state: PrepareState, stored: dict | None, out_dir: Path) -> dict[tuple[str, str], dict]:
    done = state.read_journal()
    if stored and stored.get("complete"):
        for name in stored["manifests"]:
            if (out_dir / f"{name}.jsonl").is_file():
                for row in read_manifest(out_dir / f"{name}.jsonl"):
                    done[(name, row.id)] = {"manifest": name, "key": row.id, "row": row.to_dict()}
        for name, key, reason in stored.get("skipped", []):
            done[(name, key)] = {"manifest": name, "key": key, "skipped": reason}
    return {k: e for k, e in done.items() if "skipped" in e or _files_exist(e["row"], out_dir)}


def _run_jobs(todo: list[Job], make_row: RowFn, out_dir: Path, workers: int,
              on_done: Callable[[dict], None]) -> None:
    run_parallel(functools.partial(_execute, make_row, out_dir=out_dir), todo, workers if len(todo) > 1 else 1,
                 on_result=lambda index, entry: on_done(entry))


def run_recipe(recipe: str, out_dir: Path, config: dict, jobs: list[Job], make_row: RowFn, *,
               workers: int = 1, progress: Progress | None = None, overwrite: bool = False) -> PrepareResult:
    """Make every job's row (reusing finished ones), write one manifest per name in job order, and summarise."""
    start = time.perf_counter()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # the folder or one of its parents is a file, or no permission
        raise PrepareError(f"{out_dir}: cannot create the output folder ({err.strerror})") from None
    names = list(dict.fromkeys(job.manifest for job in jobs))
    state = PrepareState(out_dir, recipe)
    stored = state.check(config, overwrite)
    done = _previous_entries(state, stored, out_dir)
    reused = set(done)
    todo = [job for job in jobs if (job.manifest, job.key) not in done]
    state.save(config, names, complete=False)
    counter = [len(jobs) - len(todo)]
    task = open_task(progress, f"prepare {recipe}")
    task(counter[0], len(jobs))

    def on_done(entry: dict) -> None:
        state.append_journal(entry)
        done[(entry["manifest"], entry["key"])] = entry
        counter[0] += 1
        task(counter[0], len(jobs))

    _run_jobs(todo, make_row, out_dir, workers, on_done)
    entries = [done[(job.manifest, job.key)] for job in jobs]
    summaries = [_write_manifest(out_dir, name, [e for e in entries if e["manifest"] == name], reused)
                 for name in names]
    skipped = [(e["manifest"], e["key"], e["skipped"]) for e in entries if "skipped" in e]
    state.save(config, names, complete=True, skipped=skipped)
    state.journal.unlink(missing_ok=True)
    notices = _count_notices([n for e in entries for n in e.get("notices", [])])
    return PrepareResult(recipe, out_dir, state.path, summaries, skipped, notices,
                         time.perf_counter() - start)


def _write_manifest(out_dir: Path, name: str, entries: list[dict], reused: set) -> ManifestSummary:
    rows = [Utterance.from_dict(e["row"]) for e in entries if "row" in e]
    path = out_dir / f"{name}.jsonl"
    if not rows:
        reason = entries[0]["skipped"] if entries else "no items"
        raise PrepareError(f"{path}: every item was skipped (first reason: {reason})")
    if not path.is_file() or path.read_text() != manifest_text(rows):
        write_manifest(path, rows)
    fresh = sum(1 for e in entries if "row" in e and (name, e["key"]) not in reused)
    seconds = sum(r.num_samples / r.sample_rate for r in rows)
    return ManifestSummary(name, path, len(rows), fresh, len(rows) - fresh, len(entries) - len(rows), seconds)

