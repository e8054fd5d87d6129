"""(user, item) pairs as int64 keys, and membership tests over them."""

from __future__ import annotations

import numpy as np

TABLE_BYTES = 1 << 28  # the largest screening table `isin_pairs` builds


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """One int64 key per (user, item) pair: user * n_items + item."""
    return users.astype(np.int64) * n_items + items


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Ascending distinct keys (a stable sort is fast on keys grouped by user, as here)."""
    keys = np.sort(keys, kind="stable")
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys


def isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of each key in an ascending, duplicate-free key array."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    index = np.searchsorted(sorted_keys, keys)
    np.minimum(index, sorted_keys.size - 1, out=index)
    return sorted_keys[index] == keys


def isin_pairs(
    users: np.ndarray, items: np.ndarray, set_users: np.ndarray, set_items: np.ndarray, n_users: int, n_items: int
) -> np.ndarray:
    """Whether each (user, item) pair is among the (set_user, set_item) pairs.

    A per-user table of hashed item slots (about 8 slots per set pair)
    first screens out most pairs cheaply, with good locality when the
    queries are grouped by user; only the rest get an exact binary search.
    """
    width = _table_width(set_users.size, n_users)
    table = np.zeros(n_users * width, dtype=bool)
    table[set_users.astype(np.int64) * width + (set_items & (width - 1))] = True
    maybe = np.flatnonzero(table[users.astype(np.int64) * width + (items & (width - 1))])
    found = np.zeros(users.shape, dtype=bool)
    set_keys = sorted_unique(pair_keys(set_users, set_items, n_items))
    found[maybe] = isin_sorted(pair_keys(users[maybe], items[maybe], n_items), set_keys)
    return found


def _table_width(n_pairs: int, n_users: int) -> int:
    """Slots per user: a power of two (so hashing is a mask) near 8 per pair, within TABLE_BYTES."""
    n_users = max(n_users, 1)
    wanted = 8 * max(1, -(-n_pairs // n_users))
    affordable = max(1, TABLE_BYTES // n_users)
    return min(1 << (wanted - 1).bit_length(), 1 << (affordable.bit_length() - 1))
