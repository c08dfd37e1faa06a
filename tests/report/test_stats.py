"""Paired comparisons, seeds and criteria: closed forms for the bootstrap and the Wilcoxon test, pairing by id."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ncse_cli.report.stats import (FAIL, INCONCLUSIVE, NO_DATA, PASS, PLAN_CRITERIA, Criterion, PairedComparison,
                                   StatsError, Verdict, across_seeds, bootstrap_mean_ci, compare_paired,
                                   mean_over_runs, wilcoxon_p)


def test_bootstrap_of_zeros_and_ones_matches_the_binomial_quantiles():
    # resampling n values of which k are one: the resampled mean is Binomial(n, k/n) / n exactly
    n, k = 40, 13
    values = np.array([1.0] * k + [0.0] * (n - k))
    low, high = bootstrap_mean_ci(values, resamples=20_000, seed=3)
    binomial = stats.binom(n, k / n)
    assert abs(low - binomial.ppf(0.025) / n) <= 1 / n
    assert abs(high - binomial.ppf(0.975) / n) <= 1 / n
    assert low < k / n < high


def test_bootstrap_is_seeded_and_degenerate_cases_are_exact():
    values = np.random.default_rng(0).normal(0.2, 1.0, 50)
    assert bootstrap_mean_ci(values, seed=1) == bootstrap_mean_ci(values, seed=1)
    assert bootstrap_mean_ci(values, seed=1) != bootstrap_mean_ci(values, seed=2)
    assert bootstrap_mean_ci(np.full(7, 0.25)) == (0.25, 0.25)
    assert all(math.isnan(v) for v in bootstrap_mean_ci(np.array([1.0])))


@pytest.mark.parametrize("differences,expected", [
    ([0.1, 0.2, 0.3, 0.4, 0.5], 2 / 2 ** 5),  # every sign positive: T- = 0, P = 2 * 1/32
    ([1.0, -2.0, 3.0, 4.0, 5.0], 2 * 3 / 2 ** 5),  # T- = 2: subsets of ranks {1..5} summing to <= 2 are {}, {1}, {2}
    ([-1.0, -2.0, -3.0, -4.0, -5.0, -6.0], 2 / 2 ** 6),
])
def test_wilcoxon_matches_the_exact_signed_rank_distribution(differences, expected):
    assert wilcoxon_p(np.array(differences)) == pytest.approx(expected)


def test_wilcoxon_without_differences_or_data():
    assert wilcoxon_p(np.zeros(5)) == 1.0
    assert math.isnan(wilcoxon_p(np.array([])))


def frames(n=120, shift=0.3, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"u{i:03d}" for i in range(n)]
    base = rng.normal(2.0, 0.5, n)
    model = base + shift + rng.normal(0, 0.4, n)
    return (pd.DataFrame({"id": ids, "pesq": model}), pd.DataFrame({"id": ids, "pesq": base}))


def test_paired_comparison_pairs_by_id_not_by_row_order():
    model, baseline = frames()
    shuffled = baseline.sample(frac=1.0, random_state=1).reset_index(drop=True)
    result = compare_paired(model, shuffled, "pesq", seed=5)
    diff = model["pesq"].to_numpy() - baseline["pesq"].to_numpy()
    assert result.n == 120 and result.missing == 0
    assert result.difference == pytest.approx(diff.mean())
    assert result.mean_model - result.mean_baseline == pytest.approx(result.difference)
    assert result.p_value == pytest.approx(stats.wilcoxon(model["pesq"], baseline["pesq"]).pvalue)
    assert (result.ci_low, result.ci_high) == bootstrap_mean_ci(diff, seed=5)
    assert result.ci_low < diff.mean() < result.ci_high and result.significant


def test_missing_values_are_dropped_pairwise_and_other_utterances_refused():
    model, baseline = frames(n=10)
    model.loc[2, "pesq"], baseline.loc[5, "pesq"] = math.nan, math.nan
    result = compare_paired(model, baseline, "pesq")
    assert (result.n, result.missing) == (8, 2)
    with pytest.raises(StatsError, match="different utterances"):
        compare_paired(model.iloc[1:], baseline, "pesq")
    with pytest.raises(StatsError, match="lack column si_sdr"):
        compare_paired(model, baseline, "si_sdr")
    with pytest.raises(StatsError, match="twice"):
        compare_paired(pd.concat([model, model.iloc[:1]]), baseline, "pesq")


def test_pairing_over_several_test_sets_uses_every_key_column():
    model, baseline = frames(n=6)
    both = (pd.concat([f.assign(testset=t) for t in ("a", "b")]) for f in (model, baseline))
    result = compare_paired(*both, "pesq", key=("testset", "id"))
    assert result.n == 12


def test_mean_over_runs_averages_per_utterance_and_keeps_missing_strict():
    a = pd.DataFrame({"id": ["x", "y"], "pesq": [1.0, 2.0]})
    b = pd.DataFrame({"id": ["y", "x"], "pesq": [4.0, math.nan]})
    mean = mean_over_runs([a, b], ["pesq"]).set_index("id")["pesq"]
    assert mean["y"] == 3.0 and math.isnan(mean["x"])
    with pytest.raises(StatsError, match="different utterances"):
        mean_over_runs([a, b.iloc[:1]], ["pesq"])


def test_across_seeds_is_the_t_interval_of_the_seed_values():
    result = across_seeds({2: 1.9, 0: 2.1, 1: 2.0, 3: math.nan})
    assert list(result.values) == [0, 1, 2] and result.n == 3
    assert result.mean == pytest.approx(2.0)
    assert result.ci95 == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert (result.low, result.high) == (1.9, 2.1)
    assert math.isnan(across_seeds({0: 1.0}).ci95)


def comparison(low, high):
    return PairedComparison("pesq", 100, 0, 2.0, 1.8, (low + high) / 2, low, high, 0.01)


@pytest.mark.parametrize("low,high,target,outcome", [
    (0.35, 0.50, 0.3, PASS), (0.10, 0.29, 0.3, FAIL), (0.25, 0.40, 0.3, INCONCLUSIVE),
    (-0.04, 0.02, -0.05, PASS), (-0.20, -0.06, -0.05, FAIL), (math.nan, math.nan, 0.3, NO_DATA)])
def test_verdicts_are_read_from_the_interval(low, high, target, outcome):
    criterion = Criterion("x", "X", "ood", target, "no conditioning")
    assert Verdict(criterion, comparison(low, high)).outcome == outcome
    assert Verdict(criterion, None).outcome == NO_DATA


def test_the_plan_criteria_are_section_7_1():
    by_kind = {c.kind: c for c in PLAN_CRITERIA}
    assert by_kind["ood"].target == 0.3 and by_kind["non-stationary"].target == 0.2
    assert by_kind["in-distribution"].target < 0 and by_kind["non-stationary"].baseline == "global pooling"
    assert by_kind["ood"].requirement == "> +0.30 PESQ over no conditioning"
    assert "no worse than no conditioning by more than 0.05 PESQ" == by_kind["in-distribution"].requirement


def test_wilcoxon_with_ties_is_the_deterministic_normal_approximation():
    differences = np.array([0.5, 0.5, -0.5, 1.0, 1.0, 2.0, 0.0])
    nonzero = differences[differences != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    n, w_plus = len(nonzero), ranks[nonzero > 0].sum()
    _, counts = np.unique(ranks, return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24 - (counts ** 3 - counts).sum() / 48
    z = (w_plus - n * (n + 1) / 4) / math.sqrt(variance)
    assert wilcoxon_p(differences) == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_table_cells_of_comparisons_seeds_and_verdicts():
    from ncse_cli.report.tables import (comparison_table, criteria_table, format_difference, format_p, format_seeds,
                                        format_side_by_side)

    c = PairedComparison("pesq", 824, 0, 2.314, 2.001, 0.313, 0.281, 0.347, 0.0004)
    assert format_difference(c) == "+0.31 [+0.28, +0.35]" and format_p(c.p_value) == "< 0.001"
    assert format_p(0.0312) == "0.031" and format_p(math.nan) == "–"
    assert "| fold 1 | 824 | 2.31 | 2.00 | +0.31 [+0.28, +0.35] | < 0.001 |" in comparison_table([("fold 1", c)])
    seeds = across_seeds({0: 2.0, 1: 2.1, 2: 2.2})
    assert format_seeds(seeds, "pesq") == f"2.10 ± {stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3):.2f} (3 seeds)"
    assert format_side_by_side(seeds, "pesq") == "2.00 / 2.10 / 2.20" and format_seeds(across_seeds({}), "pesq") == "–"
    verdict = Verdict(PLAN_CRITERIA[1], c)
    assert criteria_table([("clap-01", verdict)]).splitlines()[-1] == (
        "| OOD (ESC-50 noise) | clap-01 | > +0.30 PESQ over no conditioning | +0.31 [+0.28, +0.35] | 824 | inconclusive |")
