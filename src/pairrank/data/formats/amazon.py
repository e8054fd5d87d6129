"""Amazon reviews importer: the 2014/2018 and the 2023 JSON-lines releases.

`path` is a reviews file or a directory holding one reviews file and at most
one metadata file (`meta_*`); files end in .json or .jsonl, optionally .gz.
The release is told from the first record: `reviewerID` (2014/2018:
asin, overall, unixReviewTime in seconds) or `user_id` (2023: parent_asin,
falling back to asin, as the item id; rating; timestamp in milliseconds,
converted to seconds). Items: item_id, title, categories (', '-joined),
brand (2018) or main_category (2023), and description (' '-joined; 2023
appends the features), cut to 1000 characters.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pjson

from pairrank.data.formats._common import reject_options, text_frame
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.schema import ITEM, TIMESTAMP, RawDataset
from pairrank.errors import DataError

STRING = pa.string()
STRINGS = pa.list_(pa.string())
REVIEW_FIELDS: dict[str, dict[str, pa.DataType]] = {
    "2018": {"reviewerID": STRING, "asin": STRING, "overall": pa.float64(), "unixReviewTime": pa.int64()},
    "2023": {"user_id": STRING, "parent_asin": STRING, "asin": STRING, "rating": pa.float64(), "timestamp": pa.int64()},
}
REVIEW_COLUMNS = {
    "2018": ColumnMap(user_id="reviewerID", item_id="asin", rating="overall", timestamp="unixReviewTime"),
    "2023": ColumnMap(user_id="user_id", item_id="parent_asin", rating="rating", timestamp="timestamp"),
}
META_FIELDS: dict[str, dict[str, pa.DataType]] = {
    "2018": {"asin": STRING, "title": STRING, "category": STRINGS, "brand": STRING, "description": STRINGS},
    "2023": {
        "parent_asin": STRING, "title": STRING, "main_category": STRING,
        "categories": STRINGS, "description": STRINGS, "features": STRINGS,
    },
}  # fmt: skip
JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
DESCRIPTION_CHARS = 1000
BLOCK_SIZE = 16 << 20  # JSON reader block: must hold the longest line


def load(path: Path, *, on_bad_rows: str = "error", meta: Path | None = None, **kwargs: object) -> RawDataset:
    """Read Amazon reviews (and metadata, from the directory or `meta`)."""
    reject_options(kwargs, "amazon")
    reviews, found_meta = locate(Path(path))
    meta = Path(meta) if meta is not None else found_meta
    release = detect_release(reviews)
    table, skipped, lines = read_records(reviews, REVIEW_FIELDS[release], on_bad_rows)
    if release == "2023":
        table = _with_parent_fallback(table)
    try:
        frame, bad = interactions_from_table(
            table, REVIEW_COLUMNS[release], reviews, on_bad_rows=on_bad_rows, header_lines=0
        )
    except DataError as e:
        if e.line is not None:
            e.line = record_line(reviews, e.line - 1, lines)
        raise
    if release == "2023":
        frame[TIMESTAMP] = frame[TIMESTAMP] // 1000
    items, meta_skipped = (None, 0) if meta is None else read_items(meta, on_bad_rows)
    return RawDataset(frame, items=items, skipped_rows=skipped + bad + meta_skipped, source=str(path))


def locate(path: Path) -> tuple[Path, Path | None]:
    """(reviews file, metadata file or None) for a file or a directory."""
    if not path.exists():
        raise DataError("Amazon reviews file or directory not found", path)
    if path.is_file():
        return path, None
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(JSON_SUFFIXES))
    metas = [p for p in files if p.name.lower().startswith("meta")]
    reviews = [p for p in files if p not in metas]
    if len(reviews) != 1:
        names = ", ".join(p.name for p in reviews)
        found = f"{len(reviews)} reviews files ({names})" if reviews else "no reviews file"
        raise DataError(f"expected one reviews file (*.json[l][.gz]) in the directory, found {found}", path)
    if len(metas) > 1:
        raise DataError(f"expected at most one meta_* file, found {', '.join(p.name for p in metas)}", path)
    return reviews[0], metas[0] if metas else None


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of the non-blank lines."""
    try:
        with _open(path) as f:
            for number, raw in enumerate(f, start=1):
                if raw.strip():
                    yield number, raw
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read: {e}", path) from None


def detect_release(path: Path) -> str:
    """'2018' (reviewerID, also 2014) or '2023' (user_id) from the first record."""
    for number, raw in _lines(path):
        try:
            record = json.loads(raw)
        except ValueError as e:
            raise DataError(f"invalid JSON: {e}", path, number) from None
        if isinstance(record, dict) and "reviewerID" in record:
            return "2018"
        if isinstance(record, dict) and "user_id" in record:
            return "2023"
        keys = list(record)[:8] if isinstance(record, dict) else type(record).__name__
        raise DataError(f"not an Amazon review: no 'reviewerID' (2018) or 'user_id' (2023) key in {keys}", path, number)
    raise DataError("file is empty", path)


def read_records(
    path: Path, fields: dict[str, pa.DataType], on_bad_rows: str
) -> tuple[pa.Table, int, np.ndarray | None]:
    """The named fields of every record: (table, rows skipped, line of each row or None).

    Arrow's JSON reader is tried first; on a type clash or bad JSON the file is
    read line by line, which names the bad line (or skips it).
    """
    schema = pa.schema(list(fields.items()))
    try:
        table = pjson.read_json(
            str(path),
            read_options=pjson.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
        if table.num_rows:
            return table, 0, None
    except (pa.ArrowInvalid, OSError, EOFError):
        pass
    return _read_lines(path, fields, on_bad_rows)


def _read_lines(path: Path, fields: dict[str, pa.DataType], on_bad_rows: str) -> tuple[pa.Table, int, np.ndarray]:
    values: dict[str, list] = {name: [] for name in fields}
    lines: list[int] = []
    skipped = 0
    for number, raw in _lines(path):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("line is not a JSON object")
        except ValueError as e:
            if on_bad_rows == "skip":
                skipped += 1
                continue
            raise DataError(f"invalid JSON: {e}", path, number) from None
        for name, kind in fields.items():
            values[name].append(_as_list(record.get(name)) if kind == STRINGS else _as_text(record.get(name)))
        lines.append(number)
    if not lines:
        raise DataError("no JSON records", path)
    table = pa.table({name: pa.array(v, STRINGS if fields[name] == STRINGS else STRING) for name, v in values.items()})
    return table, skipped, np.asarray(lines)


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _as_list(value: object) -> list[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return [v if isinstance(v, str) else json.dumps(v) for v in values if v is not None]


def record_line(path: Path, row: int, lines: np.ndarray | None) -> int:
    """Physical line of the `row`-th record (0-based), blank lines counted."""
    if lines is not None:
        return int(lines[row])
    for index, (number, _) in enumerate(_lines(path)):
        if index == row:
            return number
    return row + 1


def _with_parent_fallback(table: pa.Table) -> pa.Table:
    """2023: parent_asin, or asin where parent_asin is missing or blank."""
    parent = table.column("parent_asin")
    usable = pc.and_(pc.is_valid(parent), pc.greater(pc.utf8_length(pc.fill_null(parent, "")), 0))
    merged = pc.if_else(usable, parent, table.column("asin"))
    return table.set_column(table.schema.get_field_index("parent_asin"), "parent_asin", merged)


# --- metadata -----------------------------------------------------------------


def read_items(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame, int]:
    """The item catalogue from a meta_* file (either release)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("metadata file not found", path)
    release = "2023" if _first_keys(path) & {"parent_asin", "main_category", "categories"} else "2018"
    fields = META_FIELDS[release]
    table, skipped, _ = read_records(path, fields, on_bad_rows)
    id_column = "parent_asin" if release == "2023" else "asin"
    description = _joined(table.column("description"), " ")
    if release == "2023":
        features = _joined(table.column("features"), " ")
        description = pc.utf8_trim_whitespace(pc.binary_join_element_wise(description, features, " "))
        extra = {"categories": "categories", "main_category": "main_category"}
    else:
        extra = {"category": "categories", "brand": "brand"}
    text = table.select([id_column, "title", *extra])
    for name in extra:
        if fields[name] == STRINGS:
            text = text.set_column(text.schema.get_field_index(name), name, _joined(text.column(name), ", "))
    text = text.append_column("description", pc.utf8_slice_codeunits(description, 0, DESCRIPTION_CHARS))
    items = text_frame(text, {id_column: ITEM, "title": "title", **extra, "description": "description"})
    for column in items.columns:
        items[column] = items[column].str.strip().astype(str)
    items = items[items[ITEM] != ""].drop_duplicates(ITEM, keep="first").reset_index(drop=True)
    return items, skipped


def _first_keys(path: Path) -> set[str]:
    for number, raw in _lines(path):
        try:
            record = json.loads(raw)
        except ValueError as e:
            raise DataError(f"invalid JSON: {e}", path, number) from None
        return set(record) if isinstance(record, dict) else set()
    raise DataError("file is empty", path)


def _joined(column: pa.ChunkedArray, sep: str) -> pa.ChunkedArray:
    """A list<string> column as strings joined by `sep` ('' for missing)."""
    joined = pc.binary_join(column, sep)
    clash = pc.and_(pc.is_null(joined), pc.is_valid(column))  # a null inside a list
    if pc.any(clash).as_py():
        values = [sep.join(v for v in row if v) if row else "" for row in column.to_pylist()]
        return pa.chunked_array([pa.array(values, STRING)])
    return pc.fill_null(joined, "")
