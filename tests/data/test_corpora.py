"""Corpus indexers on trees in the official layouts, and clear errors on malformed trees and tables."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from ncse_cli.data.corpora import CorpusError, index_clean, index_noise, index_voicebank
from ncse_cli.data.corpora.voicebank import read_log
from tests.dummies import (make_demand_tree, make_esc50_tree, make_manifest, make_urbansound_tree,
                           make_voicebank_tree, make_wham_tree)


def test_esc50_selects_categories_and_folds(trees):
    clips = index_noise("esc50", trees["esc50"])
    assert len(clips) == 6 and {c.category for c in clips} == {"rain", "dog", "door_wood_knock"}
    chosen = index_noise("esc50", trees["esc50"], ["dog"], [2])
    assert [(c.category, c.fold) for c in chosen] == [("dog", "2")]
    assert all(c.corpus == "esc50" and c.source.endswith(".wav") for c in clips)


def test_urbansound_uses_fold_folders(trees):
    clips = index_noise("urbansound8k", trees["urbansound"], folds=["fold10"])
    assert clips and all("/audio/fold10/" in c.source and c.fold == "10" for c in clips)


def test_wham_demand_and_synthetic(trees):
    assert {c.fold for c in index_noise("wham", trees["wham"])} == {"tr", "cv", "tt"}
    assert {c.fold for c in index_noise("wham", trees["wham"], folds=["tr"])} == {"tr"}
    demand = index_noise("demand", trees["demand"])
    assert [(c.category, c.fold) for c in demand] == [("DKITCHEN", "ch01"), ("STRAFFIC", "ch01")]
    assert len(index_noise("demand", trees["demand"], ["DKITCHEN"], ["ch01", "ch02"])) == 2
    assert [c.category for c in index_noise("synthetic", None, ["pink", "hum"])] == ["hum", "pink"]


def _corrupt_csv(tmp_path, edit):
    root = make_esc50_tree(tmp_path / "esc", clips_per_category=1, seconds=0.3)
    csv = root / "meta" / "esc50.csv"
    table = pd.read_csv(csv, dtype=str)
    edit(table, root)
    table.to_csv(csv, index=False)
    return root


@pytest.mark.parametrize("edit, message", [
    (lambda t, r: t.drop(columns=["take"], inplace=True), r"esc50\.csv: missing column take"),
    (lambda t, r: t.loc.__setitem__((1, "fold"), "x"), r"esc50\.csv:3: column fold must be an integer, got 'x'"),
    (lambda t, r: t.loc.__setitem__((0, "fold"), "9"), r"esc50\.csv:2: column fold must be in 1\.\.5"),
    (lambda t, r: t.loc.__setitem__((2, "filename"), t.loc[0, "filename"]), r"esc50\.csv:4: file .* listed twice"),
    (lambda t, r: (r / "audio" / t.loc[0, "filename"]).unlink(), r"audio file listed in .*esc50\.csv not found"),
])
def test_malformed_esc50_tables_are_named(tmp_path, edit, message):
    root = _corrupt_csv(tmp_path, edit)
    with pytest.raises(CorpusError, match=message):
        index_noise("esc50", root)


def test_unparsable_or_missing_tables_and_unknown_selections(tmp_path, trees):
    root = make_urbansound_tree(tmp_path / "us", clips_per_class=1, seconds=0.2)
    (root / "metadata" / "UrbanSound8K.csv").write_text('slice_file_name,fold\n"unterminated,1\n')
    with pytest.raises(CorpusError, match="UrbanSound8K.csv"):
        index_noise("urbansound8k", root)
    with pytest.raises(CorpusError, match="metadata file not found"):
        index_noise("esc50", tmp_path)
    with pytest.raises(CorpusError, match="unknown 'cat'; known: dog, door_wood_knock, rain"):
        index_noise("esc50", trees["esc50"], ["cat"])
    with pytest.raises(CorpusError, match="fold '7' is not one of 1..5"):
        index_noise("esc50", trees["esc50"], folds=["7"])
    with pytest.raises(CorpusError, match="folder not found"):
        index_noise("esc50", tmp_path / "nowhere")


def test_wham_and_demand_errors(tmp_path):
    with pytest.raises(CorpusError, match="expected subfolders tr, cv, tt"):
        index_noise("wham", tmp_path)
    root = make_wham_tree(tmp_path / "w", subsets=("tr",), files_per_subset=1, seconds=0.2)
    with pytest.raises(CorpusError, match="cv: WHAM! subset folder not found"):
        index_noise("wham", root, folds=["cv"])
    with pytest.raises(CorpusError, match="not a DEMAND folder"):
        index_noise("demand", root)
    demand = make_demand_tree(tmp_path / "d", environments=("TBUS",), channels=1, seconds=0.2)
    with pytest.raises(CorpusError, match="ch02.wav: DEMAND channel file not found"):
        index_noise("demand", demand, folds=["ch02"])
    with pytest.raises(CorpusError, match="channels are ch01..ch16"):
        index_noise("demand", demand, folds=["ch17"])


def test_voicebank_pairs_carry_log_noise_type_snr_and_speaker(trees):
    train, test = index_voicebank(trees["vb"], "train"), index_voicebank(trees["vb"], "test")
    assert len(train) == 8 and len(test) == 2
    first = test[0]
    assert (first.id, first.speaker, first.noise_type, first.log_snr_db) == ("p232_001", "p232", "living", 2.5)
    assert {p.speaker for p in train} == {"p226", "p227", "p228", "p287"}


def test_voicebank_errors_name_file_and_line(tmp_path):
    root = make_voicebank_tree(tmp_path / "vb", train_speakers=("p226",), per_speaker=2, seconds=0.3)
    log = root / "logfiles" / "log_testset.txt"
    log.write_text("p232_001 living 2.5\np232_002 bus\n")
    with pytest.raises(CorpusError, match=r"log_testset.txt:2: expected '<utterance> <noise type> <snr>'"):
        index_voicebank(root, "test")
    log.write_text("p232_001 living 2.5\np232_002 bus loud\n")
    with pytest.raises(CorpusError, match=r"log_testset.txt:2: SNR 'loud' is not a number"):
        read_log(log)
    log.write_text("p232_001 living 2.5\n")
    with pytest.raises(CorpusError, match="utterance p232_002 has no line in"):
        index_voicebank(root, "test")
    (root / "noisy_trainset_28spk_wav" / "p226_002.wav").unlink()
    with pytest.raises(CorpusError, match="noisy_trainset_28spk_wav/p226_002.wav: missing"):
        index_voicebank(root, "train")
    shutil.rmtree(root / "clean_testset_wav")
    with pytest.raises(CorpusError, match="clean_testset_wav: VoiceBank-DEMAND clean folder not found"):
        index_voicebank(root, "test")


def test_clean_from_folder_or_manifest(tmp_path, trees):
    items = index_clean(trees["clean"])
    assert [(u.id, u.speaker) for u in items] == [("p232_001", "p232"), ("p232_002", "p232"), ("p232_003", "p232")]
    manifest = make_manifest(tmp_path, 2)
    assert [u.path.is_file() for u in index_clean(manifest)] == [True, True]
    with pytest.raises(CorpusError, match="no such clean manifest or folder"):
        index_clean(tmp_path / "missing")
    with pytest.raises(CorpusError, match="row tiny_000 has no clean audio"):
        index_clean(make_manifest(tmp_path / "nc", 1, with_ref=False, with_clean=False))
