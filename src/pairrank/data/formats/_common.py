"""Small helpers shared by the named-format importers."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pairrank.data.interactions import NUMBER_PATTERN, ColumnMap
from pairrank.data.tables import as_string, read_delimited
from pairrank.errors import DataError

QUOTE = b'"'
# Stand-ins that never occur in text and mean nothing to the CSV parser.
QUOTE_STANDIN = b"\x1e"
FIELD_STANDIN = b"\x1f"


def reject_options(options: Mapping[str, object], fmt: str) -> None:
    """Raise for options this format does not take (None and an empty ColumnMap are ignored)."""
    unused = sorted(k for k, v in options.items() if v is not None and v != ColumnMap())
    if unused:
        raise DataError(f"the {fmt} format does not take option(s) {', '.join(unused)}", field=unused[0])


def data_directory(path: Path, fmt: str) -> Path:
    """`path` as an existing directory, or a DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{fmt} directory not found", path)
    if not path.is_dir():
        raise DataError(f"expected the {fmt} directory, got a file", path)
    return path


def require(directory: Path, name: str, fmt: str) -> Path:
    """The file `name` in `directory`, or a DataError saying it is missing."""
    path = directory / name
    if not path.is_file():
        raise DataError(f"missing {name}: not a {fmt} directory", path)
    return path


def read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when the name ends in .gz."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"not a readable gzip file: {e}", path) from None
    if not raw.strip():
        raise DataError("file is empty", path)
    return raw


def guess_encoding(raw: bytes) -> str:
    """'utf-8' when the bytes decode as UTF-8, else 'latin-1' (which never fails)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def read_plain(
    path: Path,
    delimiter: str,
    header: list[str] | None,
    *,
    on_bad_rows: str = "error",
    encoding: str | None = None,
    separator: bytes | None = None,
) -> tuple[pa.Table, int]:
    """Read a delimited file that uses no CSV quoting: a '"' is text, not a quote.

    `separator` is a multi-byte field separator (MovieLens '::'), replaced by
    one byte before parsing. The encoding is guessed (UTF-8, else Latin-1)
    when not given. Returns the all-string table and the rows skipped.
    """
    raw = read_bytes(path)
    if separator is not None:
        raw = raw.replace(separator, FIELD_STANDIN)
        delimiter = FIELD_STANDIN.decode()
    quoted = QUOTE in raw
    if quoted:
        raw = raw.replace(QUOTE, QUOTE_STANDIN)
    try:
        table, skipped = read_delimited(
            path, delimiter, encoding=encoding or guess_encoding(raw), header=header, on_bad_rows=on_bad_rows, data=raw
        )
    except DataError as e:
        if separator is not None:
            shown = separator.decode()
            e.message = e.message.replace(repr(delimiter), repr(shown)).replace(delimiter, shown)
        e.message = e.message.replace(QUOTE_STANDIN.decode(), QUOTE.decode())
        raise
    del raw
    if quoted:
        table = pa.table(
            [pc.replace_substring(col, QUOTE_STANDIN.decode(), QUOTE.decode()) for col in table.columns],
            names=table.column_names,
        )
    return table, skipped


def require_columns(table: pa.Table, names: list[str], path: Path) -> None:
    """DataError naming the first of `names` that the table lacks."""
    for name in names:
        if name not in table.column_names:
            raise DataError(f"missing column {name!r}; columns are {table.column_names}", path, 1, name)


def text_frame(table: pa.Table, columns: Mapping[str, str]) -> pd.DataFrame:
    """Source column -> output column, every value a plain string ('' for missing)."""
    return pd.DataFrame({dst: as_string(table.column(src)).to_pandas() for src, dst in columns.items()})


def numbers(table: pa.Table, column: str, path: Path, *, header_lines: int = 1) -> np.ndarray:
    """A column of numbers as float64; a non-number raises a DataError naming its line."""
    text = pc.utf8_trim_whitespace(as_string(table.column(column)))
    bad = np.flatnonzero(np.asarray(pc.invert(pc.match_substring_regex(text, NUMBER_PATTERN)), dtype=bool))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"not a number: {text[row].as_py()!r}", path, row + 1 + header_lines, column)
    return pc.cast(text, pa.float64()).to_numpy()


def joined_values(
    keys: pd.Series, values: pd.Series, weights: np.ndarray | None = None, *, limit: int | None = None
) -> pd.Series:
    """Per key, its distinct non-blank values joined with ', '.

    Without weights the values keep their first-seen order; with weights they
    are summed per (key, value) and ranked by total, ties in first-seen order.
    `limit` keeps the first values only. Indexed by key.
    """
    frame = pd.DataFrame({"key": keys.to_numpy(), "value": values.astype(str).str.strip().to_numpy()})
    frame["weight"] = 1.0 if weights is None else weights
    frame = frame[frame["value"] != ""]
    if weights is None:
        frame = frame.drop_duplicates(["key", "value"], keep="first")
    else:
        frame = frame.groupby(["key", "value"], sort=False, as_index=False)["weight"].sum()
        frame = frame.sort_values("weight", ascending=False, kind="stable")
    if limit is not None:
        frame = frame.groupby("key", sort=False).head(limit)
    return frame.groupby("key", sort=False)["value"].agg(", ".join)


def attach(items: pd.DataFrame, column: str, values: pd.Series, key: str = "item_id") -> pd.DataFrame:
    """Add `column` from a Series indexed by item id; '' where an item has none."""
    mapped = items[key].map(values) if len(values) else pd.Series("", index=items.index)
    items[column] = mapped.fillna("").astype(str)
    return items
