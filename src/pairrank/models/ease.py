"""EASE (Steck, 2019): a closed-form item-item linear autoencoder."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import PositiveFloat

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender, history_matrix
from pairrank.models.config import Trial, model_options

INT8_MAX = 127
SYMMETRISE_BLOCK = 1024
GRAM_USER_BLOCK = 4096  # users per dense block when accumulating X^T X
# float32 solves while this bounds the Gram matrix's condition number: the inverse's error measured about
# 2e-8 times the bound relative to each column's largest weight on ml-latest-small, so at most 2e-4 here
FLOAT32_CONDITION_LIMIT = 1e4


@model_options
class EASEConfig:
    l2: PositiveFloat = 100.0  # L2 penalty on the item-item weights (tuned on ml-latest-small valid)
    # int8: each column of B stored as int8 codes times one float scale, a quarter of float32's size on disk;
    # NDCG@10 moved by at most 0.44% on both development datasets (benchmarks/results/ease_storage.md)
    storage: Literal["int8", "float32"] = "int8"

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {"l2": trial.suggest_float("l2", 1.0, 1e4, log=True)}


class EASE(Recommender):
    """B = argmin ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0; score = X_u B.

    B is computed over the items with training interactions only (an item no
    one chose has a zero row and column in the full solution), so fitting and
    storage grow with the active catalogue. With `storage = "int8"` the weights
    are quantised when fitted, so a loaded model scores exactly as the fitted one.
    """

    name = "ease"
    Config = EASEConfig
    scores_histories = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.active: np.ndarray | None = None  # indices of the items with training interactions
        self.weights: np.ndarray | None = None  # [n_active, n_active] item-item weights, zero diagonal
        self.scales: np.ndarray | None = None  # int8 storage: each column's quantisation step

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        # in place where it can be: each pass over the dense item x item matrix costs seconds at 10k items
        self.active = np.flatnonzero(train.item_popularity > 0)
        gram = item_gram(train.matrix[:, self.active])
        gram = gram.astype(solve_precision(gram, self.config.l2), copy=False)
        gram[np.diag_indices_from(gram)] += self.config.l2
        weights = spd_inverse(gram)
        weights /= -np.diag(weights)
        weights[np.diag_indices_from(weights)] = 0.0
        if self.config.storage == "int8":
            largest = np.maximum(weights.max(axis=0), -weights.min(axis=0))
            self.scales = (largest / INT8_MAX).astype(np.float32)
            self.scales[self.scales == 0] = 1.0
            weights /= self.scales
            codes = np.rint(weights, out=weights).astype(np.int8)
            weights = codes.astype(np.float32)
            weights *= self.scales
        # LAPACK returns column-major arrays; sparse x dense products copy a column-major operand on every call
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_indicators(self.history[users])

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._score_indicators(history_matrix(histories, len(self.items)))

    def _score_indicators(self, x: sp.csr_matrix) -> np.ndarray:
        """X B for rows X of a binary user x item matrix (zero for items without training interactions)."""
        scores = np.zeros((x.shape[0], len(self.items)), dtype=np.float32)
        scores[:, self.active] = x[:, self.active] @ self.weights
        return scores

    def _state(self) -> dict[str, np.ndarray]:
        if self.config.storage == "float32":
            return {"active": self.active, "weights": self.weights}
        codes = np.rint(self.weights / self.scales).astype(np.int8)  # exact: weights are codes * scales
        return {"active": self.active, "codes": codes, "scales": self.scales}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.active = state["active"]
        if self.config.storage == "float32":
            self.weights = state["weights"]
            return
        self.scales = state["scales"]
        self.weights = state["codes"].astype(np.float32) * self.scales


def item_gram(x: sp.csr_matrix) -> np.ndarray:
    """Dense float32 X^T X of a binary user x item matrix, summed over blocks of users (exact below 2^24 users).

    Sparse x dense products beat the sparse x sparse one (which builds a CSR result of most of the dense size)
    by about 2x on ml-latest-small, and a block bounds the dense copy of X.
    """
    gram = np.zeros((x.shape[1], x.shape[1]), dtype=np.float32)
    for start in range(0, x.shape[0], GRAM_USER_BLOCK):
        block = x[start : start + GRAM_USER_BLOCK]
        gram += block.T @ block.toarray().astype(np.float32, copy=False)
    return gram


def solve_precision(gram: np.ndarray, l2: float) -> type[np.floating]:
    """float32 where a bound on the condition number of gram + l2 I keeps float32's rounding small, else float64.

    The bound: the largest eigenvalue is at most the largest row sum (Gershgorin; the entries are counts, so
    non-negative) plus l2, and the smallest is at least l2.
    """
    bound = (float(gram.sum(axis=1).max(initial=0.0)) + l2) / l2
    return np.float32 if bound <= FLOAT32_CONDITION_LIMIT else np.float64


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (LAPACK potrf/potri in the matrix's precision).

    May overwrite `matrix`. float32 halves float64's time and memory (`solve_precision` says when it is enough).
    """
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix is not positive definite (potrf info={info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (potri info={info})")
    for start in range(0, len(inverse), SYMMETRISE_BLOCK):  # copy the upper triangle onto the lower, a block at a time
        stop = min(start + SYMMETRISE_BLOCK, len(inverse))
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        diagonal = inverse[start:stop, start:stop]
        diagonal[np.tril_indices(stop - start, -1)] = diagonal.T[np.tril_indices(stop - start, -1)]
    return inverse
