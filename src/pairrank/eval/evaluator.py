"""Score a recommendations frame against a test split (PROTOCOL.md, "Ranking and metrics").

Ids become integer codes once (categorical codes or Arrow dictionary
encoding), pairs become int64 keys user * n_items + item, and each user's
top K becomes a row of a dense matrix, so no step loops over users.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pairrank.data.schema import ITEM, USER
from pairrank.errors import DataError
from pairrank.eval.metrics import compute_metrics, coverage_at_k
from pairrank.eval.ranking import isin_sorted, pair_keys, rank_order, top_k_items
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
    (user, item) rows keep the best rank. Rows whose item the user has in
    `seen` (train + valid) raise a `DataError` naming `recs_path` and the
    first such row (`on_seen="reject"`), or are dropped and counted
    (`on_seen="count"`). With `candidates` (the cold_items protocol), rows
    outside them are dropped and counted as violations; a row can count as
    both. After dropping, each user's remaining rows close up in rank order.
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

    test_users, users = _encode(test[USER])
    test_items, test_item_ids = _encode(test[ITEM])
    with ThreadPoolExecutor(max_workers=2) as pool:
        (rec_users, rec_user_ids), (rec_items, rec_item_ids) = pool.map(_encode, (recs[USER], recs[ITEM]))
    item_ids = [test_item_ids, rec_item_ids]
    if seen is not None:
        _require_pairs(seen, "seen")
        seen_users, seen_user_ids = _encode(seen[USER])
        seen_items, seen_item_ids = _encode(seen[ITEM])
        item_ids.append(seen_item_ids)
    if candidates is not None:
        candidate_ids = pd.Index(np.asarray(candidates).astype(str)).unique()
        item_ids.append(candidate_ids)
    items = pd.Index(np.concatenate([ids.to_numpy(dtype=object) for ids in item_ids])).unique()
    n_users, n_items = len(users), len(items)

    relevant = np.unique(pair_keys(test_users, _recode(test_items, test_item_ids, items), n_items))
    n_relevant = np.bincount(relevant // n_items, minlength=n_users)

    rec_users = _recode(rec_users, rec_user_ids, users)
    rec_items = _recode(rec_items, rec_item_ids, items)
    ranks = recs[RANK].to_numpy()
    source_rows = None
    if (rec_users < 0).any():
        source_rows = np.flatnonzero(rec_users >= 0)
        rec_users, rec_items, ranks = rec_users[source_rows], rec_items[source_rows], ranks[source_rows]
    order = rank_order(rec_users, ranks)
    if order is not None:
        rec_users, rec_items = rec_users[order], rec_items[order]
        source_rows = order if source_rows is None else source_rows[order]
    n_users_with_recs = int(np.count_nonzero(np.bincount(rec_users, minlength=n_users)))

    keep = np.ones(rec_users.size, dtype=bool)
    n_candidate_violations = 0
    if candidates is not None:
        allowed = np.zeros(n_items, dtype=bool)
        allowed[items.get_indexer(candidate_ids)] = True
        keep &= allowed[rec_items]
        n_candidate_violations = int(rec_users.size - np.count_nonzero(keep))
    n_seen_dropped = 0
    if seen is not None:
        seen_users = _recode(seen_users, seen_user_ids, users)
        seen_items = _recode(seen_items, seen_item_ids, items)
        known = seen_users >= 0
        seen_keys = np.unique(pair_keys(seen_users[known], seen_items[known], n_items))
        is_seen = isin_sorted(pair_keys(rec_users, rec_items, n_items), seen_keys)
        n_seen_dropped = int(np.count_nonzero(is_seen))
        if n_seen_dropped and on_seen == "reject":
            raise _seen_error(recs, is_seen, source_rows, n_seen_dropped, recs_path)
        keep &= ~is_seen

    top = top_k_items(rec_users, rec_items, keep, n_users, ks[-1])
    user_index = np.arange(n_users, dtype=np.int64)[:, None]
    hits = isin_sorted(user_index * n_items + top, relevant) & (top >= 0)
    per_user = compute_metrics(hits, n_relevant, ks)
    means = {name: float(values.mean()) for name, values in per_user.items()}
    means.update({f"coverage@{k}": coverage_at_k(top, n_catalogue, k) for k in ks})
    frame = pd.DataFrame({USER: users.to_numpy(), **per_user})
    return EvaluationResult(
        means=means,
        per_user=frame,
        n_users=n_users,
        n_users_with_recs=n_users_with_recs,
        n_seen_dropped=n_seen_dropped,
        n_candidate_violations=n_candidate_violations,
    )


def _require_pairs(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in (USER, ITEM) if c not in frame.columns]
    if missing:
        raise DataError(f"the {name} interactions lack column(s) {', '.join(missing)}", field=missing[0])
    for column in (USER, ITEM):
        if frame[column].isna().any():
            raise DataError(f"the {name} interactions have an empty id", field=column)


def _encode(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of an id column and its distinct ids as strings (code c is ids[c])."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy(), pd.Index(ids.cat.categories.astype(str))
    if not pd.api.types.is_string_dtype(ids.dtype) or ids.dtype == object:
        ids = ids.astype(str)
    arrow = pa.array(ids)
    encoded = pc.dictionary_encode(arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow]))
    encoded = encoded.unify_dictionaries()
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), pd.Index([], dtype=str)
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks])
    return codes, pd.Index(encoded.chunk(0).dictionary.to_pandas())


def _recode(codes: np.ndarray, ids: pd.Index, vocabulary: pd.Index) -> np.ndarray:
    """Codes into `ids` as codes into `vocabulary` (-1 where an id is not in it)."""
    return vocabulary.get_indexer(ids).astype(np.int64)[codes]


def _seen_error(
    recs: pd.DataFrame, is_seen: np.ndarray, source_rows: np.ndarray | None, n_seen: int, path: str | Path | None
) -> DataError:
    offending = np.flatnonzero(is_seen)
    row = int((offending if source_rows is None else source_rows[offending]).min())
    user, item = recs[USER].iloc[row], recs[ITEM].iloc[row]
    return DataError(
        f"user '{user}' is recommended item '{item}', which they already have in train/valid "
        f"(data row {row + 1}; {n_seen:,} such rows in all); recommendations must exclude seen items, "
        "or evaluate with on_seen='count' to drop and count them",
        path,
        field=ITEM,
    )
