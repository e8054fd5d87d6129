"""A FAISS inner-product index over item vectors: exact up to a size limit, HNSW above it."""

from __future__ import annotations

import faiss
import numpy as np

HNSW_NEIGHBOURS = 32  # graph degree M
HNSW_SEARCH_DEPTH = 256  # efSearch: candidates kept while searching; recall grows with it


class VectorIndex:
    """Top-n items by inner product with a query vector; `exact` tells which search it runs."""

    def __init__(self, item_vectors: np.ndarray, exact_limit: int = 200_000):
        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.n_items, dim = vectors.shape
        self.exact = self.n_items <= exact_limit
        if self.exact:
            self.index = faiss.IndexFlatIP(dim)
        else:
            self.index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = HNSW_SEARCH_DEPTH
        self.index.add(vectors)

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(items [len(queries), n] best first, padded with -1; scores, padded with -inf), only among the
        item indices `allowed` when given."""
        n = min(n, self.n_items)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector) if self.exact else faiss.SearchParametersHNSW(sel=selector)
            if not self.exact:
                params.efSearch = HNSW_SEARCH_DEPTH
        scores, items = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), n, params=params)
        scores[items < 0] = -np.inf
        return items.astype(np.int64), scores


def recall_against_exact(item_vectors: np.ndarray, queries: np.ndarray, n: int = 100) -> float:
    """Share of the exact top-n that an HNSW index over the same vectors returns (mean over queries)."""
    exact, _ = VectorIndex(item_vectors, exact_limit=len(item_vectors)).search(queries, n)
    approximate, _ = VectorIndex(item_vectors, exact_limit=0).search(queries, n)
    hits = [len(np.intersect1d(a[a >= 0], e)) for a, e in zip(approximate, exact, strict=True)]
    return float(np.mean(hits) / exact.shape[1])
