"""Why an item was recommended: which history items its score leans on (occlusion, any history model).

For a history H and a recommended item j, the weight of a history item i is
score_j(H) - score_j(H without i): how much j's score falls when i is taken
out. It asks the model itself, so it is faithful to whatever the model does
(item-item weights, a text profile, a sequence encoder), at the cost of one
scoring pass per history item, batched.
"""

from __future__ import annotations

import numpy as np

from pairrank.models.base import Recommender

MAX_EXPLAINED_HISTORY = 50  # only the latest items are taken out one by one


def occlusion(
    model: Recommender, history: np.ndarray, items: np.ndarray, top: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """For each of `items`, the `top` history items (indices) whose removal lowers its score most, and by
    how much; -1 / 0 where fewer history items lower it at all. `history` is item indices, oldest first."""
    history = np.asarray(history, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    considered = np.arange(max(0, len(history) - MAX_EXPLAINED_HISTORY), len(history))
    without = [np.delete(history, position) for position in considered]
    scores = model._score_histories([history, *without])[:, items]  # [1 + n, len(items)]
    drops = scores[0] - scores[1:]  # [n, len(items)]: how much each removal lowers each item's score
    order = np.argsort(-drops, axis=0, kind="stable")[:top]  # [top, len(items)]
    weights = np.take_along_axis(drops, order, axis=0)
    because = np.where(weights > 0, history[considered][order], -1)
    return because.T, np.where(weights > 0, weights, 0.0).T
