"""Breakdowns of per-utterance scores per SNR, noise type, noise category and test set.

``scores.csv`` carries each utterance's id, metrics, ``snr_db`` and ``noise_type``; the rest of what a breakdown
groups by lives in the test set's manifest, so scores are joined with their manifest rows by utterance id
(:func:`with_metadata`) rather than stored twice. Grouping columns:

* ``snr``: the nominal SNR - VoiceBank-DEMAND rows record the measured SNR as ``snr_db`` and the corpus's nominal
  level as ``log_snr_db``, which is the one to group by. Levels are kept as they are when there are few of them
  (prepared test sets mix at a handful of SNRs), else binned into 5 dB intervals.
* ``noise_type``: the row's ``noise_type`` (ESC-50 class, UrbanSound8K class, DEMAND environment, kind).
* ``category``: a coarser grouping where the corpus defines one (ESC-50's five major categories), else the noise
  type.
* ``testset``: the test set, when frames of several test sets are stacked (:func:`stack_testsets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ncse_cli.data.corpora.esc50 import MAJOR_CATEGORY
from ncse_cli.data.manifest import Manifest
from ncse_cli.evaluation.results import NOISY_SCORES_FILE, SCORES_FILE, ScoreSummary
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.metrics import MetricSummary, summarize
from ncse_cli.report.stats import LEVEL, PairedComparison, StatsError, compare_paired

#: Grouping columns and their table headings.
GROUPINGS = {"snr": "SNR (dB)", "noise_type": "Noise type", "category": "Noise category", "testset": "Test set"}
#: At most this many distinct SNR levels are shown as they are; more are binned.
MAX_SNR_LEVELS = 8
SNR_BIN_DB = 5.0
UNKNOWN = "unknown"


def read_summary_scores(summary: ScoreSummary) -> pd.DataFrame:
    """The per-utterance ``scores.csv`` (``noisy_scores.csv`` for the noisy input) beside a stored summary."""
    if summary.path is None:
        raise StatsError(f"the summary of {summary.model or 'the noisy input'} on {summary.testset.name} was not "
                         f"read from a file, so its scores cannot be found")
    path = summary.path.parent / (NOISY_SCORES_FILE if summary.is_noisy else SCORES_FILE)
    if not path.is_file():
        raise StatsError(f"{path}: per-utterance scores missing beside {summary.path.name}")
    return read_scores(path)


def with_metadata(scores: pd.DataFrame, manifest: Manifest) -> pd.DataFrame:
    """``scores`` with each utterance's manifest metadata: ``snr`` (nominal), ``noise_type``, ``category``,
    ``noise_source`` and ``corpus``; every scored id must be a row of ``manifest``."""
    rows = {row.id: row for row in manifest}
    unknown = [i for i in scores["id"] if i not in rows]
    if unknown:
        raise StatsError(f"{manifest.path}: no row for scored utterance {unknown[0]!r}"
                         f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; were these scores made "
                         f"on this test set?")
    matched = [rows[i] for i in scores["id"]]
    frame = scores.drop(columns=[c for c in ("snr_db", "noise_type") if c in scores.columns]).copy()
    frame["snr"] = [_nominal_snr(row.snr_db, row.extra.get("log_snr_db")) for row in matched]
    frame["noise_type"] = [row.noise_type for row in matched]
    frame["category"] = [MAJOR_CATEGORY.get(row.noise_type, row.noise_type) if row.extra.get("corpus") == "esc50"
                         else row.noise_type for row in matched]
    frame["noise_source"] = [row.noise_source for row in matched]
    frame["corpus"] = [str(row.extra.get("corpus", "")) for row in matched]
    return frame


def _nominal_snr(measured: float | None, nominal: object) -> float:
    value = nominal if isinstance(nominal, (int, float)) and not isinstance(nominal, bool) else measured
    return math.nan if value is None else float(value)


def stack_testsets(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Score frames of several test sets (by test-set name) as one, with a ``testset`` column; pair such frames
    on ``("testset", "id")``, since utterance ids repeat across test sets made from the same speech."""
    if not frames:
        raise StatsError("no test sets to stack")
    return pd.concat([f.assign(testset=name) for name, f in frames.items()], ignore_index=True)


def snr_labels(values: pd.Series) -> pd.Series:
    """Group labels of SNR values: the values themselves (``"5"``) when there are at most
    :data:`MAX_SNR_LEVELS`, else 5 dB bins (``"[5, 10)"``); missing values are ``unknown``."""
    finite = values[np.isfinite(values)]
    if finite.nunique() <= MAX_SNR_LEVELS:
        return values.map(lambda v: f"{v:g}" if math.isfinite(v) else UNKNOWN)
    low = np.floor(values / SNR_BIN_DB) * SNR_BIN_DB
    return low.map(lambda v: f"[{v:g}, {v + SNR_BIN_DB:g})" if math.isfinite(v) else UNKNOWN)


def group_labels(frame: pd.DataFrame, by: str) -> pd.Series:
    """The group of each row for grouping column ``by`` (see :data:`GROUPINGS`)."""
    if by not in GROUPINGS:
        raise StatsError(f"unknown breakdown {by!r}; known: {', '.join(GROUPINGS)}")
    if by not in frame.columns:
        raise StatsError(f"scores have no {by} column (join them with their manifest: with_metadata)")
    return snr_labels(frame[by].astype(float)) if by == "snr" else frame[by].astype(str)


def _ordered(labels: pd.Series) -> list[str]:
    """Distinct labels in reading order: numerically for SNR levels and bins, else alphabetically; unknown last."""
    def key(label: str) -> tuple:
        number = label.strip("[").split(",")[0]
        try:
            return (label == UNKNOWN, float(number), label)
        except ValueError:
            return (label == UNKNOWN, math.inf, label)
    return sorted(labels.unique(), key=key)


@dataclass(frozen=True)
class GroupSummary:
    """One group of a breakdown: its label, utterance count and each metric's summary."""

    group: str
    utterances: int
    metrics: dict[str, MetricSummary]


def breakdown(frame: pd.DataFrame, by: str, metrics: Sequence[str]) -> list[GroupSummary]:
    """Mean ± t interval of each metric per group of ``by``, groups in reading order."""
    labels = group_labels(frame, by)
    return [GroupSummary(g, int((labels == g).sum()),
                         {m: summarize(frame.loc[labels == g, m].astype(float)) for m in metrics})
            for g in _ordered(labels)]


def paired_breakdown(model: pd.DataFrame, baseline: pd.DataFrame, by: str, metric: str, key: Sequence[str] = ("id",),
                     level: float = LEVEL, seed: int = 0) -> list[tuple[str, PairedComparison]]:
    """The paired comparison of ``model`` against ``baseline`` within each group of ``by`` (the groups come
    from ``model``, which must carry the grouping column; the baseline only needs the same utterances)."""
    labels = group_labels(model, by)
    results = []
    for group in _ordered(labels):
        keys = model.loc[labels == group, list(key)]
        part = baseline.merge(keys, on=list(key), how="inner")
        results.append((group, compare_paired(model[labels == group], part, metric, key, level, seed=seed)))
    return results
