"""MIND (Microsoft News Dataset) importer.

The directory holds behaviors.tsv (no header: impression_id, user_id, time
as '11/11/2019 9:05:58 AM' (UTC), history as space-separated news ids,
impressions as 'N1-1 N2-0 ...') and, optionally, news.tsv (no header:
news_id, category, subcategory, title, abstract, url, title_entities,
abstract_entities).

Interactions are the positives: every clicked impression item, at the
impression's time in epoch seconds, plus every history item, once per user.
History carries no time, so its items get the user's first impression time
minus one second: they sort before all the user's clicks, and among
themselves (equal timestamps, stable order) they keep their order in the
file. `RawDataset.impressions` lists every shown item (impression_id,
user_id, item_id, timestamp, clicked): the shown-but-not-clicked ones are
true pair-wise negatives. Items: item_id, category, subcategory, title,
abstract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pairrank.data.formats._common import data_directory, read_plain, reject_options, require, text_frame
from pairrank.data.schema import ID_DTYPE, ITEM, TIMESTAMP, USER, RawDataset
from pairrank.data.tables import read_delimited
from pairrank.errors import DataError

FMT = "MIND"
BEHAVIOR_COLUMNS = ["impression_id", "user_id", "time", "history", "impressions"]
NEWS_COLUMNS = ["news_id", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities"]
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
LABELLED = r"^\S+-[01]$"
IMPRESSION = "impression_id"
CLICKED = "clicked"


def load(path: Path, *, on_bad_rows: str = "error", **kwargs: object) -> RawDataset:
    """Read a MIND directory (e.g. MINDsmall_train)."""
    reject_options(kwargs, "mind")
    directory = data_directory(path, FMT)
    behaviors = require(directory, "behaviors.tsv", FMT)
    table, skipped = read_delimited(behaviors, "\t", header=BEHAVIOR_COLUMNS, on_bad_rows=on_bad_rows)
    times = _times(table)
    shown = _tokens(table.column("impressions"))
    table, times, bad = _valid_rows(table, times, shown, behaviors, on_bad_rows)
    if bad:
        shown = _tokens(table.column("impressions"))
    impressions = _impressions(table, times, shown)
    interactions = pd.concat([_history(table, times), _clicks(impressions)], ignore_index=True)
    interactions = interactions.sort_values(TIMESTAMP, kind="stable", ignore_index=True)
    items, item_skips = _news(directory / "news.tsv", on_bad_rows)
    return RawDataset(
        interactions,
        items=items,
        impressions=impressions,
        skipped_rows=skipped + bad + item_skips,
        source=str(directory),
    )


def _times(table: pa.Table) -> np.ndarray:
    """Impression times as float epoch seconds (UTC); NaN where unparseable."""
    text = pd.Series(pc.utf8_trim_whitespace(table.column("time")).to_pandas())
    parsed = pd.to_datetime(text, format=TIME_FORMAT, errors="coerce", utc=True)
    return ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.nan)


def _tokens(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Whitespace-separated tokens of each row, with the row each came from."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lists = pc.utf8_split_whitespace(column)
    tokens = pc.list_flatten(lists)
    rows = pc.list_parent_indices(lists).to_numpy()
    keep = pc.greater(pc.utf8_length(tokens), 0)
    return pc.filter(tokens, keep), rows[np.asarray(keep, dtype=bool)]


def _valid_rows(
    table: pa.Table, times: np.ndarray, shown: tuple[pa.Array, np.ndarray], path: Path, on_bad_rows: str
) -> tuple[pa.Table, np.ndarray, int]:
    """Drop (skip) or report (error) rows with a blank user, bad time or unlabelled impression."""
    bad = np.zeros(table.num_rows, dtype=bool)
    reasons = np.full(table.num_rows, "", dtype=object)
    blank = np.asarray(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table.column("user_id"))), 0), dtype=bool)
    checks = [("user_id", blank, "blank user id"), ("time", np.isnan(times), "time is not 'M/D/YYYY h:mm:ss AM'")]
    tokens, rows = shown
    unlabelled = ~np.asarray(pc.match_substring_regex(tokens, LABELLED), dtype=bool)
    label_bad = np.zeros(table.num_rows, dtype=bool)
    label_bad[rows[unlabelled]] = True
    checks.append(("impressions", label_bad, "impression without a click label (-0/-1; MIND test files have none)"))
    for field, mask, message in reversed(checks):
        bad |= mask
        reasons[mask] = field + "\0" + message
    if not bad.any():
        return table, times, 0
    if on_bad_rows != "skip":
        row = int(np.flatnonzero(bad)[0])
        field, message = reasons[row].split("\0")
        value = table.column(field)[row].as_py()
        raise DataError(f"{message}: {value[:80]!r}", path, row + 1, field)
    return table.filter(pa.array(~bad)), times[~bad], int(bad.sum())


def _impressions(table: pa.Table, times: np.ndarray, shown: tuple[pa.Array, np.ndarray]) -> pd.DataFrame:
    """One row per shown item: impression_id, user_id, item_id, timestamp, clicked."""
    tokens, rows = shown
    take = pa.array(rows)
    return pd.DataFrame(
        {
            IMPRESSION: pd.array(pc.take(pc.utf8_trim_whitespace(table.column(IMPRESSION)), take), dtype=ID_DTYPE),
            USER: pd.array(pc.take(pc.utf8_trim_whitespace(table.column(USER)), take), dtype=ID_DTYPE),
            ITEM: pd.array(pc.utf8_slice_codeunits(tokens, 0, -2), dtype=ID_DTYPE),
            TIMESTAMP: times[rows].astype(np.int64),
            CLICKED: np.asarray(pc.ends_with(tokens, "-1"), dtype=bool),
        }
    )


def _clicks(impressions: pd.DataFrame) -> pd.DataFrame:
    return impressions.loc[impressions[CLICKED], [USER, ITEM, TIMESTAMP]]


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of the values (first-seen order) and the distinct values."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = column.dictionary_encode()
    return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary


def _history(table: pa.Table, times: np.ndarray) -> pd.DataFrame:
    """Each user's history items, deduplicated, at the user's first impression time - 1."""
    users, user_names = _codes(pc.utf8_trim_whitespace(table.column(USER)))
    first = np.full(len(user_names), np.inf)
    np.minimum.at(first, users, times)
    histories, history_texts = _codes(table.column("history"))
    distinct = np.flatnonzero(~pd.Series(users * len(history_texts) + histories).duplicated().to_numpy())
    tokens, rows = _tokens(pc.take(history_texts, pa.array(histories[distinct])))
    owners = users[distinct][rows]
    items, item_names = _codes(tokens)
    keep = ~pd.Series(owners * len(item_names) + items).duplicated().to_numpy()
    owners = owners[keep]
    return pd.DataFrame(
        {
            USER: pd.array(pc.take(user_names, pa.array(owners)), dtype=ID_DTYPE),
            ITEM: pd.array(pc.filter(tokens, pa.array(keep)), dtype=ID_DTYPE),
            TIMESTAMP: first[owners].astype(np.int64) - 1,
        }
    )


def _news(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame | None, int]:
    if not path.is_file():
        return None, 0
    table, skipped = read_plain(path, "\t", NEWS_COLUMNS, on_bad_rows=on_bad_rows)
    columns = {"news_id": ITEM, **{name: name for name in ("category", "subcategory", "title", "abstract")}}
    items = text_frame(table, columns).apply(lambda column: column.str.strip().astype(str))
    items = items[items[ITEM] != ""].drop_duplicates(ITEM, keep="first").reset_index(drop=True)
    return items, skipped
