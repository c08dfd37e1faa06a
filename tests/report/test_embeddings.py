"""The embedding diagnosis: z_r as enhancement computes it (of one test set, or pooled over a suite's), the
silhouette on a hand case and in words, the 2-D maps."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from ncse_cli.audio import load_audio
from ncse_cli.model_dir import load_model
from ncse_cli.data.manifest import read_manifest
from ncse_cli.report.embeddings import (EmbeddingError, pooled_embeddings, project_2d, reference_embeddings, separation,
                                       silhouette)
from tests.dummies import make_manifest, make_model_dir

KINDS = ("white", "brown", "hum")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(make_model_dir(tmp_path_factory.mktemp("model") / "m"), torch.device("cpu"))


def test_embeddings_are_the_encoding_of_each_reference_over_its_mixture_peak(tmp_path, model):
    manifest = read_manifest(make_manifest(tmp_path, count=5, kinds=KINDS, name="t", split="test"))
    result = reference_embeddings(model, manifest, batch_size=2)
    assert result.ids == [r.id for r in manifest] and result.noise_types == ["white", "brown", "hum", "white", "brown"]
    for row, vector in zip(manifest, result.vectors):
        ref = torch.from_numpy(load_audio(manifest.resolve(row.noise_ref)).samples)
        peak = torch.from_numpy(load_audio(manifest.resolve(row.noisy)).samples).abs().max()
        with torch.inference_mode():
            alone = model.encode((ref / peak)[None]).vector[0].double().numpy()
        np.testing.assert_allclose(vector, alone, rtol=1e-5, atol=1e-6)
    assert len({tuple(v) for v in result.vectors}) == 5  # the references differ, so do their embeddings


def test_a_model_without_encoder_or_a_test_set_without_references_is_refused(tmp_path, model):
    base = load_model(make_model_dir(tmp_path / "base", encoder="none"), torch.device("cpu"))
    manifest = read_manifest(make_manifest(tmp_path, count=2, name="t", split="test"))
    with pytest.raises(EmbeddingError, match="no noise encoder"):
        reference_embeddings(base, manifest)
    with pytest.raises(EmbeddingError, match="no row has a noise reference"):
        reference_embeddings(model, read_manifest(make_manifest(tmp_path, count=2, name="u", with_ref=False)))


def test_pooled_embeddings_are_each_test_sets_own_and_a_limit_keeps_rows_evenly_spread(tmp_path, model):
    first = read_manifest(make_manifest(tmp_path, count=3, kinds=KINDS, name="a", split="test"))
    second = read_manifest(make_manifest(tmp_path, count=4, kinds=KINDS, name="b", split="test", seed=7))
    pooled = pooled_embeddings(model, [first, second])
    alone = [reference_embeddings(model, m) for m in (first, second)]
    assert pooled.ids == alone[0].ids + alone[1].ids
    assert pooled.noise_types == alone[0].noise_types + alone[1].noise_types
    np.testing.assert_allclose(pooled.vectors, np.concatenate([e.vectors for e in alone]), rtol=1e-5, atol=1e-6)
    # 7 rows down to 4: rows 0, 2, 4, 6 of the pool
    limited = pooled_embeddings(model, [first, second], limit=4)
    assert limited.ids == ["a_000", "a_002", "b_001", "b_003"]
    np.testing.assert_allclose(limited.vectors, pooled.vectors[[0, 2, 4, 6]], rtol=1e-5, atol=1e-6)
    with pytest.raises(EmbeddingError, match="no row has a noise reference"):
        pooled_embeddings(model, [read_manifest(make_manifest(tmp_path, count=2, name="c", with_ref=False))])


@pytest.mark.parametrize("score,words", [(0.8, "strong"), (0.6, "reasonably"), (0.3, "weakly"),
                                         (0.1, "does not separate"), (-0.2, "mixed up"), (math.nan, "undefined")])
def test_a_silhouette_is_put_in_kaufman_and_rousseeuws_words(score, words):
    assert words in separation(score)


def test_silhouette_of_a_hand_case():
    # 1-D clusters {0, 1} and {4, 5}: s(0) = 1 - 1/4.5, s(1) = 1 - 1/3.5, and the same mirrored
    points = np.array([[0.0], [1.0], [4.0], [5.0]])
    expected = ((1 - 1 / 4.5) + (1 - 1 / 3.5)) / 2
    assert silhouette(points, ["a", "a", "b", "b"]) == pytest.approx(expected)
    assert silhouette(points, ["a", "b", "a", "b"]) < 0  # the wrong grouping scores below zero
    assert math.isnan(silhouette(points, ["a"] * 4)) and math.isnan(silhouette(points, list("abcd")))


def test_pca_map_keeps_distances_of_planar_points_and_tsne_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(12, 2))
    basis, _ = np.linalg.qr(rng.normal(size=(6, 2)))  # an orthonormal 2-D subspace of R^6
    vectors = plane @ basis.T + 3.0
    np.testing.assert_allclose(pdist(project_2d(vectors, "pca")), pdist(plane), rtol=1e-6)
    clusters = np.concatenate([rng.normal(0, 0.1, (6, 6)), rng.normal(5, 0.1, (6, 6))])
    labels = ["a"] * 6 + ["b"] * 6
    assert silhouette(project_2d(clusters, "tsne", seed=1), labels) > 0.5
    with pytest.raises(EmbeddingError, match="unknown projection 'umap'"):
        project_2d(vectors, "umap")
    with pytest.raises(EmbeddingError, match="at least 3"):
        project_2d(vectors[:2], "pca")


def test_token_encoders_give_the_mean_of_their_valid_tokens(tmp_path):
    from ncse_cli.config import from_dict
    from ncse_cli.model import ModelConfig, build_model

    encoder = {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32, "num_tokens": 4}
    model = build_model(from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8}, "encoder": encoder})).eval()
    manifest = read_manifest(make_manifest(tmp_path, count=2, kinds=KINDS, name="t", split="test"))
    result = reference_embeddings(model, manifest)
    row = manifest.rows[1]
    ref = torch.from_numpy(load_audio(manifest.resolve(row.noise_ref)).samples)
    peak = torch.from_numpy(load_audio(manifest.resolve(row.noisy)).samples).abs().max()
    with torch.inference_mode():
        cond = model.encode((ref / peak)[None])
    assert cond.vector is None and cond.mask.all()
    np.testing.assert_allclose(result.vectors[1], cond.tokens[0].mean(0).double().numpy(), rtol=1e-5, atol=1e-6)
