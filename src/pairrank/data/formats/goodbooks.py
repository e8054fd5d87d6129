"""Goodbooks-10k importer.

The directory holds ratings.csv (user_id, book_id, rating; no timestamps, so
the interactions have none) and books.csv (book_id, goodreads_book_id,
title, authors, ...), optionally with book_tags.csv (goodreads_book_id,
tag_id, count) and tags.csv (tag_id, tag_name). book_tags is keyed by the
Goodreads id, mapped to book_id through books.csv. Items: item_id, title,
authors and tags (the 10 most counted tags, joined with ', ').
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from pairrank.data.formats._common import (
    attach,
    data_directory,
    joined_values,
    numbers,
    reject_options,
    require,
    require_columns,
    text_frame,
)
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.schema import ITEM, RawDataset
from pairrank.data.tables import read_delimited

TOP_TAGS = 10
FMT = "Goodbooks-10k"


def load(path: Path, *, on_bad_rows: str = "error", **kwargs: object) -> RawDataset:
    """Read a Goodbooks-10k directory."""
    reject_options(kwargs, "goodbooks")
    directory = data_directory(path, FMT)
    ratings = require(directory, "ratings.csv", FMT)
    table, skipped = read_delimited(ratings, ",", on_bad_rows=on_bad_rows)
    columns = ColumnMap(user_id="user_id", item_id="book_id", rating="rating")
    frame, bad = interactions_from_table(table, columns, ratings, on_bad_rows=on_bad_rows)
    items, item_skips = _books(require(directory, "books.csv", FMT), on_bad_rows)
    return RawDataset(frame, items=items, skipped_rows=skipped + bad + item_skips, source=str(directory))


def _books(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame, int]:
    table, skipped = read_delimited(path, ",", on_bad_rows=on_bad_rows)
    require_columns(table, ["book_id", "title", "authors"], path)
    items = text_frame(table, {"book_id": ITEM, "title": "title", "authors": "authors"})
    items = items.apply(lambda column: column.str.strip().astype(str))
    items["tags"] = ""
    tag_skips = 0
    book_tags, tag_names = path.parent / "book_tags.csv", path.parent / "tags.csv"
    if book_tags.is_file() and tag_names.is_file() and "goodreads_book_id" in table.column_names:
        goodreads = pc.utf8_trim_whitespace(table.column("goodreads_book_id")).to_pandas()
        to_book = pd.Series(items[ITEM].to_numpy(), index=goodreads.to_numpy())
        tags, tag_skips = _top_tags(book_tags, tag_names, to_book[~to_book.index.duplicated()], on_bad_rows)
        items = attach(items, "tags", tags)
    items = items[items[ITEM] != ""].drop_duplicates(ITEM, keep="first").reset_index(drop=True)
    return items, skipped + tag_skips


def _top_tags(book_tags: Path, tag_names: Path, to_book: pd.Series, on_bad_rows: str) -> tuple[pd.Series, int]:
    """book_id -> its most counted tag names joined with ', '."""
    counts, skipped = read_delimited(book_tags, ",", on_bad_rows=on_bad_rows)
    require_columns(counts, ["goodreads_book_id", "tag_id", "count"], book_tags)
    names, name_skips = read_delimited(tag_names, ",", on_bad_rows=on_bad_rows)
    require_columns(names, ["tag_id", "tag_name"], tag_names)
    name_of = pd.Series(
        names.column("tag_name").to_pandas().to_numpy(),
        index=pc.utf8_trim_whitespace(names.column("tag_id")).to_pandas().to_numpy(),
    )
    name_of = name_of[~name_of.index.duplicated()]
    books = pc.utf8_trim_whitespace(counts.column("goodreads_book_id")).to_pandas().map(to_book)
    tags = pc.utf8_trim_whitespace(counts.column("tag_id")).to_pandas().map(name_of)
    weights = numbers(counts, "count", book_tags)
    known = (books.notna() & tags.notna()).to_numpy()
    top = joined_values(books[known], tags[known], weights[known], limit=TOP_TAGS)
    return top, skipped + name_skips
