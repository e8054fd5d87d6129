"""Read and validate recommendation files: columns user_id, item_id, rank (optional score)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from pairrank.data.schema import ITEM, USER
from pairrank.errors import DataError
from pairrank.eval.codes import dictionary_codes

RANK = "rank"
SCORE = "score"
REQUIRED = (USER, ITEM, RANK)
_ID_TYPE = pa.dictionary(pa.int32(), pa.string())


def read_recommendations(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet recommendations file.

    Ids come back as categoricals of strings (cheap for 100M rows, and
    `evaluate` uses their codes directly); rank as int64. Raises `DataError`
    for a missing or unreadable file, a missing column, an empty id, or a
    rank that is not an integer >= 1.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        table = _read_parquet(path)
    elif ".csv" in suffixes:
        table = _read_csv(path)
    else:
        raise DataError("unknown recommendations format: expected .csv (optionally compressed) or .parquet", path)
    _require_columns(table.column_names, path)
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if name in (USER, ITEM):
            if column.null_count:
                row = int(np.argmax(pc.is_null(column).to_numpy(zero_copy_only=False)))
                raise DataError(f"empty id in data row {row + 1}", path, field=name)
            codes, ids = dictionary_codes(_as_dictionary(column))
            columns[name] = pd.Categorical.from_codes(codes, categories=ids, validate=False)
        else:
            columns[name] = column.to_pandas()
    return validate_recommendations(pd.DataFrame(columns, copy=False), path)


def validate_recommendations(recs: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Check columns, ids and ranks; return `recs` with an int64 rank column."""
    _require_columns(recs.columns, path)
    for column in (USER, ITEM):
        missing = recs[column].isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise DataError(f"empty id in data row {row + 1}", path, field=column)
    rank = _integer_ranks(recs[RANK], path)
    if recs[RANK].dtype != np.int64:
        recs = recs.assign(**{RANK: rank})
    return recs


def _require_columns(columns: pd.Index | list[str], path: str | Path | None) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; a recommendations file needs {', '.join(REQUIRED)}",
            path,
            field=missing[0],
        )


def _integer_ranks(rank: pd.Series, path: str | Path | None) -> np.ndarray:
    """Ranks as int64; a DataError names the first one that is not an integer >= 1."""
    if pd.api.types.is_integer_dtype(rank.dtype) and not rank.hasnans:
        values = rank.to_numpy(dtype=np.int64)
    else:
        numeric = rank if pd.api.types.is_float_dtype(rank.dtype) else pd.to_numeric(rank, errors="coerce")
        as_float = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(as_float) | (as_float != np.floor(as_float))
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"rank must be an integer, got {rank.iloc[row]!r} in data row {row + 1}", path, field=RANK)
        values = as_float.astype(np.int64)
    too_small = values < 1
    if too_small.any():
        row = int(np.argmax(too_small))
        raise DataError(f"rank must be >= 1, got {values[row]} in data row {row + 1}", path, field=RANK)
    return values


def _read_parquet(path: Path) -> pa.Table:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"not a readable Parquet file: {e}", path) from None
    _require_columns(schema.names, path)
    columns = [c for c in (*REQUIRED, SCORE) if c in schema.names]
    strings = [c for c in (USER, ITEM) if _is_text(schema.field(c).type)]
    try:
        return pq.read_table(path, columns=columns, read_dictionary=strings)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"not a readable Parquet file: {e}", path) from None


def _read_csv(path: Path) -> pa.Table:
    try:
        return pcsv.read_csv(
            path,
            convert_options=pcsv.ConvertOptions(  # only an empty field is missing: "NA" can be an id
                column_types={USER: _ID_TYPE, ITEM: _ID_TYPE}, null_values=[""], strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot parse CSV: {e}", path) from None


def _as_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An id column as dictionary-encoded strings (ints and other types are cast)."""
    if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
        return column
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.dictionary_encode(pc.cast(column, pa.string()))


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)
