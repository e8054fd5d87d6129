"""The last stage: keep to allowed categories, then trade relevance for diversity (MMR).

MMR (maximal marginal relevance) picks items one by one, each time the one
with the best `lam * relevance - (1 - lam) * max similarity to the items
already picked`; relevance is the ranking score rescaled to [0, 1] within
each user's pool, similarity the cosine of the items' text vectors.
`lam = 1` keeps the ranking as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pairrank.data.item_text import attribute_set


def attribute_mask(attributes: Sequence[str] | None, allow: Sequence[str], deny: Sequence[str]) -> np.ndarray | None:
    """Items (bool per item) with an allowed attribute (any, if `allow` is empty) and no denied one;
    None when neither list is given. Attributes compare case-insensitively."""
    if not allow and not deny:
        return None
    if attributes is None:
        raise ValueError("allow/deny lists need item attributes (genres, tags, categories), and the run has none")
    allowed, denied = {a.lower() for a in allow}, {a.lower() for a in deny}
    keep = np.ones(len(attributes), dtype=bool)
    for item, text in enumerate(attributes):
        values = attribute_set(text)
        keep[item] = (not allowed or bool(values & allowed)) and not (values & denied)
    return keep


def mmr(
    items: np.ndarray, scores: np.ndarray, vectors: np.ndarray, lam: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The top k of each row of a ranked pool (`items` [b, pool], -1 padded; `scores` best first) re-picked by
    MMR over unit `vectors`; returns items and their original scores, -1 / -inf padded."""
    out_items = np.full((len(items), k), -1, dtype=np.int64)
    out_scores = np.full((len(items), k), -np.inf, dtype=np.float32)
    for row in range(len(items)):
        present = items[row] >= 0
        pool, values = items[row][present], scores[row][present]
        if not pool.size:
            continue
        spread = values.max() - values.min()
        relevance = (values - values.min()) / spread if spread > 0 else np.ones_like(values)
        similarity = vectors[pool] @ vectors[pool].T
        closest = np.full(len(pool), -np.inf)
        free = np.ones(len(pool), dtype=bool)
        for slot in range(min(k, len(pool))):
            gain = lam * relevance - (1 - lam) * np.where(np.isfinite(closest), closest, 0.0)
            pick = int(np.argmax(np.where(free, gain, -np.inf)))
            out_items[row, slot], out_scores[row, slot] = pool[pick], values[pick]
            free[pick] = False
            closest = np.maximum(closest, similarity[pick])
    return out_items, out_scores
