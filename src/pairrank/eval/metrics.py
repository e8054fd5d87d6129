"""Ranking metrics as vectorised numpy functions over users.

Every metric takes a boolean hit matrix `hits` of shape [n_users, width]
(`hits[u, r]` is True when the item at rank r + 1 is relevant), the number of
relevant (test) items of each user, and a cut-off K; it returns one float per
user. Users with fewer than K recommendations are padded with misses, and
users with no relevant items score zero. Definitions follow PROTOCOL.md
(MAP@K divides by min(|test|, K), the RecBole definition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def top_k(hits: np.ndarray, k: int) -> np.ndarray:
    """The first k columns of `hits`, padded with False when it is narrower."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    width = hits.shape[1]
    if width >= k:
        return hits[:, :k]
    return np.pad(hits, ((0, 0), (0, k - width)), constant_values=False)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.broadcast_to(np.asarray(denominator, dtype=np.float64), numerator.shape)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _n_hits(hits: np.ndarray, k: int) -> np.ndarray:
    return top_k(hits, k).sum(axis=1, dtype=np.int64)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k / k."""
    return _n_hits(hits, k) / k


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k / |test items|."""
    return _ratio(_n_hits(hits, k), n_relevant)


def f1_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Harmonic mean of precision@k and recall@k (0 when both are 0)."""
    precision = precision_at_k(hits, n_relevant, k)
    recall = recall_at_k(hits, n_relevant, k)
    return _ratio(2 * precision * recall, precision + recall)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary-gain DCG (1 / log2(rank + 1)) over the ideal DCG of min(|test|, k) hits."""
    discounts = _discounts(k)
    dcg = top_k(hits, k) @ discounts
    ideal_cumulative = np.concatenate(([0.0], np.cumsum(discounts)))
    ideal = ideal_cumulative[np.minimum(n_relevant, k)]
    return _ratio(dcg, ideal)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Sum of precision at each hit in the top k / min(|test|, k)."""
    top = top_k(hits, k)
    precision_at_rank = np.cumsum(top, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    return _ratio((precision_at_rank * top).sum(axis=1), np.minimum(n_relevant, k))


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 / rank of the first hit in the top k (0 without one)."""
    top = top_k(hits, k)
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


def hit_rate_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 when the top k hold at least one hit, else 0."""
    return top_k(hits, k).any(axis=1).astype(np.float64)


METRICS: dict[str, Metric] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "f1": f1_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr_at_k,
    "hitrate": hit_rate_at_k,
}


def compute_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: Iterable[int] = (10, 20)) -> dict[str, np.ndarray]:
    """Every metric at every k, keyed like 'ndcg@10', as per-user arrays."""
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    if hits.ndim != 2 or n_relevant.shape != (hits.shape[0],):
        raise ValueError(f"hits must be [n_users, K] and n_relevant [n_users]; got {hits.shape}, {n_relevant.shape}")
    return {f"{name}@{k}": metric(hits, n_relevant, k) for k in ks for name, metric in METRICS.items()}


def coverage_at_k(items: np.ndarray, n_catalogue: int, k: int) -> float:
    """Share of the catalogue recommended to anyone in the top k.

    `items` is an integer matrix [n_users, width] of item indices in rank
    order, -1 where a user has no recommendation at that rank.
    """
    if n_catalogue < 1:
        raise ValueError(f"n_catalogue must be >= 1, got {n_catalogue}")
    top = np.asarray(items)[:, :k]
    top = top[top >= 0]
    if top.size == 0:
        return 0.0
    recommended = np.zeros(int(top.max()) + 1, dtype=bool)
    recommended[top] = True
    return int(recommended.sum()) / n_catalogue
