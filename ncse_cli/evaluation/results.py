"""Stored evaluation results: per-utterance ``scores.csv`` and ``summary.json`` files, read back for reports.

Files (see :mod:`ncse_cli.workspace` for where they live)::

    models/<name>/eval/<testset>/<label>/settings.json    what the enhanced files depend on (model hash, sampler,
                                                          seed, reference condition)
    models/<name>/eval/<testset>/<label>/scores.csv       id, pesq, estoi, si_sdr, snr_db, noise_type, errors
    models/<name>/eval/<testset>/<label>/summary.json     per metric: mean, ci95, n, missing (a ScoreSummary)
    models/<name>/eval/<testset>/<label>/references/      the references of a condition other than matched, with
    models/<name>/eval/<testset>/<label>/references.json  where each came from
    testsets/<testset>/noisy_scores.csv              the same for the unprocessed noisy input
    testsets/<testset>/noisy_summary.json
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ncse_cli import __version__
from ncse_cli.errors import NcseError
from ncse_cli.files import read_json
from ncse_cli.inference.outputs import upgrade_record
from ncse_cli.evaluation.testsets import TestSet
from ncse_cli.metrics import MetricSummary

SETTINGS_FILE = "settings.json"
SCORES_FILE = "scores.csv"
SUMMARY_FILE = "summary.json"
NOISY_SCORES_FILE = "noisy_scores.csv"
NOISY_SUMMARY_FILE = "noisy_summary.json"
NOISY_LABEL = "noisy"


class ResultsError(NcseError):
    """A stored result file that cannot be read; the message names it."""


@dataclass
class ScoreSummary:
    """Summary of one scored condition on one test set: a model at one guidance scale, reference condition and
    sampler seed, or the noisy input."""

    testset: TestSet
    model: str | None  #: ``None`` for the noisy input
    #: the result folder's name (:func:`ncse_cli.evaluation.conditions.result_label`): ``w1``, ``w3``, ``w-``
    #: (guidance has no effect), ``w3.mismatched``, ``w1.seed2``, ...; ``noisy`` for the noisy input
    label: str
    w: float | None  #: the guidance scale; ``None`` where it has no effect (and for the noisy input)
    utterances: int
    metrics: dict[str, MetricSummary]
    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    created: str = ""
    path: Path | None = field(default=None, compare=False)  #: the file it was read from
    condition: str = "matched"  #: the reference condition (``matched``, ``null``, ``mismatched``, ``oracle-1s``...)
    sampler_seed: int = 0  #: the seed of the sampler noise
    #: rows of a conditioned point without a reference (none in the manifest, or none its condition could derive),
    #: enhanced with the null condition, so averaged into conditioned results unconditionally
    unreferenced: int = 0

    @property
    def is_noisy(self) -> bool:
        return self.model is None

    @property
    def scale_text(self) -> str:
        """The guidance column of a table: ``3.0``, or ``-`` where it has no meaning."""
        return "-" if self.w is None else f"{self.w:g}"

    @property
    def unreferenced_text(self) -> str:
        """The ``no ref`` cell of a table: ``2/3`` rows enhanced without a reference, blank when none."""
        return f"{self.unreferenced}/{self.utterances}" if self.unreferenced else ""

    @property
    def is_matched(self) -> bool:
        """Enhanced with each row's own reference (the default condition)."""
        return self.condition == "matched"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``summary.json``): NaN becomes ``null``."""
        return {"model": self.model, "label": self.label, "w": self.w, "condition": self.condition,
                "sampler_seed": self.sampler_seed, "unreferenced": self.unreferenced, "testset": vars(self.testset), "utterances": self.utterances,
                "metrics": {k: v.to_dict() for k, v in self.metrics.items()}, "settings": self.settings,
                "notes": self.notes, "timing": {k: _finite(v) for k, v in self.timing.items()},
                "created": self.created or now(), "ncse_version": __version__}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> "ScoreSummary":
        """Inverse of :meth:`to_dict`; ``path`` records where it was read from. Summaries written before the
        guidance scale was called ``w`` (``cfg_scale``, also in their settings) are read as well, and those written
        before conditions and sampler seeds were recorded are the matched condition at their settings' seed (and
        count no unreferenced rows)."""
        data = upgrade_record(data)
        metrics = {k: MetricSummary.from_dict(v) for k, v in data["metrics"].items()}
        timing = {k: (math.nan if v is None else float(v)) for k, v in data.get("timing", {}).items()}
        settings = upgrade_record(data.get("settings", {}))
        return cls(TestSet.from_dict(data["testset"]), data["model"], data["label"], data["w"],
                   int(data["utterances"]), metrics, settings, data.get("notes", {}), timing, data.get("created", ""),
                   path, str(data.get("condition", "matched")), int(data.get("sampler_seed", settings.get("seed", 0))),
                   int(data.get("unreferenced", 0)))


def _finite(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def now() -> str:
    """UTC time stamp for result files."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_summary(path: Path) -> ScoreSummary | None:
    """The summary stored at ``path``, or ``None`` when there is none."""
    data = read_json(path, missing_ok=True)
    if data is None:
        return None
    try:
        return ScoreSummary.from_dict(data, path)
    except (KeyError, TypeError, ValueError) as err:
        raise ResultsError(f"{path}: not an evaluation summary ({err})") from None


def model_summaries(model_dir: Path) -> list[ScoreSummary]:
    """Every finished evaluation of a model, sorted by test set name, reference condition (matched first),
    guidance scale and sampler seed."""
    found = [read_summary(p) for p in sorted((Path(model_dir) / "eval").glob(f"*/*/{SUMMARY_FILE}"))]
    return sorted((s for s in found if s is not None),
                  key=lambda s: (s.testset.name, s.testset.id, not s.is_matched, s.condition,
                                 -1.0 if s.w is None else s.w, s.sampler_seed))
