"""Last.fm HetRec 2011 importer.

The directory holds user_artists.dat (userID, artistID, weight;
tab-separated with a header): the interactions, rating = weight (the play
count), no timestamps. Items come from artists.dat (id, name, url,
pictureURL) with `tags`: the artist's 10 most used tags (tags.dat: tagID,
tagValue, Latin-1; assignments from user_taggedartists.dat or
user_taggedartists-timestamps.dat), joined with ', '. The .dat files use no
CSV quoting; their encoding is UTF-8, else Latin-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from pairrank.data.formats._common import (
    attach,
    data_directory,
    joined_values,
    read_plain,
    reject_options,
    require,
    require_columns,
    text_frame,
)
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.schema import ITEM, RawDataset

FMT = "Last.fm HetRec 2011"
TOP_TAGS = 10
TAGGINGS = ("user_taggedartists.dat", "user_taggedartists-timestamps.dat")


def load(path: Path, *, on_bad_rows: str = "error", **kwargs: object) -> RawDataset:
    """Read a Last.fm HetRec 2011 directory."""
    reject_options(kwargs, "lastfm")
    directory = data_directory(path, FMT)
    plays = require(directory, "user_artists.dat", FMT)
    table, skipped = read_plain(plays, "\t", None, on_bad_rows=on_bad_rows)
    columns = ColumnMap(user_id="userID", item_id="artistID", rating="weight")
    frame, bad = interactions_from_table(table, columns, plays, on_bad_rows=on_bad_rows)
    items, item_skips = _artists(require(directory, "artists.dat", FMT), on_bad_rows)
    return RawDataset(frame, items=items, skipped_rows=skipped + bad + item_skips, source=str(directory))


def _artists(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame, int]:
    table, skipped = read_plain(path, "\t", None, on_bad_rows=on_bad_rows)
    require_columns(table, ["id", "name"], path)
    items = text_frame(table, {"id": ITEM, "name": "name"})
    items = items.apply(lambda column: column.str.strip().astype(str))
    items = items[items[ITEM] != ""].drop_duplicates(ITEM, keep="first").reset_index(drop=True)
    items["tags"] = ""
    taggings = next((path.parent / name for name in TAGGINGS if (path.parent / name).is_file()), None)
    tag_skips = 0
    if taggings is not None and (path.parent / "tags.dat").is_file():
        tags, tag_skips = _top_tags(taggings, path.parent / "tags.dat", on_bad_rows)
        items = attach(items, "tags", tags)
    return items, skipped + tag_skips


def _top_tags(taggings: Path, tag_names: Path, on_bad_rows: str) -> tuple[pd.Series, int]:
    """artistID -> its most used tag names (by number of assignments) joined with ', '."""
    names, skipped = read_plain(tag_names, "\t", None, on_bad_rows=on_bad_rows)
    require_columns(names, ["tagID", "tagValue"], tag_names)
    name_of = pd.Series(
        names.column("tagValue").to_pandas().to_numpy(),
        index=pc.utf8_trim_whitespace(names.column("tagID")).to_pandas().to_numpy(),
    )
    name_of = name_of[~name_of.index.duplicated()]
    assigned, assign_skips = read_plain(taggings, "\t", None, on_bad_rows=on_bad_rows)
    require_columns(assigned, ["artistID", "tagID"], taggings)
    artists = pc.utf8_trim_whitespace(assigned.column("artistID")).to_pandas()
    tags = pc.utf8_trim_whitespace(assigned.column("tagID")).to_pandas().map(name_of)
    known = tags.notna().to_numpy()
    top = joined_values(artists[known], tags[known], np.ones(int(known.sum())), limit=TOP_TAGS)
    return top, skipped + assign_skips
