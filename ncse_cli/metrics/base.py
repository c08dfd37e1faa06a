"""What every metric shares: its signature, its registry and the one way it may fail.

A metric is ``fn(estimate, reference, sample_rate) -> float`` on 1-D float arrays of equal length; higher is
better for every registered metric. A metric undefined for one pair of signals (PESQ on silence) raises
:class:`MetricFailure`; evaluation records a missing value for that utterance instead of stopping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ncse_cli.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray, int], float]


class MetricFailure(Exception):
    """A metric is undefined for this pair of signals; the message says why."""


@dataclass
class Metric:
    """A registered metric: its function and how reports label it."""

    name: str
    label: str
    fn: MetricFn
    digits: int  #: decimals shown in tables


METRICS: Registry[Metric] = Registry("metric")
