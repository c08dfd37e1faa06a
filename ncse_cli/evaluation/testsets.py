"""Test sets: a manifest's identity in the workspace, its kind for the report, and its noisy-input scores.

A test set's id is its manifest's name plus ten hex digits of a SHA-256 over the manifest's absolute path and
bytes, so results are shared between every model evaluated on the same manifest and never between two manifests
that merely share a file name (rows hold relative paths: the same text in another folder is other audio).

Its kind groups test sets in the report's comparison table (plan section 5.4): taken from the rows' ``corpus``
field written by ``ncse prepare`` (``vbdemand``, ``esc50``, ``urbansound8k``, ``nonstationary``, ``demo``, and
``synthetic`` for ``ncse prepare ood --synthetic``), else
from the manifest name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ncse_cli.data.manifest import Manifest, read_manifest
from ncse_cli.workspace import Workspace

log = logging.getLogger("ncse")

TESTSET_FILE = "testset.json"

#: Report groups in column order, with their table headings.
KINDS = {"in-distribution": "VB-DEMAND", "ood": "OOD", "non-stationary": "Non-stat", "demo": "Demo",
         "other": "Other"}
_CORPUS_KINDS = {"vbdemand": "in-distribution", "esc50": "ood", "urbansound8k": "ood", "synthetic": "ood",
                 "nonstationary": "non-stationary", "demo": "demo"}
_NAME_PREFIXES = (("vbdemand", "in-distribution"), ("esc50", "ood"), ("urbansound", "ood"),
                  ("nonstationary", "non-stationary"), ("nonstat", "non-stationary"))


@dataclass(frozen=True)
class TestSet:
    """A registered test set (``testsets/<id>/testset.json``)."""

    id: str
    name: str
    manifest: str  #: absolute path when registered
    sha256: str  #: of the manifest's absolute path and bytes
    kind: str
    rows: int

    @classmethod
    def from_dict(cls, data: dict) -> "TestSet":
        return cls(**{k: data[k] for k in ("id", "name", "manifest", "sha256", "kind", "rows")})


def manifest_kind(manifest: Manifest) -> str:
    """The report group of a manifest: its rows' most common ``corpus``, else its name's prefix, else other."""
    corpora = Counter(str(row.extra.get("corpus", "")) for row in manifest)
    corpus, _ = corpora.most_common(1)[0]
    if corpus in _CORPUS_KINDS:
        return _CORPUS_KINDS[corpus]
    for prefix, kind in _NAME_PREFIXES:
        if manifest.name.startswith(prefix):
            return kind
    return "other"


def load_testset(path: str | Path) -> tuple[TestSet, Manifest]:
    """Read a test manifest and describe it. Rows without a clean file (recordings from the field) are scored
    by the metrics that need none (DNSMOS) alone; that is said once per test set."""
    manifest = read_manifest(path)
    without = sum(row.clean is None for row in manifest)
    if without:
        rows = "no row has a clean file" if without == len(manifest) else \
            f"{without} of {len(manifest)} rows have no clean file"
        log.info("%s: %s, scored with DNSMOS alone (PESQ, ESTOI and SI-SDR need the clean speech)", manifest.path,
                 rows)
    location = str(manifest.path.resolve())
    digest = hashlib.sha256(location.encode() + b"\0" + manifest.path.read_bytes()).hexdigest()
    testset = TestSet(f"{manifest.name}-{digest[:10]}", manifest.name, location, digest, manifest_kind(manifest),
                      len(manifest))
    return testset, manifest


def read_testset(workspace: Workspace, testset_id: str) -> TestSet | None:
    """A registered test set, or ``None`` when the workspace has no record of it."""
    path = workspace.testset_dir(testset_id) / TESTSET_FILE
    if not path.is_file():
        return None
    return TestSet.from_dict(json.loads(path.read_text()))
