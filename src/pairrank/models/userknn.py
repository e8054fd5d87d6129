"""UserKNN: cosine user-user similarity with shrinkage, top-k neighbours per user.

As in RecBole and Herlocker et al., a user's score for an item sums the
similarities of the user's k most similar training users who hold it. A
history given at recommend time (a new user) is compared with the training
users the same way, so nothing is refit; a training user's own history given
that way finds the user among them (one of the k neighbours, adding only
items the history holds, which are excluded).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import NonNegativeFloat, PositiveInt

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender, history_matrix, top_k
from pairrank.models.config import Trial, model_options

SIMILARITY_ENTRIES = 2**25  # user-user similarities held at once while scoring (128 MB of float32)


@model_options
class UserKNNConfig:
    k: PositiveInt = 100  # neighbours per user (validation of both development datasets: tune_userknn-*.md)
    shrink: NonNegativeFloat = 50.0  # sim = <u, v> / (|u| |v| + shrink)

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {"k": trial.suggest_int("k", 5, 500, log=True), "shrink": trial.suggest_float("shrink", 0.0, 100.0)}


class UserKNN(Recommender):
    name = "userknn"
    Config = UserKNNConfig
    scores_histories = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.norms: np.ndarray | None = None  # each training user's vector length (from the history, not saved)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        self.norms = _norms(self.history)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._scores(self.history[users], users)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._scores(history_matrix(histories, len(self.items)), None)

    def _scores(self, rows: sp.csr_matrix, own: np.ndarray | None) -> np.ndarray:
        """Item scores for rows of a user x item matrix, a block of rows at a time so that each block's
        similarities to every training user stay within SIMILARITY_ENTRIES; `own` (the rows' training users)
        are left out of their own neighbours."""
        step = max(1, SIMILARITY_ENTRIES // len(self.norms))
        blocks = []
        for start in range(0, rows.shape[0], step):
            similarity = self._similarity(rows[start : start + step])
            if own is not None:
                similarity[np.arange(len(similarity)), own[start : start + step]] = 0.0
            blocks.append(self._from_neighbours(similarity))
        return np.vstack(blocks) if blocks else np.zeros((0, len(self.items)), dtype=np.float32)

    def _similarity(self, rows: sp.csr_matrix) -> np.ndarray:
        """Shrunk cosine similarity of each row (a user's items) to every training user."""
        overlap = (rows @ self.history.T).toarray().astype(np.float32)
        overlap /= np.outer(_norms(rows), self.norms) + self.config.shrink + 1e-12
        return overlap

    def _from_neighbours(self, similarity: np.ndarray) -> np.ndarray:
        """Item scores: the summed similarity of each row's k nearest training users holding the item."""
        k = min(self.config.k, similarity.shape[1])
        neighbours, values = top_k(similarity, k)
        rows = np.repeat(np.arange(len(similarity)), k)
        kept = sp.csr_matrix((values.ravel(), (rows, neighbours.ravel())), shape=similarity.shape)
        return (kept @ self.history).toarray()

    def _state(self) -> dict[str, np.ndarray]:
        return {}  # the saved training history is the whole model

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.norms = _norms(self.history)


def _norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()).astype(np.float32)
