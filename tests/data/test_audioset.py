"""AudioSet as a noise corpus: official segment lists, clips as downloaders name them, voice left out."""

import pytest

from ncse_cli.config import from_dict
from ncse_cli.data.config import NoisePoolConfig
from ncse_cli.data.corpora import CorpusError, index_noise
from ncse_cli.data.corpora.audioset import clip_candidates
from ncse_cli.data.noise import load_clip
from tests.dummies import make_audioset_tree, rng_for


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_audioset_tree(tmp_path_factory.mktemp("audioset") / "audioset")


def names(clips):
    return {(c.source.rsplit("/", 1)[-1], c.category, c.fold) for c in clips}


def test_downloaded_segments_of_every_list_without_voice(tree):
    assert names(index_noise("audioset", tree)) == {
        ("0aBcDeFgHiJ_10.000_20.000.wav", "Animal", "balanced_train"),
        ("YxYzAbCdEf1_0.wav", "Rain", "balanced_train"),
        ("YevalClip_01_100000_110000.flac", "Vehicle", "eval"),
        ("unbal-Clip1_20.ogg", "Rain", "unbalanced_train")}


def test_subsets_and_labels_select_and_a_voice_label_asked_for_is_kept(tree):
    assert names(index_noise("audioset", tree, folds=["eval"])) == {
        ("YevalClip_01_100000_110000.flac", "Vehicle", "eval")}
    assert names(index_noise("audioset", tree, ["Dog"])) == {("0aBcDeFgHiJ_10.000_20.000.wav", "Dog", "balanced_train")}
    vehicles = names(index_noise("audioset", tree, ["Vehicle"], ["balanced_train", "unbalanced_train"]))
    assert vehicles == {("unbal-Clip1_20.ogg", "Vehicle", "unbalanced_train")}  # the speech + vehicle clip is out
    assert ("Y--PJHxphWEs.wav", "Speech", "balanced_train") in names(index_noise("audioset", tree, ["Speech"]))


def test_file_names_are_read_with_and_without_the_y_prefix():
    assert clip_candidates("Y--PJHxphWEs") == [("--PJHxphWEs", None)]
    assert clip_candidates("YxYzAbCdEf1_0") == [("YxYzAbCdEf1", 0.0)]
    assert clip_candidates("Yabcdefghijk_30.000_40.000") == [("abcdefghijk", 30.0)]
    assert clip_candidates("not-a-clip") == []


def test_clips_are_readable_and_usable_as_a_training_pool(tree):
    clip = index_noise("audioset", tree, folds=["eval"])[0]
    assert len(load_clip(clip, 16000, rng_for(0), 1000)) == 8000  # read whole (0.5 s), any format
    pool = from_dict(NoisePoolConfig, {"corpus": "audioset", "path": str(tree), "categories": ["Rain"]})
    assert pool.corpus == "audioset"


def test_malformed_trees_are_named(tmp_path, tree):
    with pytest.raises(CorpusError, match="unknown 'Thunder'"):
        index_noise("audioset", tree, ["Thunder"])
    with pytest.raises(CorpusError, match="unknown 'test'"):
        index_noise("audioset", tree, folds=["test"])
    root = make_audioset_tree(tmp_path / "a")
    (root / "eval_segments.csv").unlink()
    with pytest.raises(CorpusError, match="eval_segments.csv not found"):
        index_noise("audioset", root, folds=["eval"])
    csv = root / "balanced_train_segments.csv"
    csv.write_text(csv.read_text().replace("10.000, 20.000", "ten, 20.000"))
    with pytest.raises(CorpusError, match=r"balanced_train_segments\.csv:5: start_seconds must be a number"):
        index_noise("audioset", root)
    csv.write_text(csv.read_text().replace('ten, 20.000, "/m/0jbk', '10.000, 20.000, "/m/zzz'))
    with pytest.raises(CorpusError, match=r"balanced_train_segments\.csv:5: unknown label /m/zzz"):
        index_noise("audioset", root)
    (root / "class_labels_indices.csv").unlink()
    with pytest.raises(CorpusError, match="class_labels_indices.csv not found"):
        index_noise("audioset", root)
    with pytest.raises(CorpusError, match="none of the 7 audio files"):
        index_noise("audioset", make_audioset_tree(tmp_path / "b"), ["Rain"], ["eval"])
