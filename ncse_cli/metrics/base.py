"""What every metric shares: its signature, its registry and the one way it may fail.

A metric is ``fn(estimate, reference, sample_rate) -> float`` on 1-D float arrays of equal length; higher is
better for every registered metric. An intrusive metric (PESQ, ESTOI, SI-SDR) compares the estimate with a clean
reference; a non-intrusive one (DNSMOS) rates the estimate alone, is registered with ``intrusive=False`` and
gets ``reference=None``, so recordings without a clean file can be scored. A metric undefined for one pair of
signals (PESQ on silence) raises :class:`MetricFailure`; evaluation records a missing value for that utterance
instead of stopping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ncse_cli.registry import Registry

MetricFn = Callable[[np.ndarray, Optional[np.ndarray], int], float]


class MetricFailure(Exception):
    """A metric is undefined for this pair of signals; the message says why."""


@dataclass
class Metric:
    """A registered metric: its function and how reports label it."""

    name: str
    label: str
    fn: MetricFn
    digits: int  #: decimals shown in tables
    note: str  #: how it is computed, stored with every evaluation
    rate: int | None = None  #: the only rate it is defined at (other rates are resampled first), if any
    intrusive: bool = True  #: needs the clean reference (else ``fn`` gets ``None`` for it)


METRICS: Registry[Metric] = Registry("metric")
