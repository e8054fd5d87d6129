"""Canonical column names and the raw dataset that importers return."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

USER = "user_id"
ITEM = "item_id"
TIMESTAMP = "timestamp"
RATING = "rating"
EVENT = "event"
INTERACTION_COLUMNS = (USER, ITEM, TIMESTAMP, RATING, EVENT)
ID_DTYPE = "string[pyarrow]"


@dataclass
class RawDataset:
    """What an importer reads: interactions plus optional catalogues.

    `interactions` has string columns user_id and item_id and, when the
    source has them, int64 `timestamp` (seconds), float64 `rating` and string
    `event`. `items` and `users` have an id column plus text columns.
    `impressions` (MIND) lists shown items with a boolean `clicked` column:
    shown-but-not-clicked items are true pair-wise negatives.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    impressions: pd.DataFrame | None = None
    skipped_rows: int = 0
    source: str = ""
