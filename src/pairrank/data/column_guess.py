"""Say what a generic import did with each column: find a timestamp that the aliases missed, list the rest.

An import that drops a time column silently turns "leave the latest item
out" into "leave a random item out". So a column whose name or values look
like a time is used as the timestamp (with a warning saying how to map
another), several such columns are an error naming them, and every column
left unused is listed in a warning.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pairrank.data.interactions import ColumnMap
from pairrank.data.schema import TIMESTAMP
from pairrank.data.tables import as_string
from pairrank.errors import DataError, DataWarning

TIME_NAME = re.compile(r"^(?:when|date|datetime|time|day|created|updated)$|(?:_at|_time|_date|_ts|_datetime)$", re.I)
CAMEL_TIME_NAME = re.compile(r"[a-z](?:At|Time|Date)$")  # createdAt, eventTime
SAMPLE_ROWS = 200
TIME_SHARE = 0.9  # share of sampled values that must read as times for a column to look like one


def looks_like_time(name: str, column: pa.ChunkedArray) -> bool:
    """Values that read as ISO-8601 dates or date-times, or a time-like name over numbers (seconds)."""
    sample = pd.Series(as_string(column.slice(0, SAMPLE_ROWS)).to_pylist(), dtype=object).str.strip()
    sample = sample[sample != ""]
    if sample.empty:
        return False
    if sample.str.fullmatch(r"[-+]?\d+(\.\d*)?").mean() >= TIME_SHARE:  # ids, counts, ratings, or seconds
        return bool(TIME_NAME.search(name) or CAMEL_TIME_NAME.search(name))
    parsed = pd.to_datetime(sample, format="ISO8601", errors="coerce", utc=True)
    return bool(parsed.notna().mean() >= TIME_SHARE)


def with_timestamp(table: pa.Table, columns: ColumnMap, path: Path) -> ColumnMap:
    """`columns` with a time-like column as the timestamp when neither the mapping nor an alias gives one."""
    resolved = columns.resolve(table.column_names, path)
    if TIMESTAMP in resolved:
        return columns
    taken = set(resolved.values())
    candidates = [
        name for name in table.column_names if name not in taken and looks_like_time(name, table.column(name))
    ]
    if len(candidates) > 1:
        raise DataError(
            f"several columns look like a time: {candidates}; pick one with --columns timestamp=COLUMN",
            path,
            1,
            TIMESTAMP,
        )
    if not candidates:
        return columns
    warnings.warn(
        DataWarning(
            f"{path}: using column {candidates[0]!r} as the timestamp (its name or values look like a time); "
            "map another with --columns timestamp=COLUMN"
        ),
        stacklevel=2,
    )
    return replace(columns, timestamp=candidates[0])


def warn_unused(table: pa.Table, columns: ColumnMap, path: Path) -> None:
    """List the columns the import does not use (with how to map one)."""
    used = set(columns.resolve(table.column_names, path).values())
    unused = [name for name in table.column_names if name not in used]
    if unused:
        warnings.warn(
            DataWarning(f"{path}: columns not used: {unused}; map one with --columns NAME=COLUMN if it matters"),
            stacklevel=2,
        )
