"""The dataset object models train on: id maps plus integer-coded interactions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pairrank.data.idmap import IdMap
from pairrank.data.schema import ITEM, RATING, TIMESTAMP, USER


@dataclass
class Dataset:
    """Interactions coded against fixed user and item id maps.

    Rows are grouped by user in time order (as the split files store them).
    `item_text`, `item_titles` and `item_attributes` ('|'-joined genres, tags, categories) are aligned
    with `items` (one string per item, '' if none).
    """

    users: IdMap
    items: IdMap
    user_index: np.ndarray
    item_index: np.ndarray
    timestamps: np.ndarray | None = None
    ratings: np.ndarray | None = None
    item_text: list[str] | None = None
    item_titles: list[str] | None = None
    item_attributes: list[str] | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        users: IdMap,
        items: IdMap,
        item_text: list[str] | None = None,
        item_titles: list[str] | None = None,
        item_attributes: list[str] | None = None,
    ) -> Dataset:
        return cls(
            users=users,
            items=items,
            user_index=users.index(frame[USER].astype(str).to_numpy()),
            item_index=items.index(frame[ITEM].astype(str).to_numpy()),
            timestamps=frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame else None,
            ratings=frame[RATING].to_numpy(dtype=np.float64) if RATING in frame else None,
            item_text=item_text,
            item_titles=item_titles,
            item_attributes=item_attributes,
        )

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.user_index)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Binary user x item matrix (float32): 1 where the user interacted."""
        data = np.ones(len(self.user_index), dtype=np.float32)
        m = sp.csr_matrix((data, (self.user_index, self.item_index)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item."""
        return np.asarray(self.matrix.sum(axis=0)).ravel()

    def _newest_first(self) -> tuple[np.ndarray, np.ndarray]:
        """Row order grouped by user, newest first (timestamp, then later row), and each row's rank in it."""
        times = self.timestamps if self.timestamps is not None else np.zeros(len(self), dtype=np.int64)
        order = np.lexsort((-np.arange(len(self)), -times, self.user_index))
        users = self.user_index[order]
        return order, np.arange(len(order)) - np.searchsorted(users, users, side="left")

    def recency_matrix(self, decay: float) -> sp.csr_matrix:
        """User x item weights `decay ** age` (float32), age 0 for each user's latest interaction.

        An item interacted with more than once keeps its latest (largest) weight.
        """
        order, from_end = self._newest_first()
        users, items = self.user_index[order], self.item_index[order]
        return recency_weights(users, items, from_end, decay, (self.n_users, self.n_items))

    def sequences(self, max_len: int, pad: int) -> np.ndarray:
        """[n_users, max_len] item indices: each user's latest `max_len` items, oldest first,
        right-aligned and left-padded with `pad`."""
        order, from_end = self._newest_first()
        keep = from_end < max_len
        out = np.full((self.n_users, max_len), pad, dtype=np.int64)
        out[self.user_index[order[keep]], max_len - 1 - from_end[keep]] = self.item_index[order[keep]]
        return out

    def user_sequences(self, users: np.ndarray) -> list[np.ndarray]:
        """Each of `users`' whole history (item indices), oldest first, in the order of `sequences`."""
        order, _ = self._newest_first()
        grouped, items = self.user_index[order], self.item_index[order]
        starts = np.searchsorted(grouped, users, side="left")
        ends = np.searchsorted(grouped, users, side="right")
        return [items[start:end][::-1] for start, end in zip(starts, ends)]

    def windows(self, length: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
        """Each user's whole history cut into training windows of `length` + 1 items, oldest first.

        Window j of a user holds the items 1 + j*length .. (j+1)*length places
        from the newest as targets (slots 1..length) and the item before them in
        slot 0, so every interaction but a user's first is a target exactly
        once. Left-padded with `pad`; windows with fewer than two items are
        dropped. Returns (windows [W, length + 1], owner user index [W]).
        """
        order, from_end = self._newest_first()
        users, items = self.user_index[order], self.item_index[order]
        counts = np.bincount(self.user_index, minlength=self.n_users)
        per_user = np.where(counts > 0, (counts - 1) // length + 1, 0)
        first = np.concatenate([[0], np.cumsum(per_user)[:-1]])
        out = np.full((int(per_user.sum()), length + 1), pad, dtype=np.int64)
        block = from_end // length
        out[first[users] + block, length - from_end % length] = items
        carried = (from_end % length == 0) & (block > 0)  # also the input slot 0 of the next-newer window
        out[first[users[carried]] + block[carried] - 1, 0] = items[carried]
        owners = np.repeat(np.arange(self.n_users), per_user)
        keep = (out != pad).sum(axis=1) >= 2
        return out[keep], owners[keep]

    def subset(self, keep: np.ndarray) -> Dataset:
        """The interactions where `keep` (bool, one per row) holds; the same id maps and item data."""
        return replace(
            self,
            user_index=self.user_index[keep],
            item_index=self.item_index[keep],
            timestamps=None if self.timestamps is None else self.timestamps[keep],
            ratings=None if self.ratings is None else self.ratings[keep],
        )

    def latest_rows(self, count: int, *, at_most_half: bool = True) -> np.ndarray:
        """Bool per row: each user's latest `count` rows (with `at_most_half`, at most half of the user's rows)."""
        order, from_end = self._newest_first()
        latest = np.zeros(len(self), dtype=bool)
        if not at_most_half:
            latest[order] = from_end < count
            return latest
        per_user = np.bincount(self.user_index, minlength=self.n_users)
        latest[order] = from_end < np.minimum(count, per_user[self.user_index[order]] // 2)
        return latest

    def joined(self, other: Dataset) -> Dataset:
        """This dataset's interactions followed by `other`'s (the same id maps and item data)."""
        if other.users is not self.users or other.items is not self.items:
            raise ValueError("joined datasets must share their id maps")

        def both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else np.concatenate([a, b])

        return replace(
            self,
            user_index=np.concatenate([self.user_index, other.user_index]),
            item_index=np.concatenate([self.item_index, other.item_index]),
            timestamps=both(self.timestamps, other.timestamps),
            ratings=both(self.ratings, other.ratings),
        )

    def active_users(self) -> np.ndarray:
        """Indices of users with at least one interaction."""
        return np.flatnonzero(np.diff(self.matrix.indptr) > 0)


def recency_weights(
    rows: np.ndarray, items: np.ndarray, ages: np.ndarray, decay: float, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Row x item weights `decay ** age` (float32) from (row, item, age) triples given newest first within
    each row; an item a row holds more than once keeps its first (newest, largest) weight."""
    keys = np.asarray(rows, dtype=np.int64) * shape[1] + np.asarray(items, dtype=np.int64)
    _, newest = np.unique(keys, return_index=True)
    weights = np.power(np.float64(decay), ages[newest]).astype(np.float32)
    return sp.csr_matrix((weights, (rows[newest], items[newest])), shape=shape)


class PairIndex:
    """Fast membership of (user, item) pairs in a sparse matrix, built once and queried often."""

    def __init__(self, matrix: sp.csr_matrix):
        matrix = matrix.tocsr()
        matrix.sort_indices()
        self.n_items = matrix.shape[1]
        rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        self.keys = rows * self.n_items + matrix.indices  # sorted: row-major with sorted columns

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (users[n], items[n]) is a stored pair, elementwise (items < 0 give False)."""
        items = np.asarray(items, dtype=np.int64)
        keys = np.asarray(users, dtype=np.int64) * self.n_items + items
        if len(self.keys) == 0:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return (items >= 0) & (self.keys[pos] == keys)
