"""Stage 2 inputs: one feature row per (user, candidate), named for the fusion model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pairrank.pipeline.retrieve import RetrieverOutput


@dataclass
class ItemStats:
    """What the features know of each item (arrays aligned with the item index)."""

    text_vectors: np.ndarray  # [n_items, d] L2-normalised
    popularity: np.ndarray  # users per item in the fitting data
    recent_popularity: np.ndarray  # users per item among each user's latest interactions

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
        "text_max",
        "text_mean",
        "text_last",
        "history_length",
    ]


def cold_feature_names(retrievers: list[str], cold_capable: set[str]) -> list[str]:
    """The features that mean the same for an item nobody has interacted with (no CF, no popularity)."""
    keep = [f"{name}_{kind}" for name in retrievers if name in cold_capable for kind in ("score", "rank", "gap")]
    return [*keep, "text_max", "text_mean", "text_last", "history_length"]


def candidate_features(
    candidates: np.ndarray,
    outputs: dict[str, RetrieverOutput],
    item_vectors: dict[str, np.ndarray | None],
    stats: ItemStats,
    recent: np.ndarray,
    history_length: np.ndarray,
) -> np.ndarray:
    """[b, n, f] float32 features (columns as `feature_names`) for candidates [b, n].

    `recent` [b, w] holds each user's latest items (-1 padding), `history_length` [b] their counts.
    """
    b, n = candidates.shape
    safe = np.maximum(candidates, 0)
    columns: list[np.ndarray] = []
    for name, output in outputs.items():
        scores = output.scores_of(candidates, item_vectors[name])
        best = np.where(np.isfinite(output.scores[:, :1]), output.scores[:, :1], 0.0)
        columns += [scores, output.ranks_of(candidates), scores - best]
    columns.append(np.broadcast_to(np.arange(1, n + 1, dtype=np.float32), (b, n)))
    columns.append(np.log1p(stats.popularity[safe]))
    columns.append(np.log1p(stats.recent_popularity[safe]))
    columns += _text_similarities(safe, recent, stats.text_vectors)
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
