"""LightGBM lambdarank over per-candidate features: the pipeline's learned fusion.

A model is kept as LightGBM's own text format (no pickle).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from pairrank.errors import DataError

FOLDS = 5  # cross-validation over label users picks the number of trees
PATIENCE = 40  # trees without a better mean cross-validated NDCG@10 before the search stops


class Fusion:
    """Scores candidates from their feature rows; trained on groups of one user's candidates."""

    def __init__(self, booster: lgb.Booster):
        self.booster = booster

    @property
    def feature_names(self) -> list[str]:
        return self.booster.feature_name()

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        group_sizes: np.ndarray,
        names: list[str],
        *,
        trees: int,
        learning_rate: float,
        leaves: int,
        min_child_samples: int,
        seed: int,
        negatives: int,
    ) -> tuple[Fusion, dict[str, float]]:
        """Fit on `features` rows grouped by user (`group_sizes`: rows per group, in order; labels 0/1).

        Groups without a relevant item carry no pair to learn from and are left out; each group keeps its
        relevant rows and at most `negatives` others, drawn at random. The number of trees
        is the best mean NDCG@10 of a cross-validation over the groups; the model is then refit on all of
        them. Returns the model and {"trees", "cv_ndcg@10", "groups"}.
        """
        rng = np.random.default_rng(seed)
        groups = [
            _sampled(g, labels[g] > 0, negatives, rng)
            for g in np.split(np.arange(len(labels)), np.cumsum(group_sizes)[:-1])
            if labels[g].any()
        ]
        if len(groups) < FOLDS:
            raise DataError(
                f"only {len(groups)} labelled users have a relevant item among the candidates: too few to learn "
                "the fusion from (more validation users, more candidates, or fusion = false)"
            )
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": learning_rate,
            "num_leaves": leaves,
            "min_child_samples": min_child_samples,
            "feature_fraction": 0.8,
            "lambdarank_truncation_level": 20,
            "seed": seed,
            "deterministic": True,
            "num_threads": 0,
            "verbosity": -1,
        }
        rows = np.concatenate(groups)
        data = lgb.Dataset(
            features[rows], labels[rows], group=[len(g) for g in groups], feature_name=names, free_raw_data=False
        )
        fold_of_group = rng.permutation(len(groups)) % FOLDS
        fold_of_row = np.repeat(fold_of_group, [len(g) for g in groups])
        folds = [(np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f)) for f in range(FOLDS)]
        stop = lgb.early_stopping(PATIENCE, verbose=False)
        curve = lgb.cv(params, data, num_boost_round=trees, folds=folds, callbacks=[stop])["valid ndcg@10-mean"]
        best = int(np.argmax(curve)) + 1
        report = {"trees": best, "cv_ndcg@10": round(float(curve[best - 1]), 4), "groups": len(groups)}
        return cls(lgb.train(params, data, num_boost_round=best)), report

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.booster.predict(features, num_threads=0).astype(np.float32)

    def importance(self) -> dict[str, float]:
        """Each feature's share of the total split gain."""
        gain = self.booster.feature_importance("gain")
        total = gain.sum() or 1.0
        return {name: float(g / total) for name, g in zip(self.feature_names, gain, strict=True)}

    def to_text(self) -> str:
        return self.booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> Fusion:
        return cls(lgb.Booster(model_str=text))


def _sampled(rows: np.ndarray, relevant: np.ndarray, negatives: int, rng: np.random.Generator) -> np.ndarray:
    """The relevant rows and at most `negatives` of the others, in their original order."""
    others = rows[~relevant]
    if len(others) > negatives:
        others = rng.choice(others, negatives, replace=False)
    return np.sort(np.concatenate([rows[relevant], others]))
