"""Histories given at request time (a file, or a list of item ids), coded against a model's item map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.idmap import IdMap
from pairrank.data.importers import read_generic
from pairrank.data.interactions import ColumnMap
from pairrank.data.schema import ITEM, TIMESTAMP, USER
from pairrank.errors import DataError

ANONYMOUS = "history"  # user id of a history given without one (.txt file, --items)


def read_histories(path: Path, columns: ColumnMap = ColumnMap()) -> pd.DataFrame:
    """Histories to recommend for: user_id, item_id rows, each user's in order (oldest first).

    A CSV or Parquet file has a user, an item and optionally a time column
    (which orders each history; file order otherwise), found by the same
    names and `columns` mapping as `split` reads. A .txt file holds one item
    id per line: a single history, of user "history".
    """
    path = Path(path)
    if path.suffix == ".txt":
        if not path.exists():
            raise DataError("file not found", path)
        return anonymous_history(path.read_text().splitlines(), path)
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    frame, _ = read_generic(path, fmt, columns=columns)
    users = pd.factorize(frame[USER])[0]
    times = frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame else np.zeros(len(frame), dtype=np.int64)
    return frame.iloc[np.lexsort((times, users))][[USER, ITEM]].reset_index(drop=True)


def anonymous_history(item_ids: list[str], source: str | Path) -> pd.DataFrame:
    """One history (user "history") from item ids, oldest first; blanks are dropped."""
    ids = [i.strip() for i in item_ids if i.strip()]
    if not ids:
        raise DataError("no item ids given", source)
    return pd.DataFrame({USER: ANONYMOUS, ITEM: ids})


def code_histories(
    items: IdMap, frame: pd.DataFrame, source: str | Path
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """User ids, their histories as indices of `items`, and the item ids `items` does not know (skipped).

    A history none of whose items is known raises a `DataError` naming the user.
    """
    index = items.index(frame[ITEM].astype(str).to_numpy(), missing="ignore")
    known = frame.assign(index=index)[index >= 0]
    user_ids = pd.unique(frame[USER].astype(str))
    empty = np.setdiff1d(user_ids, known[USER].astype(str).unique())
    if len(empty):
        raise DataError(f"user {empty[0]!r}: none of the history's items is in the model's catalogue", source)
    groups = known.groupby(known[USER].astype(str), sort=False)["index"]
    histories = [groups.get_group(user).to_numpy(dtype=np.int64) for user in user_ids]
    unknown = pd.unique(frame[ITEM][index < 0].astype(str))
    return user_ids.astype(object), histories, unknown
