"""Summary statistics of per-utterance scores: mean, 95% confidence interval, count, missing count.

The interval is Student's t interval for a mean, ``mean ± t_{0.975, n-1} s / sqrt(n)`` with the sample standard
deviation ``s`` (ddof 1), the usual choice when per-utterance scores are summarised (Student 1908).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np


@dataclass(frozen=True)
class MetricSummary:
    """Mean and confidence half-width over the ``n`` utterances with a value; ``missing`` had none."""

    mean: float
    ci95: float
    n: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes ``None`` (JSON has no NaN)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetricSummary":
        """Inverse of :meth:`to_dict`."""
        def num(key: str) -> float:
            return math.nan if data.get(key) is None else float(data[key])
        return cls(num("mean"), num("ci95"), int(data["n"]), int(data["missing"]))


def confidence_halfwidth(values: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the t confidence interval for the mean of ``values`` (NaN for fewer than two)."""
    from scipy import stats  # 1 s to import: not at the start of every process that imports the metrics

    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))


def summarize(values: Iterable[float]) -> MetricSummary:
    """Summary of one metric over utterances; NaN entries count as missing and are left out of the mean."""
    array = np.asarray(list(values), dtype=np.float64)
    present = array[np.isfinite(array)]
    mean = float(present.mean()) if len(present) else math.nan
    return MetricSummary(mean, confidence_halfwidth(present), int(len(present)), int(len(array) - len(present)))
