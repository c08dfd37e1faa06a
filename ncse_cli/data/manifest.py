"""Manifests: JSONL, one utterance per line, paths relative to the manifest file.

Every ``ncse prepare`` command writes this format and every consumer reads it through :func:`read_manifest`,
which validates each line and reports the first bad one by file and line number.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_write_text

REQUIRED = ("id", "clean", "noisy", "noise_ref", "snr_db", "noise_type", "noise_source", "split",
            "sample_rate", "num_samples")
#: Fields that must be present but may be null (a noisy-only input has no clean reference, ...).
NULLABLE = frozenset({"clean", "noise_ref", "snr_db"})


class ManifestError(NcseError, ValueError):
    """A manifest that cannot be used; the message names the file and line."""


@dataclass
class Utterance:
    """One manifest row. Paths are as stored (relative to the manifest); ``extra`` keeps additional fields."""

    id: str
    noisy: str
    sample_rate: int
    num_samples: int
    clean: str | None = None
    noise_ref: str | None = None
    snr_db: float | None = None
    noise_type: str = "unknown"
    noise_source: str = "unknown"
    split: str = "test"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this row: required fields in a fixed order, then the extra ones."""
        row = {name: getattr(self, name) for name in REQUIRED}
        row.update(self.extra)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "row") -> "Utterance":
        """Validate and build a row; raises :class:`ManifestError` naming ``where``."""
        if not isinstance(row, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        missing = [name for name in REQUIRED if name not in row]
        if missing:
            raise ManifestError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for name in REQUIRED:
            value = row[name]
            if value is None and name not in NULLABLE:
                raise ManifestError(f"{where}: field {name} is null")
        _check_type(row, "id", str, where)
        _check_type(row, "noisy", str, where)
        for name in ("clean", "noise_ref", "noise_type", "noise_source", "split"):
            _check_type(row, name, str, where, nullable=name in NULLABLE)
        for name in ("sample_rate", "num_samples"):
            if not isinstance(row[name], int) or isinstance(row[name], bool) or row[name] < 0:
                raise ManifestError(f"{where}: field {name} must be a non-negative integer, got {row[name]!r}")
        if row["sample_rate"] == 0:
            raise ManifestError(f"{where}: field sample_rate must be positive")
        if row["snr_db"] is not None and (not isinstance(row["snr_db"], (int, float)) or isinstance(row["snr_db"], bool)):
            raise ManifestError(f"{where}: field snr_db must be a number or null, got {row['snr_db']!r}")
        known = {f.name for f in fields(cls)} - {"extra"}
        extra = {k: v for k, v in row.items() if k not in known}
        kwargs = {k: row[k] for k in REQUIRED}
        if kwargs["snr_db"] is not None:
            kwargs["snr_db"] = float(kwargs["snr_db"])
        return cls(**kwargs, extra=extra)


def _check_type(row: dict, name: str, tp: type, where: str, nullable: bool = False) -> None:
    value = row[name]
    if value is None and nullable:
        return
    if not isinstance(value, tp):
        raise ManifestError(f"{where}: field {name} must be a {tp.__name__}, got {value!r}")


@dataclass
class Manifest:
    """The rows of one manifest file and the folder their relative paths start from."""

    path: Path
    rows: list[Utterance]

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        """A label for reports: the file name without ``.jsonl``."""
        return self.path.name.removesuffix(".jsonl")

    def resolve(self, relative: str | None) -> Path | None:
        """Absolute path of a row's file (``None`` stays ``None``)."""
        return None if relative is None else (self.root / relative)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.rows)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a JSONL manifest: every line a valid row, ids unique, at least one row."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    rows: list[Utterance] = []
    seen: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ManifestError(f"{where}: not UTF-8 text (is this a JSONL manifest?)") from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{where}: not valid JSON ({err.msg})") from None
            row = Utterance.from_dict(data, where)
            if row.id in seen:
                raise ManifestError(f"{where}: duplicate id {row.id!r}")
            seen.add(row.id)
            rows.append(row)
    if not rows:
        raise ManifestError(f"{path}: manifest is empty")
    return Manifest(path, rows)


def manifest_text(rows: Iterable[Utterance]) -> str:
    """The exact JSONL text of ``rows`` (stable key order and float formatting: same rows, same bytes)."""
    return "".join(json.dumps(row.to_dict(), ensure_ascii=False) + "\n" for row in rows)


def write_manifest(path: str | os.PathLike, rows: Iterable[Utterance]) -> Path:
    """Write rows atomically as JSONL."""
    path = Path(path)
    atomic_write_text(path, manifest_text(rows))
    return path
