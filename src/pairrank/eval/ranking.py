"""Turn long-format recommendations (integer user and item codes) into a dense top-K matrix.

`group_by_user` arranges rows so that each user's rows are contiguous and in
rank order (ties keep file order); `top_k_items` then reads the first K kept,
distinct items of every group, looking only as deep into each group as it
must, so its cost follows n_users x K rather than the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Groups:
    """Rows grouped by user, each group in rank order."""

    order: np.ndarray | None  # the permutation that groups the rows; None when they already are
    users: np.ndarray  # the user of each group
    starts: np.ndarray  # each group's first row, in grouped order
    lengths: np.ndarray

    def subset(self, mask: np.ndarray) -> Groups:
        """The groups where `mask` is True (rows keep their numbering)."""
        return Groups(self.order, self.users[mask], self.starts[mask], self.lengths[mask])


def group_by_user(users: np.ndarray, ranks: np.ndarray) -> Groups:
    """Find the user groups, sorting (stably, by user then rank) only when the rows are not grouped already."""
    order = None
    starts = _run_starts(users)
    in_rank_order = bool(((ranks[1:] >= ranks[:-1]) | (users[1:] != users[:-1])).all())
    if not in_rank_order or (starts.size and np.bincount(users[starts]).max() > 1):
        order = np.lexsort((ranks, users))
        users = users[order]
        starts = _run_starts(users)
    lengths = np.diff(np.append(starts, users.size))
    return Groups(order=order, users=users[starts], starts=starts, lengths=lengths)


def _run_starts(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1))


def top_k_items(groups: Groups, items: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """[n_groups, k] item codes, -1 padded: each group's first k kept rows, skipping repeated items.

    `items` and `keep` are in grouped order. Dropped rows and repeats of an
    item ranked higher close up, so ranks are re-compacted in the user's
    rank order. Each round reads a window of `width` rows per unfinished
    group and doubles it for groups with too few kept items.
    """
    top = np.full((groups.starts.size, k), -1, dtype=np.int64)
    pending = np.arange(groups.starts.size)
    width = k
    while pending.size:
        starts, lengths = groups.starts[pending], groups.lengths[pending]
        offsets = np.arange(width)
        inside = offsets < lengths[:, None]
        rows = np.where(inside, starts[:, None] + offsets, 0)
        kept = inside & keep[rows]
        window = np.where(kept, items[rows], -1)
        window[_later_repeats(window)] = -1
        done = ((window >= 0).sum(axis=1) >= k) | (lengths <= width)
        top[pending[done]] = _first_k(window[done], k)
        pending = pending[~done]
        width *= 2
    return top


def _first_k(window: np.ndarray, k: int) -> np.ndarray:
    """The first k non-negative entries of each row, in order, -1 padded."""
    if not (window < 0).any():
        return window[:, :k]
    order = np.argsort(window < 0, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(window, order, axis=1)


def _later_repeats(window: np.ndarray) -> np.ndarray:
    """Mask of cells whose item (>= 0) already appears earlier in the same row."""
    repeats = np.zeros(window.shape, dtype=bool)
    ordered = np.sort(window, axis=1)
    clashing_rows = np.flatnonzero(((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1))
    if clashing_rows.size:
        subset = window[clashing_rows]
        order = np.argsort(subset, axis=1, kind="stable")
        ordered = np.take_along_axis(subset, order, axis=1)
        row, column = np.nonzero((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0))
        repeats[clashing_rows[row], order[:, 1:][row, column]] = True
    return repeats
