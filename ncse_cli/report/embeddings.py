"""The plan's embedding diagnosis (section 1.1): do the noise embeddings z_r of a test set's references separate
its noise types?

:func:`reference_embeddings` encodes every row's reference exactly as enhancement does (read at the model rate,
divided by the peak of the row's noisy mixture, :meth:`ScoreModel.encode`); token sequences (cross-attention
encoders) are averaged over their valid tokens, so every reference is one vector. :func:`silhouette` scores how
well the noise types separate in the embedding space itself (Rousseeuw 1987, "Silhouettes: a graphical aid to
the interpretation and validation of cluster analysis": +1 tight separate clusters, 0 overlapping, < 0 mixed up),
and :func:`separation` puts a score in words with Kaufman & Rousseeuw's rule of thumb (1990, "Finding Groups in
Data", ch. 2); :func:`pooled_embeddings` encodes the references of several manifests (a test suite), at most a
given number evenly spread over them; :func:`project_2d` gives the PCA or t-SNE map (van der Maaten & Hinton 2008) drawn by
:func:`ncse_cli.report.figures.plot_embedding_map`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ncse_cli.audio import load_audio
from ncse_cli.data.manifest import Manifest
from ncse_cli.errors import NcseError
from ncse_cli.model import ScoreModel
from ncse_cli.stft import peak_normalize

Projection = Literal["pca", "tsne"]
#: Kaufman & Rousseeuw's reading of an average silhouette width: (lower bound, words), strongest first.
SEPARATION = ((0.70, "the noise types form strong, separate clusters"),
              (0.50, "the noise types separate reasonably"),
              (0.25, "the noise types separate weakly (a structure that may be artificial)"))
NO_SEPARATION = "z_r does not separate the noise types (no substantial structure)"
MIXED_UP = "the noise types are mixed up (references lie nearer other types than their own)"


class EmbeddingError(NcseError):
    """Embeddings that cannot be computed (a model without a noise encoder, a test set without references)."""


@dataclass(frozen=True)
class ReferenceEmbeddings:
    """One embedding per manifest row that has a reference, with the row's id and noise type."""

    ids: list[str]
    noise_types: list[str]
    vectors: np.ndarray  #: [N, D] float64

    def __len__(self) -> int:
        return len(self.ids)


def _condition_vectors(model: ScoreModel, refs: torch.Tensor) -> torch.Tensor:
    cond = model.encode(refs)
    if cond.vector is not None:
        return cond.vector
    if cond.mask is None:
        return cond.tokens.mean(1)
    mask = cond.mask.to(cond.tokens.dtype)[..., None]
    return (cond.tokens * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@torch.inference_mode()
def reference_embeddings(model: ScoreModel, manifest: Manifest, batch_size: int = 16,
                         progress: Callable[[int, int], None] | None = None) -> ReferenceEmbeddings:
    """z_r of every reference of ``manifest`` (rows without one are left out); references of equal length are
    encoded together, ``batch_size`` at a time."""
    if not model.conditional:
        raise EmbeddingError("the model has no noise encoder (encoder none): there are no embeddings to map")
    rows = [row for row in manifest if row.noise_ref is not None]
    if not rows:
        raise EmbeddingError(f"{manifest.path}: no row has a noise reference")
    rate, device = model.cfg.sample_rate, next(model.parameters()).device
    loaded = []
    for row in rows:
        ref = load_audio(manifest.resolve(row.noise_ref), rate, resample=True).samples
        noisy = load_audio(manifest.resolve(row.noisy), rate, resample=True).samples
        loaded.append((row, torch.from_numpy(ref), torch.from_numpy(noisy)))
    vectors: dict[str, np.ndarray] = {}
    by_length = sorted(loaded, key=lambda item: len(item[1]))
    for _, same in groupby(by_length, key=lambda item: len(item[1])):
        same = list(same)
        for start in range(0, len(same), batch_size):
            batch = same[start:start + batch_size]
            # zero padding leaves each mixture's peak, the reference's divisor, unchanged
            noisy = pad_sequence([n for _, _, n in batch], batch_first=True)
            _, _, refs = peak_normalize(noisy, torch.stack([ref for _, ref, _ in batch]))
            out = _condition_vectors(model, refs.to(device)).double().cpu().numpy()
            vectors.update({row.id: v for (row, _, _), v in zip(batch, out)})
            if progress is not None:
                progress(len(vectors), len(rows))
    return ReferenceEmbeddings([r.id for r in rows], [r.noise_type for r in rows],
                               np.stack([vectors[r.id] for r in rows]))


def pooled_embeddings(model: ScoreModel, manifests: Sequence[Manifest], limit: int | None = None,
                      batch_size: int = 16) -> ReferenceEmbeddings:
    """z_r of the references of every manifest, in order; with ``limit``, at most that many rows, evenly spread
    over all rows with a reference (so each manifest and noise type keeps about its share)."""
    rows = [(manifest, row) for manifest in manifests for row in manifest if row.noise_ref is not None]
    if not rows:
        names = ", ".join(str(m.path) for m in manifests)
        raise EmbeddingError(f"{names}: no row has a noise reference")
    if limit is not None and len(rows) > limit:
        rows = [rows[i] for i in np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))]
    parts = [reference_embeddings(model, Manifest(manifest.path, [row for m, row in rows if m is manifest]),
                                  batch_size)
             for manifest in manifests if any(m is manifest for m, _ in rows)]
    return ReferenceEmbeddings([i for p in parts for i in p.ids], [t for p in parts for t in p.noise_types],
                               np.concatenate([p.vectors for p in parts]))


def silhouette(vectors: np.ndarray, labels: Sequence[str]) -> float:
    """Mean silhouette width of ``labels`` in Euclidean distance; NaN unless there are at least two labels and
    fewer labels than points (where it is undefined)."""
    from sklearn.metrics import silhouette_score

    distinct = len(set(labels))
    if distinct < 2 or distinct >= len(labels):
        return math.nan
    return float(silhouette_score(np.asarray(vectors, dtype=np.float64), list(labels), metric="euclidean"))


def separation(score: float) -> str:
    """A silhouette in words (Kaufman & Rousseeuw 1990: above 0.70 strong, 0.51-0.70 reasonable, 0.26-0.50 weak,
    up to 0.25 no substantial structure; below 0 the grouping is worse than none)."""
    if not math.isfinite(score):
        return "undefined (it needs at least two noise types and more references than types)"
    return next((words for bound, words in SEPARATION if score > bound), NO_SEPARATION if score >= 0 else MIXED_UP)


def project_2d(vectors: np.ndarray, method: Projection = "pca", seed: int = 0) -> np.ndarray:
    """``[N, 2]`` coordinates of a map of ``vectors``: PCA, or t-SNE (perplexity at most a third of the points,
    initialised from PCA, seeded)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) < 3:
        raise EmbeddingError(f"a map needs at least 3 embeddings, got {len(vectors)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        points = PCA(n_components=min(2, vectors.shape[1]), random_state=seed).fit_transform(vectors)
        return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(vectors) - 1) / 3)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)
    raise EmbeddingError(f"unknown projection {method!r}; use pca or tsne")
