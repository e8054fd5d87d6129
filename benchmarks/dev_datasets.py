"""The two development datasets, read the way PROTOCOL.md prepares them.

- `ml-latest-small`: the bundled MovieLens sample (title, genres and tags as item text).
- `amazon-scientific`: read from `../shared/datasets` (research use only: never copied into the
  project), with `seq_index` as the timestamp and the catalogue's `text` column as the item text.

Variant `orderless` (PROTOCOL.md's order-less, title-only variant): no timestamps (each user's history
gets the protocol's seeded random order) and the item's title as its only text.

The benchmarks share one split per dataset variant and protocol, `runs/bench-pipeline-NAME/split-PROTOCOL`
(`bench_split`), so their figures are on the same test users.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pairrank.data.importers import load_dataset
from pairrank.data.interactions import ColumnMap
from pairrank.data.schema import ITEM, TIMESTAMP, RawDataset
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split

ROOT = Path(__file__).resolve().parents[1]
AMAZON = ROOT.parent / "shared" / "datasets" / "amazon-scientific"
DATASETS = ("ml-latest-small", "amazon-scientific")
VARIANTS = ("full", "orderless")


def load(name: str, variant: str = "full") -> RawDataset:
    """One development dataset as a `RawDataset`, whole or as its order-less, title-only variant."""
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if name == "ml-latest-small":
        raw = load_dataset(ROOT / "datasets" / "ml-latest-small", "movielens")
        interactions, items, source = raw.interactions, raw.items, raw.source
    elif name == "amazon-scientific":
        columns = ColumnMap.parse("user_id=user_id,item_id=item_id,timestamp=seq_index")
        interactions = load_dataset(AMAZON / "interactions.csv", "csv", columns=columns).interactions
        items = pd.read_csv(AMAZON / "items.csv", dtype=str, keep_default_na=False)
        items, source = items[[ITEM, "title" if variant == "orderless" else "text"]], str(AMAZON)
    else:
        raise SystemExit(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if variant == "orderless":
        interactions = interactions.drop(columns=[TIMESTAMP], errors="ignore")
        items = items[[ITEM, "title"]]
    return RawDataset(interactions, items=items, source=source)


def bench_name(dataset: str, variant: str = "full") -> str:
    """The benchmarks' name for a dataset variant: DATASET, or DATASET-orderless."""
    return dataset + ("" if variant == "full" else "-orderless")


def bench_split(dataset: str, protocol: str, variant: str = "full") -> SplitData:
    """The split the benchmarks share (runs/bench-pipeline-NAME/split-PROTOCOL), made on first use."""
    split_dir = ROOT / "runs" / f"bench-pipeline-{bench_name(dataset, variant)}" / f"split-{protocol}"
    if not (split_dir / "split.json").exists():
        make_split(load(dataset, variant), protocol, split_dir)
    return SplitData.from_split(Split.read(split_dir))
