"""A split directory coded once against the id maps every model of a run shares."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pairrank.data.dataset import Dataset
from pairrank.data.idmap import IdMap
from pairrank.data.split_io import Split


@dataclass
class SplitData:
    """A split plus its user and item id maps, one text, one display title and one attribute string per item."""

    split: Split
    users: IdMap
    items: IdMap
    item_text: list[str]
    item_titles: list[str]
    item_attributes: list[str]

    @classmethod
    def from_split(cls, split: Split) -> SplitData:
        items = split.item_map()
        return cls(
            split,
            split.user_map(),
            items,
            split.item_text(items),
            split.item_titles(items),
            split.item_attributes(items),
        )

    def dataset(self, frame: pd.DataFrame) -> Dataset:
        """`frame` (user_id, item_id[, timestamp, rating]) coded against the split's id maps."""
        return Dataset.from_frame(frame, self.users, self.items, self.item_text, self.item_titles, self.item_attributes)

    def train(self) -> Dataset:
        return self.dataset(self.split.train)

    def valid(self) -> Dataset | None:
        """The validation interactions, or None when the split has none."""
        return self.dataset(self.split.valid) if len(self.split.valid) else None

    def train_and_valid(self) -> Dataset:
        return self.dataset(self.split.fit_frame(final=True))
