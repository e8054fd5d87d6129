"""MostPop: every user gets the items most users interacted with."""

from __future__ import annotations

from typing import Any

import numpy as np

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender
from pairrank.models.config import model_options


@model_options
class MostPopConfig:
    """No hyperparameters."""


class MostPop(Recommender):
    name = "mostpop"
    Config = MostPopConfig
    scores_histories = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.popularity: np.ndarray | None = None  # distinct users per item

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        self.popularity = train.item_popularity.astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._popularity_rows(len(users))

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._popularity_rows(len(histories))

    def _popularity_rows(self, n: int) -> np.ndarray:
        """The popularity vector repeated for n rows (a read-only view)."""
        return np.broadcast_to(self.popularity, (n, len(self.popularity)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.popularity = state["popularity"]
