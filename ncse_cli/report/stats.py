"""Statistics of the plan's comparisons: a model against its baseline on the same utterances, results across
training seeds and sampler seeds, and the plan's success criteria (noise_conditioning_plan.md, section 7.1).

* **Paired comparison.** Per utterance, ``d_i = model_i - baseline_i``. The 95 % interval of the mean difference
  is the percentile bootstrap over utterances (Efron & Tibshirani 1993, "An Introduction to the Bootstrap",
  ch. 13; the paired form used to compare systems on one test set: Koehn 2004, "Statistical Significance Tests
  for Machine Translation Evaluation"), seeded so a report is reproducible. The p-value is the two-sided
  Wilcoxon signed-rank test of the same differences (Wilcoxon 1945; exact for n <= 50, normal approximation
  above, as :func:`scipy.stats.wilcoxon` decides). Utterances are paired by key columns, never by row order.
* **Seeds.** Several training seeds: mean ± t interval of the per-seed means (the seeds are the samples).
  Several sampler seeds of one model: kept side by side, with their spread.
* **Criteria.** Each criterion is a minimum mean improvement of a metric on one kind of test set; a verdict is
  read from the interval alone: *pass* when the whole interval lies above the target, *fail* when it lies below,
  *inconclusive* when it contains the target (more utterances or seeds are needed to decide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ncse_cli.errors import NcseError
from ncse_cli.metrics import confidence_halfwidth

#: Bootstrap resamples: the Monte-Carlo error of a 95 % percentile bound is then well below the metrics' table
#: precision (0.01 PESQ) for test sets of a few hundred utterances.
BOOTSTRAP_RESAMPLES = 10_000
LEVEL = 0.95


class StatsError(NcseError):
    """Score tables that cannot be compared (different utterances, missing key or metric columns)."""


@dataclass(frozen=True)
class PairedComparison:
    """A model against its baseline on the ``n`` utterances where both have a value."""

    metric: str
    n: int
    missing: int  #: utterances left out because the model or the baseline has no value there
    mean_model: float
    mean_baseline: float
    difference: float  #: mean of model - baseline
    ci_low: float
    ci_high: float
    p_value: float  #: two-sided Wilcoxon signed-rank
    level: float = LEVEL

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def bootstrap_mean_ci(values: np.ndarray, level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN for fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return math.nan, math.nan
    if np.all(values == values[0]):  # every resample has the same mean
        return float(values[0]), float(values[0])
    from scipy import stats  # here, not at the top: `ncse evaluate` prints tables from this package (1 s of import)

    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=level,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (zero differences dropped, Wilcoxon's own
    rule); 1.0 when every difference is zero (nothing differs), NaN without data.

    Exact for up to 50 distinct non-zero magnitudes, else the normal approximation with the tie correction:
    never scipy's random permutation test, which it picks for small samples with ties and which would make the
    p-value change from one report to the next."""
    differences = np.asarray(differences, dtype=np.float64)
    if len(differences) == 0:
        return math.nan
    nonzero = differences[differences != 0]
    if not len(nonzero):
        return 1.0
    from scipy import stats

    exact = len(nonzero) <= 50 and len(np.unique(np.abs(nonzero))) == len(nonzero)
    return float(stats.wilcoxon(nonzero, alternative="two-sided", method="exact" if exact else "approx").pvalue)


def paired_scores(model: pd.DataFrame, baseline: pd.DataFrame, metric: str,
                  key: Sequence[str] = ("id",)) -> pd.DataFrame:
    """``key`` columns, ``model``, ``baseline`` and ``difference`` per utterance, aligned by key.

    Both tables must hold the same utterances (a comparison over different utterances is not paired); rows where
    either value is missing are dropped (:attr:`PairedComparison.missing` counts them)."""
    key = list(key)
    for name, frame in (("model", model), ("baseline", baseline)):
        absent = [c for c in [*key, metric] if c not in frame.columns]
        if absent:
            raise StatsError(f"{name} scores lack column{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
        if frame.duplicated(key).any():
            raise StatsError(f"{name} scores list an utterance twice ({', '.join(key)})")
    joined = model[[*key, metric]].merge(baseline[[*key, metric]], on=key, how="outer", suffixes=("_m", "_b"),
                                         indicator=True)
    unpaired = int((joined["_merge"] != "both").sum())
    if unpaired:
        raise StatsError(f"model and baseline were scored on different utterances ({unpaired} of {len(joined)} "
                         f"appear in one table only); compare results on the same test set")
    frame = joined[key].copy()
    frame["model"] = joined[f"{metric}_m"].astype(float)
    frame["baseline"] = joined[f"{metric}_b"].astype(float)
    frame["difference"] = frame["model"] - frame["baseline"]
    return frame


def compare_paired(model: pd.DataFrame, baseline: pd.DataFrame, metric: str, key: Sequence[str] = ("id",),
                   level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> PairedComparison:
    """Paired bootstrap interval and Wilcoxon p-value of ``model - baseline`` on ``metric``."""
    pairs = paired_scores(model, baseline, metric, key)
    present = pairs[np.isfinite(pairs["difference"])]
    diff = present["difference"].to_numpy()
    low, high = bootstrap_mean_ci(diff, level, resamples, seed)
    mean = (lambda column: float(present[column].mean()) if len(present) else math.nan)
    return PairedComparison(metric, len(present), len(pairs) - len(present), mean("model"), mean("baseline"),
                            mean("difference"), low, high, wilcoxon_p(diff), level)


def mean_over_runs(frames: Sequence[pd.DataFrame], metrics: Sequence[str],
                   key: Sequence[str] = ("id",)) -> pd.DataFrame:
    """Per utterance, the mean of each metric over several runs of one model (training or sampler seeds) on the
    same utterances: what is paired against a baseline when a model has several runs. An utterance missing a
    value in any run has no mean (NaN), so every mean is over the same runs."""
    if not frames:
        raise StatsError("no runs to average")
    key = list(key)
    stacked = pd.concat([f[[*key, *metrics]] for f in frames], ignore_index=True)
    counts = stacked.groupby(key, sort=False).size()
    if (counts != len(frames)).any():
        raise StatsError("the runs were scored on different utterances; average runs of one test set only")
    return stacked.groupby(key, sort=False)[list(metrics)].agg(lambda v: v.mean(skipna=False)).reset_index()


@dataclass(frozen=True)
class SeedAggregate:
    """One number (a test-set mean) from several seeds: each seed's value, their mean and spread."""

    values: dict[int, float]  #: by seed
    mean: float
    ci95: float  #: t interval half-width over seeds (NaN for one seed)
    low: float  #: smallest value
    high: float  #: largest value

    @property
    def n(self) -> int:
        return len(self.values)


def across_seeds(values: Mapping[int, float]) -> SeedAggregate:
    """Mean ± t interval of per-seed values (training seeds), with every seed's value kept (sampler seeds are
    shown side by side); seeds without a finite value are left out."""
    kept = {int(s): float(v) for s, v in sorted(values.items()) if math.isfinite(v)}
    array = np.array(list(kept.values()), dtype=np.float64)
    if not len(array):
        return SeedAggregate({}, math.nan, math.nan, math.nan, math.nan)
    return SeedAggregate(kept, float(array.mean()), confidence_halfwidth(array), float(array.min()),
                         float(array.max()))


@dataclass(frozen=True)
class Criterion:
    """A success criterion: the mean improvement of ``metric`` on test sets of ``kind`` over ``baseline`` must
    exceed ``target`` (a negative target is a non-inferiority margin: "no worse than ``-target``")."""

    id: str
    scenario: str  #: as the plan names it
    kind: str  #: the test-set kind it is judged on (:data:`ncse_cli.evaluation.testsets.KINDS`)
    target: float
    baseline: str  #: what the model is compared with
    metric: str = "pesq"

    @property
    def requirement(self) -> str:
        """The target in words: ``> +0.30 PESQ over no conditioning``."""
        label = self.metric.upper().replace("_", "-")
        if self.target < 0:
            return f"no worse than {self.baseline} by more than {-self.target:.2f} {label}"
        return f"> {self.target:+.2f} {label} over {self.baseline}"


#: Non-inferiority margin of "match or exceed baseline" (the plan gives none): a loss smaller than this is a
#: match. A match can only be shown when the paired interval is narrower than the margin; reports print the
#: interval beside every verdict, so the choice can be checked.
MATCH_MARGIN = 0.05

#: The plan's primary metrics (section 7.1).
PLAN_CRITERIA = (
    Criterion("in-distribution", "In-distribution (VB-DEMAND)", "in-distribution", -MATCH_MARGIN,
              "no conditioning"),
    Criterion("ood", "OOD (ESC-50 noise)", "ood", 0.3, "no conditioning"),
    Criterion("non-stationary", "Non-stationary noise", "non-stationary", 0.2, "global pooling"),
)

PASS, FAIL, INCONCLUSIVE, NO_DATA = "pass", "fail", "inconclusive", "no data"


@dataclass(frozen=True)
class Verdict:
    """A criterion judged from one paired comparison."""

    criterion: Criterion
    comparison: PairedComparison | None

    @property
    def outcome(self) -> str:
        return judge(self.criterion, self.comparison)


def judge(criterion: Criterion, comparison: PairedComparison | None) -> str:
    """``pass`` when the interval of the difference lies above the target, ``fail`` when it lies at or below
    it, ``inconclusive`` when it straddles it, ``no data`` without an interval."""
    if comparison is None or not (math.isfinite(comparison.ci_low) and math.isfinite(comparison.ci_high)):
        return NO_DATA
    if comparison.ci_low > criterion.target:
        return PASS
    if comparison.ci_high <= criterion.target:
        return FAIL
    return INCONCLUSIVE
