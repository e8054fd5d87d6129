"""Score a recommendations frame against a test split (PROTOCOL.md, "Ranking and metrics").

Ids become integer codes once (categorical codes or Arrow hashing); the code
spaces start with the recommendations' own ids, so their (possibly 100M)
codes are used as they are. Pairs become int64 keys user * n_items + item,
and each user's top K becomes a row of a dense matrix: no step loops over
users.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.schema import ITEM, USER
from pairrank.errors import DataError
from pairrank.eval.codes import encode_ids
from pairrank.eval.metrics import compute_metrics, coverage_at_k
from pairrank.eval.pairs import isin_pairs, isin_sorted, pair_keys, sorted_unique
from pairrank.eval.ranking import group_by_user, top_k_items
from pairrank.eval.recs import RANK, read_recommendations, validate_recommendations
from pairrank.eval.result import EvaluationResult

__all__ = ["EvaluationResult", "evaluate", "read_recommendations"]

ON_SEEN = ("reject", "count")


def evaluate(
    test: pd.DataFrame,
    recs: pd.DataFrame,
    *,
    seen: pd.DataFrame | None = None,
    candidates: np.ndarray | None = None,
    n_catalogue: int,
    ks: Iterable[int] = (10, 20),
    on_seen: str = "reject",
    recs_path: str | Path | None = None,
) -> EvaluationResult:
    """Score `recs` (user_id, item_id, rank) against `test` (user_id, item_id).

    Averages are over every test user; users without recommendations score
    zero, and recommendations for users outside `test` are ignored. Repeated
    (user, item) rows keep the best rank; tied ranks keep file order. Rows
    whose item the user has in `seen` (train + valid) raise a `DataError`
    naming `recs_path` and the first such row (`on_seen="reject"`), or are
    dropped and counted (`on_seen="count"`). With `candidates` (the
    cold_items protocol), rows outside them are dropped and counted as
    violations; a row can count as both. After dropping, each user's
    remaining rows close up in rank order.
    """
    if on_seen not in ON_SEEN:
        raise ValueError(f"on_seen must be one of {ON_SEEN}, got {on_seen!r}")
    ks = tuple(sorted(set(ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive cut-offs, got {ks}")
    recs = validate_recommendations(recs, recs_path)
    _require_pairs(test, "test")
    if test.empty:
        raise ValueError("the test set is empty")
    if seen is not None:
        _require_pairs(seen, "seen")
    codes = _Codes.of(recs, test, seen, candidates)

    users = pd.unique(codes.test_users)  # test users (user codes) in first-seen order
    position = np.full(codes.n_users, -1, dtype=np.int64)  # user code -> row of the result, or -1
    position[users] = np.arange(users.size)
    relevant = sorted_unique(pair_keys(position[codes.test_users], codes.test_items, codes.n_items))
    n_relevant = np.bincount(relevant // codes.n_items, minlength=users.size)

    groups = group_by_user(codes.rec_users, recs[RANK].to_numpy())
    rec_users, rec_items = codes.rec_users, codes.rec_items
    if groups.order is not None:
        rec_users, rec_items = rec_users[groups.order], rec_items[groups.order]
    group_rows = position[groups.users]
    evaluated = group_rows >= 0
    of_test_user = np.repeat(evaluated, groups.lengths)
    dropped = np.zeros(rec_users.size, dtype=bool)
    n_candidate_violations = n_seen_dropped = 0
    if codes.candidate_items is not None:
        allowed = np.zeros(codes.n_items, dtype=bool)
        allowed[codes.candidate_items] = True
        outside = ~allowed[rec_items] & of_test_user
        n_candidate_violations = int(np.count_nonzero(outside))
        dropped |= outside
    if codes.seen_users is not None:
        is_seen = isin_pairs(rec_users, rec_items, codes.seen_users, codes.seen_items, codes.n_users, codes.n_items)
        is_seen &= of_test_user
        n_seen_dropped = int(np.count_nonzero(is_seen))
        if n_seen_dropped and on_seen == "reject":
            raise _seen_error(recs, is_seen, groups.order, n_seen_dropped, recs_path)
        dropped |= is_seen

    top = np.full((users.size, ks[-1]), -1, dtype=np.int64)
    top[group_rows[evaluated]] = top_k_items(groups.subset(evaluated), rec_items, ~dropped, ks[-1])
    hits = isin_sorted(np.arange(users.size, dtype=np.int64)[:, None] * codes.n_items + top, relevant) & (top >= 0)
    per_user = compute_metrics(hits, n_relevant, ks)
    means = {name: float(values.mean()) for name, values in per_user.items()}
    means.update({f"coverage@{k}": coverage_at_k(top, n_catalogue, k) for k in ks})
    return EvaluationResult(
        means=means,
        per_user=pd.DataFrame({USER: codes.user_ids[users].to_numpy(), **per_user}),
        n_users=int(users.size),
        n_users_with_recs=int(np.count_nonzero(evaluated)),
        n_seen_dropped=n_seen_dropped,
        n_candidate_violations=n_candidate_violations,
    )


@dataclass
class _Codes:
    """Every id column as codes in one user space and one item space."""

    user_ids: pd.Index
    n_items: int
    rec_users: np.ndarray
    rec_items: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    seen_users: np.ndarray | None
    seen_items: np.ndarray | None
    candidate_items: np.ndarray | None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @classmethod
    def of(
        cls, recs: pd.DataFrame, test: pd.DataFrame, seen: pd.DataFrame | None, candidates: np.ndarray | None
    ) -> _Codes:
        frames = [recs, test] if seen is None else [recs, test, seen]
        with ThreadPoolExecutor(max_workers=2) as pool:  # Arrow hashing releases the GIL
            encoded = list(pool.map(encode_ids, [frame[column] for frame in frames for column in (USER, ITEM)]))
        (rec_users, rec_user_ids), (rec_items, rec_item_ids) = encoded[:2]
        users, items = _Space(rec_user_ids), _Space(rec_item_ids)
        test_users, test_items = users.add(*encoded[2]), items.add(*encoded[3])
        seen_users = seen_items = candidate_items = None
        if seen is not None:
            seen_users, seen_items = users.add(*encoded[4]), items.add(*encoded[5])
        if candidates is not None:
            candidate_ids = pd.Index(np.asarray(candidates).astype(str)).unique()
            candidate_items = items.add(np.arange(len(candidate_ids)), candidate_ids)
        return cls(
            user_ids=users.index,
            n_items=len(items.index),
            rec_users=rec_users,
            rec_items=rec_items,
            test_users=test_users,
            test_items=test_items,
            seen_users=seen_users,
            seen_items=seen_items,
            candidate_items=candidate_items,
        )


class _Space:
    """A code space that starts as one column's codes and grows as other columns join it."""

    def __init__(self, ids: pd.Index):
        self.index = ids

    def add(self, codes: np.ndarray, ids: pd.Index) -> np.ndarray:
        """Another column's codes (into its own `ids`) as codes in this space."""
        position = self.index.get_indexer(ids)
        new = position < 0
        if new.any():
            position[new] = len(self.index) + np.arange(np.count_nonzero(new))
            self.index = self.index.append(ids[new])
        return position.astype(np.int64)[codes]


def _require_pairs(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in (USER, ITEM) if c not in frame.columns]
    if missing:
        raise DataError(f"the {name} interactions lack column(s) {', '.join(missing)}", field=missing[0])
    for column in (USER, ITEM):
        if frame[column].isna().any():
            raise DataError(f"the {name} interactions have an empty id", field=column)


def _seen_error(
    recs: pd.DataFrame, is_seen: np.ndarray, order: np.ndarray | None, n_seen: int, path: str | Path | None
) -> DataError:
    offending = np.flatnonzero(is_seen)
    row = int((offending if order is None else order[offending]).min())
    user, item = recs[USER].iloc[row], recs[ITEM].iloc[row]
    return DataError(
        f"user '{user}' is recommended item '{item}', which they already have in train/valid "
        f"(data row {row + 1}; {n_seen:,} such rows in all); recommendations must exclude seen items, "
        "or evaluate with on_seen='count' to drop and count them",
        path,
        field=ITEM,
    )
