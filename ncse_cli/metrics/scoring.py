"""Scoring one utterance with every registered metric; a metric that fails leaves a missing value and a reason."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ncse_cli.audio import RESAMPLER_ID
from ncse_cli.metrics import estoi, sisdr  # noqa: F401  (register estoi, si_sdr)
from ncse_cli.metrics.base import METRICS, MetricFailure
from ncse_cli.metrics.pesq import PESQ_RATE  # registers pesq

#: The metrics of an evaluation, in table order.
DEFAULT_METRICS = ("pesq", "estoi", "si_sdr")

#: Raised whenever a change alters what a metric returns, so that stored results made before it are not mixed
#: with new ones: 2 = ESTOI of a silent clean reference is missing, no longer a number near 0.
METRICS_VERSION = 2


@dataclass
class UtteranceScores:
    """One utterance's value per metric (NaN where missing) and why each missing one is missing."""

    values: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)


def score_utterance(estimate: np.ndarray, reference: np.ndarray, sample_rate: int,
                    metrics: Sequence[str] = DEFAULT_METRICS) -> UtteranceScores:
    """Every metric of ``estimate`` against ``reference`` (same length and rate)."""
    if len(estimate) != len(reference):
        raise ValueError(f"estimate has {len(estimate)} samples, reference {len(reference)}")
    values, errors = {}, {}
    for name in metrics:
        metric = METRICS.get(name)
        try:
            values[name] = metric.fn(estimate, reference, sample_rate)
        except MetricFailure as err:
            values[name], errors[name] = math.nan, str(err)
    return UtteranceScores(values, errors)


def metric_notes(sample_rate: int, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, str]:
    """How each metric was computed for signals at ``sample_rate`` (stored with every evaluation)."""
    notes = {"pesq": "wide-band PESQ (ITU-T P.862.2, pesq package) at 16 kHz",
             "estoi": "extended STOI (Jensen & Taal 2016, pystoi)",
             "si_sdr": "scale-invariant SDR in dB (Le Roux et al. 2019)"}
    if sample_rate != PESQ_RATE:
        notes["pesq"] += f", resampled from {sample_rate} Hz with {RESAMPLER_ID}"
    return {name: notes.get(name, name) for name in metrics}
