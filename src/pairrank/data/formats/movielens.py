"""MovieLens importer: the 100k, 1m/10m ('::' files) and latest/20m/25m/32m (CSV) layouts.

The variant is detected from the files in the directory: `u.data` (100k),
`ratings.dat` (1m, 10m) or `ratings.csv` (latest, 20m, 25m, 32m). Every
variant gives interactions with timestamp (seconds) and rating, and items
with `item_id`, `title`, `genres` ('Adventure, Animation') and `tags` (the
movie's distinct tags in first-seen order, '' when none). 1m and 100k also
give users (`user_id`, `gender`, `age`, `occupation`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
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
from pairrank.data.schema import ITEM, USER, RawDataset
from pairrank.data.tables import read_delimited
from pairrank.errors import DataError

VARIANT_FILES = {"100k": "u.data", "1m": "ratings.dat", "latest": "ratings.csv"}
VARIANT_ALIASES = {"10m": "1m", "20m": "latest", "25m": "latest", "32m": "latest"}
RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
NO_GENRES = "(no genres listed)"
AGES_1M = {"1": "Under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55", "56": "56+"}
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)  # fmt: skip
SEPARATOR = b"::"


def detect_variant(directory: Path) -> str:
    """'100k', '1m' or 'latest' from the ratings file present, else a DataError."""
    for variant, name in VARIANT_FILES.items():
        if (directory / name).is_file():
            return variant
    found = sorted(p.name for p in directory.iterdir())[:10]
    raise DataError(
        f"not a MovieLens directory: none of {', '.join(VARIANT_FILES.values())} found (it holds {found})",
        directory,
    )


def load(path: Path, *, on_bad_rows: str = "error", variant: str | None = None, **kwargs: object) -> RawDataset:
    """Read a MovieLens directory; `variant` forces '100k', '1m', '10m', 'latest', '20m', '25m' or '32m'."""
    reject_options(kwargs, "movielens")
    directory = data_directory(path, "MovieLens")
    if variant is not None:
        variant = VARIANT_ALIASES.get(variant, variant)
        if variant not in VARIANT_FILES:
            raise DataError(f"unknown MovieLens variant {variant!r}", directory, field="variant")
    variant = variant or detect_variant(directory)
    reader = {"100k": _load_100k, "1m": _load_1m, "latest": _load_latest}[variant]
    dataset = reader(directory, on_bad_rows)
    dataset.source = str(directory)
    return dataset


# --- 100k -----------------------------------------------------------------


def _load_100k(directory: Path, on_bad_rows: str) -> RawDataset:
    ratings = require(directory, VARIANT_FILES["100k"], "MovieLens 100k")
    table, skipped = read_delimited(ratings, "\t", header=RATING_COLUMNS, on_bad_rows=on_bad_rows)
    frame, bad = interactions_from_table(table, ColumnMap(), ratings, on_bad_rows=on_bad_rows, header_lines=0)
    items, item_skips = _items_100k(require(directory, "u.item", "MovieLens 100k"), on_bad_rows)
    users, user_skips = _users_100k(directory / "u.user", on_bad_rows)
    return RawDataset(frame, items=items, users=users, skipped_rows=skipped + bad + item_skips + user_skips)


def _items_100k(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame, int]:
    header = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K]
    table, skipped = read_plain(path, "|", header, on_bad_rows=on_bad_rows, encoding="latin-1")
    flags = np.column_stack([pc.equal(table.column(g), "1").to_numpy() for g in GENRES_100K])
    names = np.array(GENRES_100K, dtype=object)
    items = text_frame(table, {"item_id": ITEM, "title": "title"})
    items["genres"] = [", ".join(names[row]) for row in flags]
    items["tags"] = ""
    return _clean_items(items), skipped


def _users_100k(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame | None, int]:
    if not path.is_file():
        return None, 0
    header = ["user_id", "age", "gender", "occupation", "zip_code"]
    table, skipped = read_plain(path, "|", header, on_bad_rows=on_bad_rows, encoding="latin-1")
    return text_frame(table, {"user_id": USER, "gender": "gender", "age": "age", "occupation": "occupation"}), skipped


# --- 1m / 10m ---------------------------------------------------------------


def _load_1m(directory: Path, on_bad_rows: str) -> RawDataset:
    ratings = require(directory, VARIANT_FILES["1m"], "MovieLens 1m")
    table, skipped = read_plain(
        ratings, "::", RATING_COLUMNS, on_bad_rows=on_bad_rows, encoding="latin-1", separator=SEPARATOR
    )
    frame, bad = interactions_from_table(table, ColumnMap(), ratings, on_bad_rows=on_bad_rows, header_lines=0)
    del table
    movies, movie_skips = read_plain(
        require(directory, "movies.dat", "MovieLens 1m"), "::", ["item_id", "title", "genres"],
        on_bad_rows=on_bad_rows, separator=SEPARATOR,
    )  # fmt: skip
    items = _movie_items(movies)
    tag_skips = 0
    if (directory / "tags.dat").is_file():  # 10m
        tags, tag_skips = read_plain(
            directory / "tags.dat", "::", ["user_id", "item_id", "tag", "timestamp"],
            on_bad_rows=on_bad_rows, separator=SEPARATOR,
        )  # fmt: skip
        items = _attach_tags(items, tags, "item_id")
    users, user_skips = _users_1m(directory / "users.dat", on_bad_rows)
    return RawDataset(
        frame, items=items, users=users, skipped_rows=skipped + bad + movie_skips + tag_skips + user_skips
    )


def _users_1m(path: Path, on_bad_rows: str) -> tuple[pd.DataFrame | None, int]:
    """users.dat with age and occupation codes spelled out as in the 1m README."""
    if not path.is_file():
        return None, 0
    header = ["user_id", "gender", "age", "occupation", "zip_code"]
    table, skipped = read_plain(path, "::", header, on_bad_rows=on_bad_rows, encoding="latin-1", separator=SEPARATOR)
    users = text_frame(table, {"user_id": USER, "gender": "gender", "age": "age", "occupation": "occupation"})
    users["age"] = users["age"].map(lambda code: AGES_1M.get(code.strip(), code)).astype(str)
    occupations = dict(enumerate(OCCUPATIONS_1M))
    users["occupation"] = (
        users["occupation"].map(lambda code: occupations.get(int(code), code) if code.isdigit() else code).astype(str)
    )
    return users, skipped


# --- latest / 20m / 25m / 32m ---------------------------------------------


def _load_latest(directory: Path, on_bad_rows: str) -> RawDataset:
    ratings = require(directory, VARIANT_FILES["latest"], "MovieLens")
    table, skipped = read_delimited(ratings, ",", on_bad_rows=on_bad_rows)
    columns = ColumnMap(user_id="userId", item_id="movieId", timestamp="timestamp", rating="rating")
    frame, bad = interactions_from_table(table, columns, ratings, on_bad_rows=on_bad_rows)
    del table
    movies_path = require(directory, "movies.csv", "MovieLens")
    movies, movie_skips = read_delimited(movies_path, ",", on_bad_rows=on_bad_rows)
    require_columns(movies, ["movieId", "title", "genres"], movies_path)
    items = _movie_items(movies, "movieId")
    tag_skips = 0
    tags_path = directory / "tags.csv"
    if tags_path.is_file():
        tags, tag_skips = read_delimited(tags_path, ",", on_bad_rows=on_bad_rows)
        require_columns(tags, ["movieId", "tag"], tags_path)
        items = _attach_tags(items, tags, "movieId")
    return RawDataset(frame, items=items, skipped_rows=skipped + bad + movie_skips + tag_skips)


# --- shared -----------------------------------------------------------------


def _movie_items(movies: pa.Table, id_column: str = "item_id") -> pd.DataFrame:
    """item_id, title, genres ('A|B' -> 'A, B'; '(no genres listed)' -> '') and empty tags."""
    items = text_frame(movies, {id_column: ITEM, "title": "title", "genres": "genres"})
    genres = items["genres"].str.strip()
    items["genres"] = genres.where(genres != NO_GENRES, "").str.replace("|", ", ", regex=False).astype(str)
    items["tags"] = ""
    return _clean_items(items)


def _attach_tags(items: pd.DataFrame, tags: pa.Table, id_column: str) -> pd.DataFrame:
    """Set `tags` to each movie's distinct tags, first-seen order, joined with ', '."""
    ids = pc.utf8_trim_whitespace(tags.column(id_column)).to_pandas()
    return attach(items, "tags", joined_values(ids, tags.column("tag").to_pandas()))


def _clean_items(items: pd.DataFrame) -> pd.DataFrame:
    items[ITEM] = items[ITEM].str.strip().astype(str)
    items = items[items[ITEM] != ""]
    return items.drop_duplicates(ITEM, keep="first").reset_index(drop=True)
