"""Item text: catalogue columns joined into one string per item (what the text encoders read)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pairrank.data.schema import ITEM

TITLE_CHARS = 80  # a title made from an item's text when the catalogue has no title column
ATTRIBUTE_COLUMNS = ("genres", "genre", "tags", "categories", "category")  # list-valued catalogue columns
ATTRIBUTE_SEPARATORS = r"[,|;]"
ATTRIBUTE_JOIN = "|"


def item_titles(items: pd.DataFrame) -> pd.Series:
    """A short display name per item: its `title` column, else the start of its joined text."""
    if "title" in items.columns:
        return items["title"].fillna("").astype(str).str.strip()
    text = item_texts(items)
    long = text.str.len() > TITLE_CHARS
    return text.where(~long, text.str.slice(0, TITLE_CHARS - 3).str.rstrip() + "...")


def item_texts(items: pd.DataFrame, columns: Sequence[str] | None = None, sep: str = ". ") -> pd.Series:
    """Join the non-empty text fields of each item (all non-id columns by default).

    >>> item_texts(pd.DataFrame({"item_id": ["1"], "title": ["Heat"], "tags": [""]})).tolist()
    ['Heat']
    """
    columns = [c for c in (columns or items.columns) if c != ITEM]
    text = pd.Series("", index=items.index, dtype=object)
    for column in columns:
        value = items[column].fillna("").astype(str).str.strip()
        present = value != ""
        glue = (text != "") & present
        text = text.where(~glue, text + sep)
        text = text.where(~present, text + value)
    return text


def item_attributes(items: pd.DataFrame) -> pd.Series:
    """Each item's attributes (genres, tags, categories) as one string, joined by '|', in column order,
    each once ('' where the catalogue has none).

    >>> item_attributes(pd.DataFrame({"item_id": ["1"], "genres": ["Drama|Crime"], "tags": ["heist, drama"]})).tolist()
    ['Drama|Crime|heist']
    """
    columns = [c for c in items.columns if c.lower() in ATTRIBUTE_COLUMNS]
    values = [[] for _ in range(len(items))]
    for column in columns:
        for row, cell in enumerate(items[column].fillna("").astype(str).str.split(ATTRIBUTE_SEPARATORS)):
            values[row] += [part.strip() for part in cell if part.strip() and not part.strip().startswith("(no ")]
    return pd.Series([ATTRIBUTE_JOIN.join(_unique(v)) for v in values], index=items.index, dtype=object)


def attribute_set(text: str) -> frozenset[str]:
    """The attributes of one item's `item_attributes` string, lower-cased.

    >>> sorted(attribute_set("Drama|Crime| heist|"))
    ['crime', 'drama', 'heist']
    """
    return frozenset(name.strip().lower() for name in text.split(ATTRIBUTE_JOIN) if name.strip())


def _unique(values: list[str]) -> list[str]:
    """Each value once (case-insensitively), first spelling kept."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return list(seen.values())
