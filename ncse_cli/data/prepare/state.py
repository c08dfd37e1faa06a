"""What a prepare recipe remembers in its output folder, so a re-run skips finished work and a changed
configuration is refused (or, when asked, rebuilt) instead of being mixed with old outputs.

``prepare_<recipe>.yaml`` holds the resolved configuration, the manifest names and whether the run completed;
``.prepare_<recipe>.journal.jsonl`` holds one line per finished item while the run is under way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ncse_cli.config import save_yaml
from ncse_cli.errors import NcseError
from ncse_cli.files import append_text
from ncse_cli.data.manifest import ManifestError, Utterance


class PrepareStateError(NcseError, ValueError):
    """An output folder prepared with another configuration, or a damaged state file."""


def _normalise(data: Any) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


@dataclass
class PrepareState:
    """The state file of one recipe in one output folder."""

    out_dir: Path
    recipe: str

    @property
    def path(self) -> Path:
        """The state file, ``prepare_<recipe>.yaml``."""
        return self.out_dir / f"prepare_{self.recipe}.yaml"

    @property
    def journal(self) -> Path:
        """The journal of finished items of a run under way."""
        return self.out_dir / f".prepare_{self.recipe}.journal.jsonl"

    def load(self) -> dict | None:
        """The stored state, or ``None`` when the recipe never ran here."""
        if not self.path.is_file():
            return None
        try:
            data = yaml.safe_load(self.path.read_text())
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or not {"config", "manifests", "complete"} <= set(data):
            raise PrepareStateError(f"{self.path}: damaged prepare state; delete it (and the outputs) to rebuild")
        return data

    def check(self, config: dict, overwrite: bool) -> dict | None:
        """The stored state if it matches ``config``; on a mismatch refuse, or with ``overwrite`` (or when the
        earlier run left no utterance behind, every item skipped) delete the old outputs and return ``None``."""
        old = self.load()
        if old is None or _normalise(old["config"]) == _normalise(config):
            return old
        if not overwrite and self.holds_outputs(old["manifests"]):
            changes = "; ".join(_differences(_normalise(old["config"]), _normalise(config))[:4])
            raise PrepareStateError(f"{self.out_dir} was prepared by '{self.recipe}' with another configuration "
                                    f"({changes}); use another output folder or --overwrite to rebuild it")
        self.remove_outputs(old["manifests"])
        return None

    def holds_outputs(self, manifests: list[str]) -> bool:
        """Whether an earlier run left an utterance behind: a manifest row, or a journalled item of a run that
        was interrupted."""
        for name in manifests:
            manifest = self.out_dir / f"{name}.jsonl"
            if manifest.is_file() and manifest.read_text().strip():
                return True
        return any(entry.get("row") is not None for entry in self.read_journal().values())

    def remove_outputs(self, manifests: list[str]) -> None:
        """Delete the manifests this recipe wrote, their audio folders, the journal and the state file."""
        for name in manifests:
            (self.out_dir / f"{name}.jsonl").unlink(missing_ok=True)
            folder = self.out_dir / name
            if folder.is_dir():
                shutil.rmtree(folder)
        self.journal.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def save(self, config: dict, manifests: list[str], complete: bool,
             skipped: list[tuple[str, str, str]] = ()) -> None:
        """Write the state file atomically (``skipped``: (manifest, key, reason) of items that were skipped)."""
        save_yaml({"recipe": self.recipe, "complete": complete, "manifests": manifests, "config": config,
                   "skipped": [list(s) for s in skipped]}, self.path)

    def read_journal(self) -> dict[tuple[str, str], dict]:
        """Finished items of an interrupted run: (manifest, key) -> entry. A torn last line is ignored."""
        done: dict[tuple[str, str], dict] = {}
        if not self.journal.is_file():
            return done
        for line in self.journal.read_text().splitlines():
            try:
                entry = json.loads(line)
                if entry.get("row") is not None:
                    Utterance.from_dict(entry["row"])
                done[(entry["manifest"], entry["key"])] = entry
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ManifestError):
                continue
        return done

    def append_journal(self, entry: dict) -> None:
        """Record one finished item (flushed at once, so an interruption loses at most the line being written)."""
        append_text(self.journal, json.dumps(entry) + "\n")
