"""Why an item was recommended: the history items its score leans on, and the attributes they share.

A model's support for a recommended item j is one weight per history item i:
- for models that score any history (`scores_histories`), occlusion:
  score_j(H) - score_j(H without i), how much j's score falls when i is taken
  out. It asks the model itself, so it is faithful to whatever the model
  does, at the cost of one scoring pass per history item, batched;
- otherwise the model's own `support(history, items)` (the pipeline's: the
  text similarity its fusion reads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pairrank.data.item_text import ATTRIBUTE_JOIN
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender

MAX_EXPLAINED_HISTORY = 50  # only the latest items are weighed
SUPPORTING_ITEMS = 3
SHARED_ATTRIBUTES = 5


@dataclass
class Explanation:
    """Per recommended item: its supporting history items (indices, -1 padded), their weights, and the
    attributes it shares with them."""

    because: np.ndarray  # [n_items, top]
    weights: np.ndarray  # [n_items, top]
    shared: list[list[str]]


def explain(model: Recommender, history: np.ndarray, items: np.ndarray, top: int = SUPPORTING_ITEMS) -> Explanation:
    """The `top` supporting history items of each of `items` (`history`: item indices, oldest first)."""
    history = np.asarray(history, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    latest = history[-MAX_EXPLAINED_HISTORY:]
    if model.scores_histories:
        support = occlusion_support(model, history, items)
    elif hasattr(model, "support"):
        support = model.support(latest, items)
    else:
        raise ConfigError(
            f"{model.name} cannot explain its recommendations: it neither scores a history nor has a support measure"
        )
    order = np.argsort(-support, axis=0, kind="stable")[:top]  # [top, len(items)]
    weights = np.take_along_axis(support, order, axis=0)
    because = np.where(weights > 0, latest[order], -1).T
    shared = [_shared(model.item_attributes, item, row[row >= 0]) for item, row in zip(items, because)]
    return Explanation(because, np.where(weights > 0, weights, 0.0).T, shared)


def occlusion_support(model: Recommender, history: np.ndarray, items: np.ndarray) -> np.ndarray:
    """[latest, len(items)]: how much each item's score falls when each of the latest history items (up to
    `MAX_EXPLAINED_HISTORY`, oldest first) is taken out of the whole history."""
    considered = range(max(0, len(history) - MAX_EXPLAINED_HISTORY), len(history))
    without = [np.delete(history, position) for position in considered]
    scores = model.score_histories([history, *without], items)
    return scores[0] - scores[1:]


def _shared(attributes: list[str] | None, item: int, because: np.ndarray) -> list[str]:
    """The item's attributes that its supporting items have too, most shared first."""
    if attributes is None or not attributes[item]:
        return []
    theirs = [set(attributes[i].split(ATTRIBUTE_JOIN)) for i in because if attributes[i]]
    counts = {a: sum(a in t for t in theirs) for a in attributes[item].split(ATTRIBUTE_JOIN)}
    return [a for a, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > 0][:SHARED_ATTRIBUTES]
