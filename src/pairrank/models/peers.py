"""Peer libraries behind PairRank's model face, for side-by-side benchmarks.

`implicit` (ALS and BPR) and LightFM are imported only when one of these is
fitted; the registry offers a peer only when its package is installed.
LightFM is optional: `make install` tries it and goes on without it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from pairrank.data.dataset import Dataset
from pairrank.models.config import FACTOR_CHOICES, Trial, model_options
from pairrank.models.factors import FactorRecommender


class _ImplicitModel(FactorRecommender):
    """Fits an `implicit` model on the user x item matrix and keeps its factors."""

    @abstractmethod
    def _make(self) -> Any: ...

    def _weights(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        return matrix

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        import threadpoolctl

        with threadpoolctl.threadpool_limits(1, "blas"):  # implicit's own advice for its CPU solvers
            model = self._make()
            model.fit(self._weights(train.matrix.astype(np.float32)), show_progress=False)
        self.set_factors(model.user_factors, model.item_factors)


@model_options
class ImplicitALSConfig:
    factors: PositiveInt = 64
    regularization: NonNegativeFloat = 1.0
    iterations: PositiveInt = 15
    alpha: PositiveFloat = 1.0  # confidence = alpha * interaction
    seed: int = 42

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "factors": trial.suggest_categorical("factors", FACTOR_CHOICES),
            "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
        }


class ImplicitALS(_ImplicitModel):
    """implicit's AlternatingLeastSquares (Hu, Koren & Volinsky)."""

    name = "implicit-als"
    Config = ImplicitALSConfig

    def _weights(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        return matrix * self.config.alpha

    def _make(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors, regularization=c.regularization, iterations=c.iterations, random_state=c.seed
        )


@model_options
class ImplicitBPRConfig:
    factors: PositiveInt = 128
    learning_rate: PositiveFloat = 0.01
    regularization: NonNegativeFloat = 0.01
    iterations: PositiveInt = 100
    seed: int = 42

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "factors": trial.suggest_categorical("factors", FACTOR_CHOICES),
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True),
            "regularization": trial.suggest_float("regularization", 1e-4, 1e-1, log=True),
        }


class ImplicitBPR(_ImplicitModel):
    """implicit's BayesianPersonalizedRanking (uniform negatives, SGD)."""

    name = "implicit-bpr"
    Config = ImplicitBPRConfig

    def _make(self) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.config
        return BayesianPersonalizedRanking(
            factors=c.factors,
            learning_rate=c.learning_rate,
            regularization=c.regularization,
            iterations=c.iterations,
            random_state=c.seed,
        )


@model_options
class LightFMConfig:
    no_components: PositiveInt = 64
    loss: Literal["warp", "bpr", "warp-kos", "logistic"] = "warp"
    learning_rate: PositiveFloat = 0.05
    item_alpha: NonNegativeFloat = 0.0
    user_alpha: NonNegativeFloat = 0.0
    epochs: PositiveInt = 20
    seed: int = 42

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "no_components": trial.suggest_categorical("no_components", [16, 32, 64, 128]),
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.2, log=True),
        }


class LightFMWARP(FactorRecommender):
    """LightFM (pure collaborative, no features) with the WARP loss, if LightFM installs."""

    name = "lightfm"
    Config = LightFMConfig

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        from lightfm import LightFM

        c = self.config
        model = LightFM(
            no_components=c.no_components,
            loss=c.loss,
            learning_rate=c.learning_rate,
            item_alpha=c.item_alpha,
            user_alpha=c.user_alpha,
            random_state=c.seed,
        )
        model.fit(train.matrix.tocoo(), epochs=c.epochs, num_threads=2)
        item_bias, item_factors = model.get_item_representations()
        _, user_factors = model.get_user_representations()  # user biases do not change a user's ranking
        self.set_factors(user_factors, item_factors, item_bias)
