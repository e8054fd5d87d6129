"""EASE (Steck, 2019): a closed-form item-item linear autoencoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import PositiveFloat

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender, history_matrix
from pairrank.models.config import Trial, model_options


@model_options
class EASEConfig:
    l2: PositiveFloat = 100.0  # L2 penalty on the item-item weights (tuned on ml-latest-small valid)

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {"l2": trial.suggest_float("l2", 1.0, 1e4, log=True)}


class EASE(Recommender):
    """B = argmin ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0; score = X_u B."""

    name = "ease"
    Config = EASEConfig
    scores_histories = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.weights: np.ndarray | None = None  # [n_items, n_items] item-item weights, zero diagonal

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        x = train.matrix
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.l2
        precision = spd_inverse(gram)
        weights = precision / (-np.diag(precision))
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_indicators(self.history[users])

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._score_indicators(history_matrix(histories, len(self.items)))

    def _score_indicators(self, x: sp.csr_matrix) -> np.ndarray:
        """X B for rows X of a binary user x item matrix."""
        return np.asarray(x @ self.weights)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix via Cholesky (LAPACK potrf/potri)."""
    factor, info = scipy.linalg.lapack.dpotrf(matrix, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix is not positive definite (potrf info={info})")
    upper, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (potri info={info})")
    return np.triu(upper) + np.triu(upper, 1).T
