"""PROTOCOL.md preprocessing: per-user order, duplicate removal, user filter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pairrank.data.schema import ITEM, TIMESTAMP, USER

ORDER_SEED = 42
MIN_USER_INTERACTIONS = 5


def order_per_user(frame: pd.DataFrame, seed: int = ORDER_SEED) -> pd.DataFrame:
    """Rows grouped by user, each user's rows in time order (ties keep file order).

    Without timestamps, each user's rows get a seeded random order.
    """
    frame = frame.reset_index(drop=True)
    if TIMESTAMP in frame.columns:
        key = frame[TIMESTAMP].to_numpy()
    else:
        key = np.random.default_rng(seed).permutation(len(frame))
    users = pd.factorize(frame[USER], sort=False)[0]
    order = np.lexsort((np.arange(len(frame)), key, users))
    return frame.iloc[order].reset_index(drop=True)


def drop_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the first (earliest, then first in file) occurrence of each (user, item)."""
    return frame.drop_duplicates([USER, ITEM], keep="first").reset_index(drop=True)


def filter_users(frame: pd.DataFrame, min_interactions: int = MIN_USER_INTERACTIONS) -> pd.DataFrame:
    """Drop users with fewer than `min_interactions` interactions."""
    counts = frame.groupby(USER, sort=False, observed=True)[ITEM].transform("size")
    return frame[counts.to_numpy() >= min_interactions].reset_index(drop=True)


def prepare(frame: pd.DataFrame, min_interactions: int = MIN_USER_INTERACTIONS) -> pd.DataFrame:
    """Order, dedupe and filter: the input every split protocol starts from."""
    return filter_users(drop_duplicates(order_per_user(frame)), min_interactions)
