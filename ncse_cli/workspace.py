"""The workspace: one folder holding every trained model under its name, with its runs and evaluations.

Layout (``NCSE_HOME``, ``--workdir`` or ``./ncse-runs``)::

    models/<name>/config.yaml          resolved run config (model, data, train, sampler sections)
    models/<name>/model.safetensors    inference weights (the EMA weights)
    models/<name>/checkpoints/...      training state for --resume
    models/<name>/train_log.csv        training metrics
    models/<name>/eval/...             evaluation results
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ncse_cli.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from ncse_cli.errors import NcseError

DEFAULT_ROOT = "ncse-runs"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class WorkspaceError(NcseError):
    """An unknown model name or an unusable workspace."""


class Workspace:
    """Named model directories under one root."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root or os.environ.get("NCSE_HOME") or DEFAULT_ROOT)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, name: str) -> Path:
        """Where the model ``name`` lives (whether or not it exists yet)."""
        if not _NAME.match(name):
            raise WorkspaceError(f"invalid model name {name!r}: use letters, digits, '.', '_', '+', '-'")
        return self.models_dir / name

    def models(self) -> list[str]:
        """Names of the models that have weights, sorted."""
        if not self.models_dir.is_dir():
            return []
        return sorted(d.name for d in self.models_dir.iterdir() if (d / WEIGHTS_FILE).is_file())

    def resolve(self, name_or_dir: str | os.PathLike) -> Path:
        """A model directory from a registered name or a path to a model directory."""
        path = Path(name_or_dir)
        if (path / CONFIG_FILE).is_file():
            return path
        if isinstance(name_or_dir, str) and _NAME.match(name_or_dir):
            candidate = self.models_dir / name_or_dir
            if (candidate / CONFIG_FILE).is_file():
                return candidate
        known = ", ".join(self.models()) or "none"
        raise WorkspaceError(f"no model {str(name_or_dir)!r} in {self.root} (known: {known}) and no model directory there")
