"""The split protocols of PROTOCOL.md: `loo`, `temporal80`, `cold_items`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pairrank.data.preprocess import MIN_USER_INTERACTIONS, ORDER_SEED, prepare
from pairrank.data.schema import ITEM, USER
from pairrank.errors import DataError

PROTOCOLS = ("loo", "temporal80", "cold_items")
COLD_ITEM_SHARE = 0.2


@dataclass
class SplitFrames:
    """Train/valid/test interactions; `candidates` only for `cold_items`."""

    protocol: str
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    candidates: np.ndarray | None = None


def _ceil_share(n: np.ndarray, percent: int) -> np.ndarray:
    """ceil(n * percent / 100) in exact integer arithmetic, at least 1."""
    return np.maximum(1, -(-n * percent // 100))


def _position_from_end(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by user in order: (index from the end, user's row count)."""
    grouped = frame.groupby(USER, sort=False, observed=True)
    count = grouped[ITEM].transform("size").to_numpy()
    return count - 1 - grouped.cumcount().to_numpy(), count


def leave_one_out(ordered: pd.DataFrame) -> SplitFrames:
    from_end, _ = _position_from_end(ordered)
    return SplitFrames("loo", ordered[from_end >= 2], ordered[from_end == 1], ordered[from_end == 0])


def temporal(ordered: pd.DataFrame) -> SplitFrames:
    """Last 20% (ceil, >= 1) = test; last 10% (ceil, >= 1) of the rest = valid."""
    from_end, count = _position_from_end(ordered)
    n_test = _ceil_share(count, 20)
    n_valid = _ceil_share(count - n_test, 10)
    test = from_end < n_test
    valid = ~test & (from_end < n_test + n_valid)
    return SplitFrames("temporal80", ordered[~test & ~valid], ordered[valid], ordered[test])


def withheld_items(catalogue: np.ndarray, share: float = COLD_ITEM_SHARE) -> np.ndarray:
    """Sort ids as strings, permute with seed 42, withhold the first 20% (floor)."""
    ids = np.sort(np.asarray(catalogue, dtype=str))
    shuffled = ids[np.random.default_rng(ORDER_SEED).permutation(len(ids))]
    return shuffled[: int(len(ids) * share)]


def cold_items(ordered: pd.DataFrame, catalogue: np.ndarray) -> SplitFrames:
    """Withheld items' interactions = test; the rest split 90/10 per user."""
    withheld = withheld_items(catalogue)
    is_cold = ordered[ITEM].astype(str).isin(set(withheld)).to_numpy()
    warm = ordered[~is_cold]
    from_end, count = _position_from_end(warm)
    n_valid = np.where(count >= 2, _ceil_share(count, 10), 0)
    valid = from_end < n_valid
    return SplitFrames("cold_items", warm[~valid], warm[valid], ordered[is_cold], candidates=withheld)


def split_interactions(
    interactions: pd.DataFrame, protocol: str, catalogue: np.ndarray | None = None, *, source: str | None = None
) -> SplitFrames:
    """Apply PROTOCOL.md's preprocessing, then the named protocol.

    Nothing left to split is a `DataError` naming `source` and the step that emptied it.
    """
    if interactions.empty:
        raise DataError("no interactions to split", source)
    ordered = prepare(interactions)
    if ordered.empty:
        users = interactions[USER].nunique()
        raise DataError(
            f"no user has {MIN_USER_INTERACTIONS} or more distinct items ({users} users, {len(interactions)} rows): "
            f"PROTOCOL.md's {MIN_USER_INTERACTIONS}-interaction user filter left nothing to split",
            source,
        )
    if protocol == "loo":
        return leave_one_out(ordered)
    if protocol == "temporal80":
        return temporal(ordered)
    if protocol == "cold_items":
        ids = catalogue if catalogue is not None else ordered[ITEM].astype(str).unique()
        return cold_items(ordered, ids)
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
