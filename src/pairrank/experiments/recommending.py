"""Recommendations as PROTOCOL.md frames (user_id, item_id, rank, score): for a split's test users,
or for histories given at request time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.models.base import Recommender


def recommend_for_test(model: Recommender, data: SplitData, k: int = 100) -> pd.DataFrame:
    """Top-k for every test user, train+valid items excluded, cold candidates only if defined."""
    users = model.users.index(pd.unique(data.split.test[USER].astype(str)), missing="ignore")
    known = users[users >= 0]  # test users the model never saw get no list (and score zero)
    return recommend_frame(model, known, k, exclude=_remap_seen(model, data), candidates=_candidates(model, data))


def _remap_seen(model: Recommender, data: SplitData) -> sp.csr_matrix:
    """The split's train+valid matrix in the model's own id maps."""
    seen = data.dataset(data.split.seen_frame())
    if model.users.ids.tolist() == data.users.ids.tolist() and model.items.ids.tolist() == data.items.ids.tolist():
        return seen.matrix
    rows = model.users.index(data.users.id_of(seen.user_index), missing="ignore")
    cols = model.items.index(data.items.id_of(seen.item_index), missing="ignore")
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(keep.sum(), np.float32), (rows[keep], cols[keep])), shape=(len(model.users), len(model.items))
    )


def _candidates(model: Recommender, data: SplitData) -> np.ndarray | None:
    if data.split.candidates is None:
        return None
    idx = model.items.index(data.split.candidates, missing="ignore")
    return idx[idx >= 0]


def recommend_frame(
    model: Recommender,
    users: np.ndarray,
    k: int,
    *,
    exclude_seen: bool = True,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recommendations for user indices as a PROTOCOL.md frame (see `Recommender.recommend`)."""
    top, scores = model.recommend(users, k, exclude_seen=exclude_seen, exclude=exclude, candidates=candidates)
    return _recs_frame(model, model.users.id_of(users), top, scores)


def recommend_histories_frame(
    model: Recommender,
    user_ids: np.ndarray,
    histories: list[np.ndarray],
    k: int,
    *,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """The PROTOCOL.md frame for histories given at request time (item indices), one per user id."""
    top, scores = model.recommend_histories(histories, k, candidates=candidates)
    return _recs_frame(model, np.asarray(user_ids, dtype=object), top, scores)


def _recs_frame(model: Recommender, user_ids: np.ndarray, top: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """One row per returned item (padding dropped): user_id, item_id, rank, score."""
    valid = top >= 0
    ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
    return pd.DataFrame(
        {
            USER: np.repeat(user_ids, top.shape[1]).reshape(top.shape)[valid],
            ITEM: model.items.id_of(top[valid]),
            "rank": ranks[valid],
            "score": scores[valid],
        }
    )
