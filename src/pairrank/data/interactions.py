"""Turn a raw all-string table into a validated interaction frame."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pairrank.data.schema import EVENT, ID_DTYPE, ITEM, RATING, TIMESTAMP, USER
from pairrank.data.tables import as_string
from pairrank.errors import DataError

NUMBER_PATTERN = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"

ALIASES: dict[str, tuple[str, ...]] = {
    USER: (USER, "userId", "userid", "user", "uid", "UserID", "reviewerID", "visitorid", "customer_id"),
    ITEM: (
        ITEM,
        "itemId",
        "itemid",
        "item",
        "iid",
        "movieId",
        "MovieID",
        "asin",
        "book_id",
        "artistID",
        "track_id",
        "product_id",
    ),
    TIMESTAMP: (TIMESTAMP, "ts", "time", "Timestamp", "unixReviewTime", "unix_time"),
    RATING: (RATING, "score", "stars", "overall", "weight", "Rating", "playcount"),
    EVENT: (EVENT, "event_type", "action", "behavior"),
}


@dataclass(frozen=True)
class ColumnMap:
    """Which source column holds each canonical field (None: absent or auto-detected)."""

    user_id: str | None = None
    item_id: str | None = None
    timestamp: str | None = None
    rating: str | None = None
    event: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> ColumnMap:
        """Parse `"user_id=userId,item_id=movieId"`; unknown canonical names raise."""
        if not spec:
            return cls()
        known = {f.name for f in fields(cls)}
        mapping: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in known or not value:
                raise DataError(
                    f"bad column mapping {part!r}: use NAME=SOURCE with NAME in {sorted(known)}", field="--columns"
                )
            mapping[key] = value
        return cls(**mapping)

    def resolve(self, available: list[str], path: Path) -> dict[str, str]:
        """Canonical name -> source column, checking that required ones exist."""
        resolved: dict[str, str] = {}
        for f in fields(self):
            chosen = getattr(self, f.name)
            if chosen is not None:
                if chosen not in available:
                    raise DataError(f"mapped column {chosen!r} not found; columns are {available}", path, 1, f.name)
                resolved[f.name] = chosen
                continue
            match = next((a for a in ALIASES[f.name] if a in available), None)
            if match is None:
                lower = {a.lower(): a for a in available}
                match = next((lower[a.lower()] for a in ALIASES[f.name] if a.lower() in lower), None)
            if match is not None:
                resolved[f.name] = match
            elif f.name in (USER, ITEM):
                raise DataError(
                    f"missing column: none of {list(ALIASES[f.name][:4])} in {available}; "
                    f"map it with --columns {f.name}=COLUMN",
                    path,
                    1,
                    f.name,
                )
        return resolved


def _first_bad(mask: pa.ChunkedArray | pa.Array) -> int | None:
    positions = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
    return int(positions[0]) if positions.size else None


def interactions_from_table(
    table: pa.Table,
    columns: ColumnMap,
    path: Path,
    *,
    on_bad_rows: str = "error",
    header_lines: int = 1,
) -> tuple[pd.DataFrame, int]:
    """Validate and convert; returns the frame and the number of rows skipped.

    Ids must be non-blank; timestamps numbers of seconds or ISO-8601 dates
    and date-times (UTC unless they carry a zone); ratings numbers or blank.
    A bad value raises a `DataError` naming its line (row + `header_lines`)
    and field, unless `on_bad_rows="skip"`.
    """
    resolved = columns.resolve(table.column_names, path)
    strings = {name: as_string(table.column(src)) for name, src in resolved.items()}
    bad_masks: list[tuple[str, pa.ChunkedArray, str]] = []
    for name in (USER, ITEM):
        strings[name] = pc.utf8_trim_whitespace(strings[name])
        bad_masks.append((name, pc.equal(pc.utf8_length(strings[name]), 0), "blank id"))
    if TIMESTAMP in strings:
        seconds, bad = timestamp_seconds(strings[TIMESTAMP])
        bad_masks.append(
            (TIMESTAMP, pa.chunked_array([bad]), "timestamp is not a number of seconds or an ISO-8601 date")
        )
    if RATING in strings:
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(strings[RATING])), 0)
        numeric = pc.match_substring_regex(strings[RATING], NUMBER_PATTERN)
        bad_masks.append((RATING, pc.invert(pc.or_(blank, numeric)), "rating is not a number"))

    keep = None
    for name, mask, message in bad_masks:
        if on_bad_rows == "skip":
            keep = pc.invert(mask) if keep is None else pc.and_(keep, pc.invert(mask))
            continue
        row = _first_bad(mask)
        if row is not None:
            value = strings[name][row].as_py()
            raise DataError(f"{message}: {value!r}", path, row + 1 + header_lines, resolved[name])
    skipped = 0
    if keep is not None:
        skipped = table.num_rows - pc.sum(keep).as_py() if table.num_rows else 0
        strings = {name: pc.filter(col, keep) for name, col in strings.items()}
        if TIMESTAMP in strings:
            seconds = seconds[np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)]

    frame = pd.DataFrame(
        {
            USER: pd.array(strings[USER], dtype=ID_DTYPE),
            ITEM: pd.array(strings[ITEM], dtype=ID_DTYPE),
        }
    )
    if TIMESTAMP in strings:
        frame[TIMESTAMP] = seconds
    if RATING in strings:
        text = pc.utf8_trim_whitespace(strings[RATING])
        text = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), text)
        frame[RATING] = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    if EVENT in strings:
        frame[EVENT] = pd.array(strings[EVENT], dtype=ID_DTYPE)
    return frame, skipped


def timestamp_seconds(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the epoch (int64) for each value, and where a value is neither a number of seconds
    nor an ISO-8601 date or date-time (`2024-05-01`, `2024-05-01T12:30:00+02:00`)."""
    text = pc.utf8_trim_whitespace(text)
    numeric = np.asarray(pc.match_substring_regex(text, NUMBER_PATTERN).to_numpy(zero_copy_only=False), dtype=bool)
    seconds = np.zeros(len(text), dtype=np.int64)
    bad = np.zeros(len(text), dtype=bool)
    if numeric.any():
        numbers = pc.cast(pc.filter(text, pa.array(numeric)), pa.float64()).to_numpy(zero_copy_only=False)
        seconds[numeric] = numbers.astype(np.int64)
    if not numeric.all():
        others = pd.Series(pc.filter(text, pa.array(~numeric)).to_pylist(), dtype=object)
        parsed = pd.to_datetime(others, format="ISO8601", utc=True, errors="coerce")
        readable = parsed.notna().to_numpy()
        whole = np.zeros(len(others), dtype=np.int64)
        whole[readable] = parsed[readable].to_numpy(dtype="datetime64[s]").astype(np.int64)
        seconds[~numeric] = whole
        bad[~numeric] = ~readable
    return seconds, bad
