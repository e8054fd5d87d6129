"""Models that score by a dot product of user and item factors plus an item bias."""

from __future__ import annotations

from typing import Any

import numpy as np

from pairrank.models.base import Recommender


class FactorRecommender(Recommender):
    """Score(u, i) = <user_factors[u], item_factors[i]> + item_bias[i]; subclasses set the arrays in `_fit`."""

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None
        self.item_bias: np.ndarray | None = None

    def set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray | None = None):
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        bias = np.zeros(len(item_factors)) if item_bias is None else np.ravel(item_bias)
        self.item_bias = np.ascontiguousarray(bias, dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T + self.item_bias

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors, "item_bias": self.item_bias}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.set_factors(state["user_factors"], state["item_factors"], state["item_bias"])
