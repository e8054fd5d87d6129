"""Stage 2 inputs: one feature row per (user, candidate), named for the fusion model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pairrank.data.item_text import ATTRIBUTE_JOIN
from pairrank.pipeline.retrieve import RetrieverOutput

CONTENT_FEATURES = ["text_max", "text_mean", "text_last", "attribute_max", "attribute_mean", "history_length"]


@dataclass
class ItemStats:
    """What the features know of each item (arrays aligned with the item index)."""

    text_vectors: np.ndarray  # [n_items, d] L2-normalised
    popularity: np.ndarray  # users per item in the fitting data
    recent_popularity: np.ndarray  # users per item among each user's latest interactions
    attributes: sp.csr_matrix  # [n_items, n_attributes] idf-weighted, rows L2-normalised (`attribute_vectors`)

    @property
    def cold(self) -> np.ndarray:
        return self.popularity == 0


def feature_names(retrievers: list[str]) -> list[str]:
    per_retriever = [f"{name}_{kind}" for name in retrievers for kind in ("score", "rank", "gap")]
    return [
        *per_retriever,
        "union_rank",
        "popularity",
        "recent_popularity",
        *CONTENT_FEATURES,
    ]


def cold_feature_names(retrievers: list[str], cold_capable: set[str]) -> list[str]:
    """The features that mean the same for an item nobody has interacted with (no CF, no popularity)."""
    keep = [f"{name}_{kind}" for name in retrievers if name in cold_capable for kind in ("score", "rank", "gap")]
    return [*keep, *CONTENT_FEATURES]


def attribute_vectors(attributes: Sequence[str] | None, n_items: int) -> sp.csr_matrix:
    """Items' attributes (genres, tags, categories; '|'-joined, case-insensitive) as unit rows weighted by
    idf = log(n_items / items with the attribute): an attribute every item has weighs nothing. All-zero
    rows when the catalogue has none."""
    if not attributes:
        return sp.csr_matrix((n_items, 0), dtype=np.float32)
    values = pd.Series(list(attributes), dtype=object).str.lower().str.split(ATTRIBUTE_JOIN).explode()
    pairs = pd.DataFrame({"item": values.index, "attribute": values.to_numpy()}).dropna().drop_duplicates()
    pairs = pairs[pairs["attribute"] != ""]
    codes, names = pd.factorize(pairs["attribute"])
    rows = pairs["item"].to_numpy()
    document_frequency = np.bincount(codes, minlength=len(names))
    weights = np.log(n_items / document_frequency[codes]).astype(np.float32)
    matrix = sp.csr_matrix((weights, (rows, codes)), shape=(n_items, len(names)), dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sp.diags(np.where(norms > 0, 1 / np.maximum(norms, 1e-12), 0).astype(np.float32)) @ matrix).tocsr()


def candidate_features(
    candidates: np.ndarray,
    outputs: dict[str, RetrieverOutput],
    item_vectors: dict[str, np.ndarray | None],
    stats: ItemStats,
    recent: np.ndarray,
    history_length: np.ndarray,
    union_ranks: np.ndarray | None = None,
) -> np.ndarray:
    """[b, n, f] float32 features (columns as `feature_names`) for candidates [b, n].

    `recent` [b, w] holds each user's latest items (-1 padding), `history_length` [b] their counts;
    `union_ranks` [b, n] each candidate's rank in the retrievers' union (None: the candidates are that union).
    """
    b, n = candidates.shape
    safe = np.maximum(candidates, 0)
    columns: list[np.ndarray] = []
    for name, output in outputs.items():
        scores = output.scores_of(candidates, item_vectors[name])
        best = np.where(np.isfinite(output.scores[:, :1]), output.scores[:, :1], 0.0)
        columns += [scores, output.ranks_of(candidates), scores - best]
    if union_ranks is None:
        union_ranks = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32), (b, n))
    columns.append(union_ranks)
    columns.append(np.log1p(stats.popularity[safe]))
    columns.append(np.log1p(stats.recent_popularity[safe]))
    columns += _text_similarities(safe, recent, stats.text_vectors)
    columns += _attribute_similarities(safe, recent, stats.attributes)
    columns.append(np.broadcast_to(np.log1p(history_length.astype(np.float32))[:, None], (b, n)))
    return np.stack([c.astype(np.float32) for c in columns], axis=2)


def _text_similarities(candidates: np.ndarray, recent: np.ndarray, text: np.ndarray) -> list[np.ndarray]:
    """Max, mean and latest-item cosine of each candidate's text to the user's recent items' texts."""
    present = recent >= 0
    sims = np.einsum("bnd,bwd->bnw", text[candidates], text[np.maximum(recent, 0)])
    count = np.maximum(present.sum(axis=1), 1)[:, None]
    best = np.where(present[:, None, :], sims, -np.inf).max(axis=2)
    best = np.where(np.isfinite(best), best, 0.0)
    mean = np.where(present[:, None, :], sims, 0.0).sum(axis=2) / count
    last = np.where(present[:, -1:], sims[:, :, -1], 0.0)
    return [best, mean, last]


def _attribute_similarities(candidates: np.ndarray, recent: np.ndarray, attributes: sp.csr_matrix) -> list[np.ndarray]:
    """Max and mean cosine of each candidate's attribute vector to the user's recent items' vectors."""
    best = np.zeros(candidates.shape, dtype=np.float32)
    mean = np.zeros(candidates.shape, dtype=np.float32)
    if attributes.shape[1] == 0:
        return [best, mean]
    for row in range(len(candidates)):
        history = recent[row][recent[row] >= 0]
        if history.size:
            sims = (attributes[candidates[row]] @ attributes[history].T).toarray()
            best[row], mean[row] = sims.max(axis=1), sims.mean(axis=1)
    return [best, mean]
