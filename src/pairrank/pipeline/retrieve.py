"""Stage 1: each retriever's top-n lists, unioned rank by rank into one candidate list per user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from pairrank.models.base import Recommender, masked, top_k
from pairrank.pipeline.vector_index import VectorIndex


@runtime_checkable
class VectorModel(Protocol):
    """A model whose scores are inner products of user and item vectors (TwoTower)."""

    def item_vectors(self) -> np.ndarray: ...

    def user_vectors(self, users: np.ndarray) -> np.ndarray: ...


@dataclass
class RetrieverOutput:
    """One retriever over a batch of users: its top-n lists and a way to score any candidate."""

    items: np.ndarray  # [b, n] best first, -1 padded
    scores: np.ndarray  # [b, n]
    full_scores: np.ndarray | None  # [b, n_items] when the retriever scored every item
    user_vectors: np.ndarray | None  # [b, d] for a vector retriever

    def scores_of(self, candidates: np.ndarray, item_vectors: np.ndarray | None) -> np.ndarray:
        """[b, c] this retriever's scores of `candidates` [b, c] (-1 entries score 0)."""
        safe = np.maximum(candidates, 0)
        if self.full_scores is not None:
            values = np.take_along_axis(self.full_scores, safe, axis=1)
        else:
            values = np.einsum("bd,bcd->bc", self.user_vectors, item_vectors[safe])
        return np.where(candidates >= 0, values, 0.0).astype(np.float32)

    def ranks_of(self, candidates: np.ndarray) -> np.ndarray:
        """[b, c] 1-based rank of each candidate in this retriever's list; n + 1 if it is not in it."""
        return np.nan_to_num(ranks_in(self.items, candidates), nan=self.items.shape[1] + 1)


def ranks_in(lists: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[b, c] float32: the 1-based rank of each candidate in its row of `lists` [b, n] (-1 padded); NaN where
    the row does not hold it."""
    ranks = np.empty(candidates.shape, dtype=np.float32)
    for row in range(len(candidates)):
        listed = lists[row]
        position = {item: rank for rank, item in enumerate(listed[listed >= 0].tolist(), start=1)}
        ranks[row] = [position.get(item, np.nan) for item in candidates[row].tolist()]
    return ranks


class Retriever:
    """A fitted model as a retriever: vector models search a FAISS index, others score every item."""

    def __init__(self, name: str, model: Recommender, exact_limit: int):
        self.name = name
        self.model = model
        # a model that cannot score new items retrieves only among the items it was fitted on
        self.known = None if model.supports_cold_items else np.asarray(model.history.sum(axis=0)).ravel() > 0
        self.item_vectors: np.ndarray | None = None
        self.index: VectorIndex | None = None
        if isinstance(model, VectorModel):
            self.item_vectors = model.item_vectors()
            self.index = VectorIndex(self.item_vectors, exact_limit)

    def retrieve(
        self, users: np.ndarray, n: int, blocked: sp.csr_matrix, allowed: np.ndarray | None
    ) -> RetrieverOutput:
        """Top-n items per user, never an item in `blocked` rows nor outside `allowed` (if given)."""
        if self.known is not None:
            allowed = self.known if allowed is None else allowed & self.known
        if self.index is None:
            full = self.model.score(users)
            items, scores = top_k(masked(full, blocked, allowed), n)
            items[~np.isfinite(scores)] = -1
            return RetrieverOutput(items, scores, full, None)
        vectors = self.model.user_vectors(users)
        extra = int(np.diff(blocked.indptr).max(initial=0))
        found, values = self.index.search(vectors, n + extra, None if allowed is None else np.flatnonzero(allowed))
        items = np.full((len(users), n), -1, dtype=np.int64)
        scores = np.full((len(users), n), -np.inf, dtype=np.float32)
        for row in range(len(users)):
            keep = found[row] >= 0
            keep[keep] &= ~np.isin(found[row][keep], blocked.indices[blocked.indptr[row] : blocked.indptr[row + 1]])
            kept = found[row][keep][:n]
            items[row, : len(kept)] = kept
            scores[row, : len(kept)] = values[row][keep][:n]
        return RetrieverOutput(items, scores, None, vectors)


def union(lists: list[np.ndarray]) -> np.ndarray:
    """[b, m] candidates: every item of the lists, each once, taken rank by rank (the first list first at
    equal rank); rows are padded with -1 to the longest union."""
    rows = len(lists[0])
    interleaved = np.stack(lists, axis=2).reshape(rows, -1)  # rank-major: rank 1 of every list, then rank 2...
    chosen = []
    for row in range(rows):
        items = interleaved[row][interleaved[row] >= 0]
        _, first = np.unique(items, return_index=True)
        chosen.append(items[np.sort(first)])
    out = np.full((rows, max((len(c) for c in chosen), default=0)), -1, dtype=np.int64)
    for row, items in enumerate(chosen):
        out[row, : len(items)] = items
    return out
