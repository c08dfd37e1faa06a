"""Scoring one utterance with every registered metric; a metric that fails leaves a missing value and a reason.

Without a clean reference only the non-intrusive metrics (DNSMOS) are computed; each intrusive one is missing
with the reason "no clean reference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ncse_cli.audio import RESAMPLER_ID
from ncse_cli.metrics import dnsmos, estoi, pesq, sisdr  # noqa: F401  (register the metrics)
from ncse_cli.metrics.base import METRICS, MetricFailure

#: The metrics of an evaluation, in table order: the intrusive ones, then DNSMOS, which needs no clean file.
DEFAULT_METRICS = ("pesq", "estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")

#: Raised whenever a change alters what a metric returns, so that stored results made before it are not mixed
#: with new ones: 2 = ESTOI of a silent clean reference is missing, no longer a number near 0; 3 = DNSMOS SIG,
#: BAK and OVRL are scored beside them.
METRICS_VERSION = 3


def evaluation_metrics(dnsmos: bool = True) -> tuple[str, ...]:
    """The metrics an evaluation scores: all of :data:`DEFAULT_METRICS`, or the intrusive ones alone (DNSMOS costs
    about 0.3 s per 9 s segment on one CPU thread, and a clip shorter than 9 s is repeated to 16 s and rated in 7
    segments: 5-10 times PESQ, ESTOI and SI-SDR together; benchmarks/bench_dnsmos.py)."""
    return tuple(m for m in DEFAULT_METRICS if dnsmos or METRICS.get(m).intrusive)


@dataclass
class UtteranceScores:
    """One utterance's value per metric (NaN where missing) and why each missing one is missing."""

    values: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)


#: Why an intrusive metric is missing for a recording without a clean file.
NO_REFERENCE = "no clean reference"


def score_utterance(estimate: np.ndarray, reference: np.ndarray | None, sample_rate: int,
                    metrics: Sequence[str] = DEFAULT_METRICS) -> UtteranceScores:
    """Every metric of ``estimate`` against ``reference`` (same length and rate; None: no clean file)."""
    if reference is not None and len(estimate) != len(reference):
        raise ValueError(f"estimate has {len(estimate)} samples, reference {len(reference)}")
    values, errors = {}, {}
    for name in metrics:
        metric = METRICS.get(name)
        if metric.intrusive and reference is None:
            values[name], errors[name] = math.nan, NO_REFERENCE
            continue
        try:
            values[name] = metric.fn(estimate, reference, sample_rate)
        except MetricFailure as err:
            values[name], errors[name] = math.nan, str(err)
    return UtteranceScores(values, errors)


def metric_notes(sample_rate: int, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, str]:
    """How each metric was computed for signals at ``sample_rate`` (stored with every evaluation)."""
    notes = {}
    for name in metrics:
        metric = METRICS.get(name)
        resampled = metric.rate is not None and metric.rate != sample_rate
        notes[name] = metric.note + (f", resampled from {sample_rate} Hz with {RESAMPLER_ID}" if resampled else "")
    return notes
