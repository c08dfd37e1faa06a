"""Clean speech to mix with noise: the ``clean`` column of a manifest, or every WAV file under a folder."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ncse_cli.data.corpora.base import CorpusError
from ncse_cli.data.manifest import read_manifest

SPEAKER = re.compile(r"^([A-Za-z]*\d+)_")


@dataclass(frozen=True)
class CleanUtterance:
    """A clean utterance: id, absolute path and speaker label (from the manifest or the ``p232_001`` name)."""

    id: str
    path: Path
    speaker: str


def speaker_of(utterance_id: str) -> str:
    """The speaker of an id like ``p232_001`` (the prefix before the first underscore), else the id itself."""
    match = SPEAKER.match(utterance_id)
    return match.group(1) if match else utterance_id


def index_clean(source: str | os.PathLike) -> list[CleanUtterance]:
    """Clean utterances from a manifest (``.jsonl``, rows need a ``clean`` path) or a folder of WAV files
    (searched recursively; ids are the relative paths without extension, ``/`` replaced by ``_``)."""
    source = Path(source).expanduser()
    if source.is_file():
        manifest = read_manifest(source)
        items = []
        for row in manifest:
            if row.clean is None:
                raise CorpusError(f"{source}: row {row.id} has no clean audio")
            speaker = str(row.extra.get("speaker") or speaker_of(row.id))
            items.append(CleanUtterance(row.id, manifest.resolve(row.clean), speaker))
        return items
    if not source.is_dir():
        raise CorpusError(f"{source}: no such clean manifest or folder")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
    if not files:
        raise CorpusError(f"{source}: no .wav files")
    items = []
    for path in files:
        utt = str(path.relative_to(source).with_suffix("")).replace(os.sep, "_")
        items.append(CleanUtterance(utt, path, speaker_of(utt)))
    return items
