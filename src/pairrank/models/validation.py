"""Validation NDCG for early stopping and tuning."""

from __future__ import annotations

import numpy as np

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.eval import metrics
from pairrank.models.base import Recommender


def validation_ndcg(model: Recommender, valid: Dataset, k: int = 10) -> float:
    """Mean NDCG@k over the users with validation items (training items excluded)."""
    users = valid.active_users()
    top, _ = model.recommend(users, k)
    hits = PairIndex(valid.matrix).contains(np.repeat(users, top.shape[1]).reshape(top.shape), top)
    n_relevant = np.diff(valid.matrix.indptr)[users]
    return float(metrics.compute_metrics(hits, n_relevant, ks=(k,))[f"ndcg@{k}"].mean())
