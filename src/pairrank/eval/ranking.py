"""Turn long-format recommendations (integer user and item codes) into a dense top-K matrix.

Rows are "grouped" when each user's rows are contiguous and in rank order
(ties keep file order); `rank_order` finds the permutation that makes them so,
and `top_k_items` then reads the first K kept, distinct items of every user.
"""

from __future__ import annotations

import numpy as np


def rank_order(users: np.ndarray, ranks: np.ndarray) -> np.ndarray | None:
    """None when the rows are already grouped, else the stable permutation that groups them."""
    if users.size < 2:
        return None
    same_user = users[1:] == users[:-1]
    in_rank_order = bool(((ranks[1:] >= ranks[:-1]) | ~same_user).all())
    run_users = users[np.concatenate(([True], ~same_user))]
    one_run_each = np.bincount(run_users).max() <= 1
    if in_rank_order and one_run_each:
        return None
    return np.lexsort((ranks, users))


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """One int64 key per (user, item) pair: user * n_items + item."""
    return users.astype(np.int64) * n_items + items


def isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of each key in an ascending, duplicate-free key array."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    index = np.searchsorted(sorted_keys, keys)
    np.minimum(index, sorted_keys.size - 1, out=index)
    return sorted_keys[index] == keys


def top_k_items(users: np.ndarray, items: np.ndarray, keep: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """[n_users, k] item codes, -1 padded: each user's first k kept rows, skipping repeated items.

    Rows must be grouped (see `rank_order`). Dropped rows (`keep` False) and
    repeats of an item already ranked higher close up, so ranks are
    re-compacted in the user's rank order.
    """
    if users.size == 0:
        return np.full((n_users, k), -1, dtype=np.int64)
    keep = keep.copy()
    group_start = np.concatenate(([True], users[1:] != users[:-1]))
    while True:
        rows = _first_kept_rows(users, keep, group_start, n_users, k)
        dense = np.where(rows >= 0, items[np.maximum(rows, 0)], -1)
        repeats = _later_repeats(dense)
        if not repeats.any():
            return dense
        keep[rows[repeats]] = False


def _first_kept_rows(
    users: np.ndarray, keep: np.ndarray, group_start: np.ndarray, n_users: int, k: int
) -> np.ndarray:
    """[n_users, k] row numbers of each user's first k kept rows, -1 padded."""
    kept_so_far = np.cumsum(keep)
    before_group = np.maximum.accumulate(np.where(group_start, kept_so_far - keep, 0))
    position = kept_so_far - before_group - 1
    take = np.flatnonzero(keep & (position < k))
    rows = np.full((n_users, k), -1, dtype=np.int64)
    rows[users[take], position[take]] = take
    return rows


def _later_repeats(dense: np.ndarray) -> np.ndarray:
    """Mask of cells whose item already appears earlier in the same row."""
    repeats = np.zeros(dense.shape, dtype=bool)
    ordered = np.sort(dense, axis=1)
    clash = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    clashing_rows = np.flatnonzero(clash.any(axis=1))
    if clashing_rows.size:
        subset = dense[clashing_rows]
        order = np.argsort(subset, axis=1, kind="stable")
        ordered = np.take_along_axis(subset, order, axis=1)
        later = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        row, column = np.nonzero(later)
        repeats[clashing_rows[row], order[:, 1:][row, column]] = True
    return repeats
