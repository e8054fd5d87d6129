"""The two development datasets, read the way PROTOCOL.md prepares them.

- `ml-latest-small`: the bundled MovieLens sample (title, genres and tags as item text).
- `amazon-scientific`: read from `../shared/datasets` (research use only: never copied into the
  project), with `seq_index` as the timestamp and the catalogue's `text` column as the item text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pairrank.data.importers import load_dataset
from pairrank.data.interactions import ColumnMap
from pairrank.data.schema import RawDataset

ROOT = Path(__file__).resolve().parents[1]
AMAZON = ROOT.parent / "shared" / "datasets" / "amazon-scientific"
DATASETS = ("ml-latest-small", "amazon-scientific")


def load(name: str) -> RawDataset:
    """One development dataset as a `RawDataset`."""
    if name == "ml-latest-small":
        return load_dataset(ROOT / "datasets" / "ml-latest-small", "movielens")
    if name == "amazon-scientific":
        columns = ColumnMap.parse("user_id=user_id,item_id=item_id,timestamp=seq_index")
        raw = load_dataset(AMAZON / "interactions.csv", "csv", columns=columns)
        items = pd.read_csv(AMAZON / "items.csv", dtype=str, keep_default_na=False)[["item_id", "text"]]
        return RawDataset(raw.interactions, items=items, source=str(AMAZON))
    raise SystemExit(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
