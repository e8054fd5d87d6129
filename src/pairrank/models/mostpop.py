"""MostPop: every user gets the items most users interacted with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender


@dataclass
class MostPopConfig:
    """No hyperparameters."""


class MostPop(Recommender):
    name = "mostpop"
    Config = MostPopConfig

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        self.popularity = train.item_popularity.astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(users), len(self.popularity)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.popularity = state["popularity"]
