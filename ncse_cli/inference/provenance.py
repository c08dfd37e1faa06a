"""Which input each output was made from, so that an output is never kept for an input it was not made from.

An output folder's record (:data:`~ncse_cli.inference.outputs.RECORD_FILE`) says with which model and settings
its outputs were made; :data:`INPUTS_FILE` beside it says from which files: one JSON line per output written,
``{"out": "sub/m00.wav", "input": {"sha256": ..., "bytes": ...}, "noise_ref": {...} or null}``. A file's identity
is the SHA-256 of its bytes, read in blocks (a long recording costs one pass at disk speed, never its size in
memory), and its size. A line is appended just before its output is written and a later line for the same output
replaces an earlier one, so an output that exists was made from the input its last line names; a line lost in a
crash only costs a re-enhancement.

An existing output whose input (or, for a conditioned model, noise reference) is not the one it was made from is
*stale*: another recording of the same name, a file edited since, or an output written by ncse before inputs
were recorded. What happens to it is the user's choice (:data:`~ncse_cli.inference.settings.ON_CHANGED`): ``reenhance`` (the default) enhances
the input again over it, ``refuse`` stops before anything is written and names the file and the reason.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ncse_cli.files import append_text
from ncse_cli.inference.jobs import EnhanceJob
from ncse_cli.inference.outputs import reference_record_path
from ncse_cli.inference.settings import EnhanceError
from ncse_cli.workspace import file_sha256

log = logging.getLogger("ncse")

#: The log of the inputs of an output folder's outputs (hidden, beside its settings record).
INPUTS_FILE = ".ncse-inputs.jsonl"
#: How many stale outputs a refusal names.
_NAMED = 3


class FileIdentities:
    """Identities (``{"sha256", "bytes"}``) of files, each computed once per version of the file: the cache is
    keyed by the file's inode, size and modification time, so a file replaced during a session is hashed again."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int, int], dict[str, Any]] = {}

    def __call__(self, path: Path) -> dict[str, Any]:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if key not in self._known:
            self._known[key] = {"sha256": file_sha256(path), "bytes": stat.st_size}
        return self._known[key]


@dataclass(frozen=True)
class Stale:
    """An existing output that was not made from its job's current input, and why."""

    job: EnhanceJob
    reason: str


class InputLog:
    """The inputs of the outputs of one folder (:data:`INPUTS_FILE`), read once when opened."""

    def __init__(self, out_dir: Path, identities: FileIdentities, conditional: bool = True) -> None:
        self.out_dir, self.path = Path(out_dir), Path(out_dir) / INPUTS_FILE
        self.identities, self.conditional = identities, conditional
        self.recorded = _read_log(self.path)

    @property
    def exists(self) -> bool:
        """False for a folder whose outputs were written before ncse recorded their inputs (or that has none)."""
        return self.path.is_file()

    def identity(self, job: EnhanceJob) -> dict[str, Any]:
        """What ``job``'s output is made from: its input and, for a conditioned model, its noise reference file (a
        reference cut from the input's pauses is part of the input)."""
        ref = job.noise_ref if self.conditional else None
        return {"input": self.identities(job.noisy), "noise_ref": None if ref is None else self.identities(ref)}

    def stale(self, jobs: Iterable[EnhanceJob], references: bool = True) -> list[Stale]:
        """The jobs whose output exists but was made from something else, each with the reason; without
        ``references`` only the inputs are compared."""
        found = []
        for job in jobs:
            if not job.out.is_file():
                continue
            recorded, now = self.recorded.get(self._key(job)), self.identity(job)
            if not references:
                now["noise_ref"] = None if recorded is None else recorded.get("noise_ref")
            if recorded is None:
                found.append(Stale(job, f"no record of the input it was made from (compare {job.noisy})"))
            elif recorded.get("input") != now["input"]:
                found.append(Stale(job, f"made from another file than {job.noisy} ({_describe(recorded.get('input'))}"
                                        f"; now {_describe(now['input'])})"))
            elif recorded.get("noise_ref") != now["noise_ref"]:
                found.append(Stale(job, f"made with another noise reference than {job.noise_ref or 'none'}"))
        return found

    def write(self, job: EnhanceJob) -> None:
        """Record what ``job``'s output is made from (just before the output is written)."""
        line = {"out": self._key(job), **self.identity(job)}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        append_text(self.path, json.dumps(line) + "\n")
        self.recorded[line["out"]] = line

    def _key(self, job: EnhanceJob) -> str:
        return Path(os.path.relpath(job.out, self.out_dir)).as_posix()


def refuse_stale(stale: list[Stale]) -> None:
    """Refuse stale outputs (``--on-changed refuse``), naming them and why."""
    if stale:
        named = "; ".join(f"{item.job.out}: {item.reason}" for item in stale[:_NAMED])
        more = f" (and {len(stale) - _NAMED} more)" if len(stale) > _NAMED else ""
        raise EnhanceError(f"{named}{more}; --on-changed reenhance enhances the input again, or choose another --out")


def remove_stale(stale: list[Stale]) -> None:
    """Remove stale outputs (and the record of an automatic reference beside each), so that they are enhanced
    again like outputs never written; say so once."""
    if stale:
        log.warning("%d existing output(s) not made from today's input, enhanced again (--on-changed reenhance): "
                    "%s: %s", len(stale), stale[0].job.out, stale[0].reason)
    for item in stale:
        item.job.out.unlink(missing_ok=True)
        reference_record_path(item.job).unlink(missing_ok=True)


def _describe(identity: Any) -> str:
    if not isinstance(identity, dict):
        return "unknown"
    return f"{identity.get('bytes')} bytes, sha256 {str(identity.get('sha256'))[:12]}"


def _read_log(path: Path) -> dict[str, dict[str, Any]]:
    """The last line recorded per output; lines that do not parse (one torn by a crash) are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    recorded: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("out"), str):
            recorded[entry["out"]] = entry
    return recorded
