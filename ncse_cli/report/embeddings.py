"""The plan's embedding diagnosis (section 1.1): do the noise embeddings z_r of a test set's references separate
its noise types?

:func:`reference_embeddings` encodes every row's reference exactly as enhancement does (read at the model rate,
divided by the peak of the row's noisy mixture, :meth:`ScoreModel.encode`); token sequences (cross-attention
encoders) are averaged over their valid tokens, so every reference is one vector. :func:`silhouette` scores how
well the noise types separate in the embedding space itself (Rousseeuw 1987, "Silhouettes: a graphical aid to
the interpretation and validation of cluster analysis": +1 tight separate clusters, 0 overlapping, < 0 mixed up);
:func:`project_2d` gives the PCA or t-SNE map (van der Maaten & Hinton 2008) drawn by
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


def silhouette(vectors: np.ndarray, labels: Sequence[str]) -> float:
    """Mean silhouette width of ``labels`` in Euclidean distance; NaN unless there are at least two labels and
    fewer labels than points (where it is undefined)."""
    from sklearn.metrics import silhouette_score

    distinct = len(set(labels))
    if distinct < 2 or distinct >= len(labels):
        return math.nan
    return float(silhouette_score(np.asarray(vectors, dtype=np.float64), list(labels), metric="euclidean"))


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
