"""One entry point for every input format: `load_dataset(path, fmt)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pairrank.data.column_guess import warn_unused, with_timestamp
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.schema import ITEM, RawDataset
from pairrank.data.tables import as_string, read_delimited, read_jsonl, read_parquet
from pairrank.errors import DataError

GENERIC_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def read_generic(
    path: Path,
    fmt: str,
    *,
    columns: ColumnMap = ColumnMap(),
    on_bad_rows: str = "error",
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, int]:
    """Interactions from one CSV/TSV/JSONL/Parquet file with a column mapping.

    Columns not mapped are found by their usual names (`ALIASES`); a column
    that looks like a time becomes the timestamp when none is mapped, and the
    columns left unused are listed, both as a `DataWarning`.
    """
    path = Path(path)
    header_lines = 1
    if fmt in ("csv", "tsv"):
        table, skipped = read_delimited(
            path, delimiter or ("," if fmt == "csv" else "\t"), encoding=encoding, on_bad_rows=on_bad_rows
        )
    elif fmt == "jsonl":
        table, skipped = read_jsonl(path, encoding=encoding, on_bad_rows=on_bad_rows)
        header_lines = 0
    elif fmt == "parquet":
        table, skipped = read_parquet(path), 0
        header_lines = 0
    else:
        raise DataError(f"unknown generic format {fmt!r}; use one of {GENERIC_FORMATS}", path, field="--format")
    columns = with_timestamp(table, columns, path)
    warn_unused(table, columns, path)
    frame, bad = interactions_from_table(table, columns, path, on_bad_rows=on_bad_rows, header_lines=header_lines)
    return frame, skipped + bad


def read_catalogue(path: Path, *, id_column: str = ITEM, encoding: str = "utf-8") -> pd.DataFrame:
    """An item (or user) catalogue: an id column plus text columns, all strings."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = read_parquet(path)
    elif suffix in (".jsonl", ".json"):
        table, _ = read_jsonl(path, encoding=encoding)
    else:
        table, _ = read_delimited(path, "\t" if suffix == ".tsv" else ",", encoding=encoding)
    if id_column not in table.column_names:
        raise DataError(f"missing id column {id_column!r}; columns are {table.column_names}", path, 1, id_column)
    frame = pd.DataFrame({name: as_string(table.column(name)).to_pandas() for name in table.column_names})
    frame = frame.rename(columns={id_column: ITEM} if id_column != ITEM else {})
    return frame.drop_duplicates(ITEM, keep="first").reset_index(drop=True)


def _generic_loader(fmt: str) -> Callable[..., RawDataset]:
    def load(path: Path, *, items: Path | None = None, item_id_column: str = ITEM, **options) -> RawDataset:
        frame, skipped = read_generic(path, fmt, **options)
        catalogue = read_catalogue(items, id_column=item_id_column) if items is not None else None
        return RawDataset(frame, items=catalogue, skipped_rows=skipped, source=str(path))

    return load


def _named_loaders() -> dict[str, Callable[..., RawDataset]]:
    from pairrank.data.formats import amazon, goodbooks, lastfm, mind, movielens, sql

    return {
        "sql": sql.load,
        "movielens": movielens.load,
        "amazon": amazon.load,
        "goodbooks": goodbooks.load,
        "lastfm": lastfm.load,
        "mind": mind.load,
    }


FORMATS = (*GENERIC_FORMATS, "sql", "movielens", "amazon", "goodbooks", "lastfm", "mind")


def load_dataset(path: str | Path, fmt: str, **options) -> RawDataset:
    """Read any supported format; options are passed to that format's loader.

    Generic formats take `columns`, `delimiter`, `encoding`, `items`
    (catalogue file), `on_bad_rows`; `sql` takes `query`/`table` and a
    database URL as `path`; named formats take `on_bad_rows`.
    """
    if fmt in GENERIC_FORMATS:
        return _generic_loader(fmt)(Path(path), **options)
    loaders = _named_loaders()
    if fmt not in loaders:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", path, field="--format")
    raw = loaders[fmt](path if fmt == "sql" else Path(path), **options)
    raw.source = raw.source or str(path)
    return raw
