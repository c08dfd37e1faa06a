"""The workspace: one folder holding every trained model under its name, with its runs and evaluations.

Layout (``NCSE_HOME``, ``--workdir`` or ``./ncse-runs``)::

    models/<name>/config.yaml          resolved run config (model, data, train, sampler sections)
    models/<name>/model.safetensors    inference weights (the EMA weights)
    models/<name>/checkpoints/...      training state for --resume
    models/<name>/train_log.csv        training metrics
    models/<name>/eval/<testset>/<w>/  enhanced/*.wav, settings.json, scores.csv, summary.json
    testsets/<testset>/                testset.json, noisy_scores.csv, noisy_summary.json (shared by all models)

``<testset>`` is the manifest's name plus a hash of its contents (``test-1a2b3c4d5e``), so two different
manifests with the same file name never share results; ``<w>`` is ``w1``, ``w3``, ... or ``w-`` where the
guidance scale has no effect (an unconditioned model). Every file is written atomically; work that must happen
once (scoring a test set's noisy input, evaluating one model at one scale) runs under an exclusive
``fcntl.flock`` on a ``.lock`` file in its folder, so concurrent ``ncse evaluate`` processes wait for each other
instead of racing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ncse_cli.model_dir import CONFIG_FILE, WEIGHTS_FILE
from ncse_cli.errors import NcseError

log = logging.getLogger("ncse")

DEFAULT_ROOT = "ncse-runs"
LOCK_FILE = ".lock"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class WorkspaceError(NcseError):
    """An unknown model name or an unusable workspace."""


class Workspace:
    """Named model directories and shared test-set results under one root."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root or os.environ.get("NCSE_HOME") or DEFAULT_ROOT)
        blocker = file_in_the_way(self.root)
        if blocker is not None:
            raise WorkspaceError(f"{blocker}: not a folder, so it cannot hold the workspace {self.root}")

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def testsets_dir(self) -> Path:
        return self.root / "testsets"

    def model_dir(self, name: str) -> Path:
        """Where the model ``name`` lives (whether or not it exists yet)."""
        if not _NAME.match(name):
            raise WorkspaceError(f"invalid model name {name!r}: use letters, digits, '.', '_', '+', '-'")
        return self.models_dir / name

    def models(self) -> list[str]:
        """Names of the models that have weights, sorted (hidden folders are training's work in progress)."""
        if not self.models_dir.is_dir():
            return []
        return sorted(d.name for d in self.models_dir.iterdir()
                      if _NAME.match(d.name) and (d / WEIGHTS_FILE).is_file())

    def resolve(self, name_or_dir: str | os.PathLike) -> Path:
        """A model directory from a registered name or a path to a model directory."""
        path = Path(name_or_dir)
        if (path / CONFIG_FILE).is_file():
            return path
        candidate = None
        if isinstance(name_or_dir, str) and _NAME.match(name_or_dir):
            candidate = self.models_dir / name_or_dir
            if (candidate / CONFIG_FILE).is_file():
                return candidate
        folder = next((p for p in (candidate, path) if p is not None and p.is_dir()), None)
        if folder is not None:
            raise WorkspaceError(f"{folder}: not a model directory (no {CONFIG_FILE})")
        known = ", ".join(self.models()) or "none"
        raise WorkspaceError(f"no model {str(name_or_dir)!r} in the workspace {self.root} (known: {known}) and no "
                             f"model directory there; pass --workdir or set NCSE_HOME to use another workspace")

    def testset_dir(self, testset_id: str) -> Path:
        """The shared folder of one test set (its noisy-input scores)."""
        return self.testsets_dir / testset_id

    def testsets(self) -> list[str]:
        """Ids of the test sets that have been registered, sorted."""
        if not self.testsets_dir.is_dir():
            return []
        return sorted(d.name for d in self.testsets_dir.iterdir() if (d / "testset.json").is_file())


def file_in_the_way(folder: Path) -> Path | None:
    """``folder`` or its nearest existing parent when that is not a folder (so ``folder`` cannot be made)."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def eval_dir(model_dir: Path, testset_id: str, label: str) -> Path:
    """Where a model's evaluation on one test set at one guidance label lives."""
    return Path(model_dir) / "eval" / testset_id / label


def scale_label(w: float | None) -> str:
    """Folder and table label of a guidance scale: ``3.0 -> "w3"``, ``None`` (no effect) ``-> "w-"``."""
    return "w-" if w is None else f"w{w:g}"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (``fcntl.flock``; released if the process dies).

    When another process holds it, say so once (``what`` names the work) and wait.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process that is %s", what)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
