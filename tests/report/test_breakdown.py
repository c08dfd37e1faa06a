"""Breakdowns per SNR, noise type, category and test set, from scores joined with their manifest."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ncse_cli.data.manifest import Manifest, Utterance
from ncse_cli.report.breakdown import breakdown, paired_breakdown, snr_labels, stack_testsets, with_metadata
from ncse_cli.report.stats import StatsError, compare_paired


def row(i, noise_type, snr, corpus, **extra):
    return Utterance(id=f"u{i}", noisy=f"n{i}.wav", clean=f"c{i}.wav", noise_ref=f"r{i}.wav", snr_db=snr,
                     noise_type=noise_type, noise_source=corpus, split="test", sample_rate=16000, num_samples=16000,
                     extra={"corpus": corpus, **extra})


def test_scores_get_nominal_snr_type_and_category_from_the_manifest():
    manifest = Manifest(Path("m.jsonl"), [row(0, "dog", 5.0, "esc50"), row(1, "bus", 7.43, "vbdemand", log_snr_db=7.5),
                                          row(2, "white", None, "demo")])
    scores = pd.DataFrame({"id": ["u2", "u0", "u1"], "pesq": [1.0, 2.0, 3.0], "snr_db": [0.0, 0.0, 0.0],
                           "noise_type": ["x", "x", "x"]})
    frame = with_metadata(scores, manifest).set_index("id")
    assert frame.loc["u1", "snr"] == 7.5 and frame.loc["u0", "snr"] == 5.0 and math.isnan(frame.loc["u2", "snr"])
    assert list(frame["noise_type"]) == ["white", "dog", "bus"]
    assert list(frame["category"]) == ["white", "Animals", "bus"]
    assert frame.loc["u0", "pesq"] == 2.0
    with pytest.raises(StatsError, match="no row for scored utterance 'u9'"):
        with_metadata(pd.DataFrame({"id": ["u9"], "pesq": [1.0]}), manifest)


def test_few_snr_levels_are_kept_and_many_are_binned():
    assert list(snr_labels(pd.Series([0.0, 5.0, math.nan, 2.5]))) == ["0", "5", "unknown", "2.5"]
    many = pd.Series(np.arange(-2.0, 18.0, 2.0))  # ten levels
    assert list(snr_labels(many))[:4] == ["[-5, 0)", "[0, 5)", "[0, 5)", "[0, 5)"]


def test_breakdown_means_per_group_in_numeric_order():
    frame = pd.DataFrame({"id": list("abcdef"), "pesq": [1.0, 2.0, 3.0, 5.0, math.nan, 4.0],
                          "snr": [10.0, 10.0, 5.0, 5.0, 0.0, 0.0]})
    groups = breakdown(frame, "snr", ["pesq"])
    assert [g.group for g in groups] == ["0", "5", "10"]
    assert [g.metrics["pesq"].mean for g in groups] == [4.0, 4.0, 1.5]
    assert groups[0].utterances == 2 and groups[0].metrics["pesq"].missing == 1
    with pytest.raises(StatsError, match="no noise_type column"):
        breakdown(frame, "noise_type", ["pesq"])
    with pytest.raises(StatsError, match="unknown breakdown 'speaker'"):
        breakdown(frame, "speaker", ["pesq"])


def test_paired_breakdown_equals_the_comparison_restricted_to_each_group():
    rng = np.random.default_rng(0)
    ids = [f"u{i}" for i in range(30)]
    base = pd.DataFrame({"id": ids, "pesq": rng.normal(2, 0.3, 30)})
    model = base.assign(pesq=base["pesq"] + rng.normal(0.2, 0.1, 30), noise_type=["a", "b", "c"] * 10)
    results = dict(paired_breakdown(model, base.sample(frac=1.0, random_state=0), "noise_type", "pesq"))
    chosen = model[model["noise_type"] == "b"]
    expected = compare_paired(chosen, base[base["id"].isin(chosen["id"])], "pesq")
    assert list(results) == ["a", "b", "c"] and results["b"] == expected and results["b"].n == 10


def test_stacked_test_sets_keep_their_names_and_repeat_ids():
    one = pd.DataFrame({"id": ["u0", "u1"], "pesq": [1.0, 2.0]})
    stacked = stack_testsets({"esc50_snr0": one, "esc50_snr5": one.assign(pesq=[3.0, 4.0])})
    assert [g.metrics["pesq"].mean for g in breakdown(stacked, "testset", ["pesq"])] == [1.5, 3.5]


def test_scores_of_stored_evaluations_are_found_beside_their_summaries(tmp_path):
    from ncse_cli.data.manifest import read_manifest
    from ncse_cli.evaluation import load_testset
    from ncse_cli.evaluation.run import score_noisy
    from ncse_cli.report.breakdown import read_summary_scores
    from ncse_cli.workspace import Workspace
    from tests.dummies import make_manifest

    path = make_manifest(tmp_path, count=3, kinds=("white", "hum"), name="t", split="test")
    summary = score_noisy(Workspace(tmp_path / "ws"), *load_testset(path), metrics=("si_sdr",))
    frame = with_metadata(read_summary_scores(summary), read_manifest(path))
    groups = {g.group: g for g in breakdown(frame, "noise_type", ["si_sdr"])}
    assert {k: g.utterances for k, g in groups.items()} == {"hum": 1, "white": 2}
    assert groups["hum"].metrics["si_sdr"].mean == pytest.approx(frame.loc[1, "si_sdr"])
