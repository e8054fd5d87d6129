"""Persisted string <-> dense int id maps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from pairrank.errors import DataError


class IdMap:
    """A fixed, ordered vocabulary of string ids mapped to 0..n-1."""

    def __init__(self, ids: Sequence[str] | np.ndarray | pd.Series):
        values = pd.Series(np.asarray(ids, dtype=object)).astype(str)
        self._index = pd.Index(values.unique(), dtype=object)
        self._ids = self._index.to_numpy(dtype=object, copy=True)  # read on every lookup: made once

    @classmethod
    def from_values(cls, *columns: Sequence[str] | np.ndarray | pd.Series) -> IdMap:
        """Ids in first-seen order over the given columns."""
        return cls(np.concatenate([np.asarray(c, dtype=object) for c in columns]))

    def __len__(self) -> int:
        return len(self._index)

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def index(self, values: Iterable[str], *, missing: Literal["error", "ignore"] = "error") -> np.ndarray:
        """Dense indices of `values`; unknown ids raise KeyError (`"error"`) or map to -1 (`"ignore"`)."""
        idx = self._index.get_indexer(pd.Index(np.asarray(values, dtype=object)).astype(str))
        if missing == "error" and (idx < 0).any():
            unknown = np.asarray(values, dtype=object)[idx < 0][:3]
            raise KeyError(f"unknown ids: {', '.join(map(str, unknown))}")
        return idx.astype(np.int64)

    def position(self, value: str) -> int:
        """The dense index of one id, or -1 if unknown (a hash lookup: for one id at request time)."""
        try:
            return int(self._index.get_loc(str(value)))
        except KeyError:
            return -1

    def id_of(self, indices: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(indices)]

    def save(self, path: Path, extra: dict[str, Sequence[str]] | None = None) -> None:
        """Write the ids (column `id`), plus `extra` columns aligned with them (titles, say)."""
        pd.DataFrame({"id": self.ids.astype(str), **(extra or {})}).to_parquet(path, index=False)

    @classmethod
    def load(cls, path: Path) -> IdMap:
        """Read a map written by `save`; a missing or malformed file is a `DataError` naming it."""
        if not Path(path).exists():
            raise DataError("missing id map file", path)
        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"not a readable Parquet file: {error}", path) from None
        if "id" not in frame.columns:
            raise DataError("no 'id' column", path, field="id")
        return cls(frame["id"].astype(str).to_numpy(dtype=object))


def read_extra(path: Path, column: str) -> list[str] | None:
    """An `extra` column written beside the ids by `IdMap.save`, or None when the file has none."""
    frame = pd.read_parquet(path)
    return frame[column].astype(str).tolist() if column in frame.columns else None
