"""Split directories (PROTOCOL.md 'Files'): write them and read them back."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.idmap import IdMap
from pairrank.data.importers import read_catalogue
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.item_text import item_attributes, item_texts, item_titles
from pairrank.data.schema import EVENT, ITEM, RATING, TIMESTAMP, USER, RawDataset
from pairrank.data.split import SplitFrames, split_interactions
from pairrank.data.tables import read_delimited
from pairrank.errors import DataError, DataWarning

PARTS = ("train", "valid", "test")
SPLIT_COLUMNS = (USER, ITEM, TIMESTAMP, RATING)


def write_split(frames: SplitFrames, raw: RawDataset, out: Path) -> dict:
    """Write train/valid/test/items(/candidates).csv and split.json; returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        frame = getattr(frames, part)
        frame[[c for c in SPLIT_COLUMNS if c in frame.columns]].to_csv(out / f"{part}.csv", index=False)
    catalogue_items = _catalogue(frames, raw)
    catalogue_items.to_csv(out / "items.csv", index=False)
    if frames.candidates is not None:
        pd.DataFrame({ITEM: frames.candidates}).to_csv(out / "candidates.csv", index=False)
    if raw.impressions is not None:
        raw.impressions.to_csv(out / "impressions.csv", index=False)
    summary = {
        "protocol": frames.protocol,
        "source": raw.source,
        "skipped_rows": raw.skipped_rows,
        "users": int(pd.concat([getattr(frames, p)[USER] for p in PARTS]).nunique()),
        "items": len(catalogue_items),
        **{f"{p}_interactions": len(getattr(frames, p)) for p in PARTS},
    }
    (out / "split.json").write_text(json.dumps(summary, indent=2))
    return summary


def make_split(raw: RawDataset, protocol: str, out: Path) -> dict:
    """Split an imported dataset with a PROTOCOL.md protocol and write the split directory.

    Without timestamps each user's history gets a seeded random order (PROTOCOL.md), which a
    `DataWarning` says, since `loo` and `temporal80` then hold out random items rather than the latest.
    """
    if TIMESTAMP not in raw.interactions.columns and protocol != "cold_items":
        warnings.warn(
            DataWarning(
                f"{raw.source or 'input'}: no timestamp, so each user's history gets a seeded random order and "
                f"{protocol} holds out random items, not the latest; map a time column with --columns timestamp=COLUMN"
            ),
            stacklevel=2,
        )
    catalogue = raw.items[ITEM].astype(str).to_numpy() if raw.items is not None else None
    return write_split(split_interactions(raw.interactions, protocol, catalogue, source=raw.source or None), raw, out)


def _catalogue(frames: SplitFrames, raw: RawDataset) -> pd.DataFrame:
    """Every catalogue item (items file plus any item seen in the splits)."""
    seen = pd.concat([getattr(frames, p)[ITEM].astype(str) for p in PARTS]).unique()
    known = raw.items if raw.items is not None else pd.DataFrame({ITEM: pd.Series(dtype=str)})
    known = known.assign(**{ITEM: known[ITEM].astype(str)})
    extra = pd.DataFrame({ITEM: np.setdiff1d(seen, known[ITEM].to_numpy())})
    return pd.concat([known, extra], ignore_index=True).fillna("")


@dataclass
class Split:
    """A split directory read back: frames plus the id maps shared by every model."""

    path: Path
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    items: pd.DataFrame
    candidates: np.ndarray | None

    @classmethod
    def read(cls, path: str | Path) -> Split:
        path = Path(path)
        if not path.is_dir():
            raise DataError("split directory not found", path)
        parts = {part: _read_part(path / f"{part}.csv") for part in PARTS}
        items_path = path / "items.csv"
        if items_path.exists():
            items = read_catalogue(items_path)
        else:
            all_items = pd.concat([f[ITEM] for f in parts.values()]).astype(str).unique()
            items = pd.DataFrame({ITEM: all_items})
        candidates = None
        if (path / "candidates.csv").exists():
            candidates = read_catalogue(path / "candidates.csv")[ITEM].to_numpy(dtype=object)
        return cls(path, parts["train"], parts["valid"], parts["test"], items, candidates)

    @property
    def protocol(self) -> str:
        meta = self.path / "split.json"
        return json.loads(meta.read_text()).get("protocol", "unknown") if meta.exists() else "unknown"

    def user_map(self) -> IdMap:
        return IdMap.from_values(*(getattr(self, p)[USER].astype(str).to_numpy() for p in PARTS))

    def item_map(self) -> IdMap:
        return IdMap.from_values(
            self.items[ITEM].to_numpy(), *(getattr(self, p)[ITEM].astype(str).to_numpy() for p in PARTS)
        )

    def item_text(self, items: IdMap) -> list[str]:
        """One text per item of `items`: its catalogue text fields joined."""
        joined = pd.Series(item_texts(self.items).to_numpy(), index=self.items[ITEM].astype(str))
        return joined.reindex(items.ids).fillna("").tolist()

    def item_titles(self, items: IdMap) -> list[str]:
        """One display title per item of `items` ('' where the catalogue has no text)."""
        titles = pd.Series(item_titles(self.items).to_numpy(), index=self.items[ITEM].astype(str))
        return titles.reindex(items.ids).fillna("").tolist()

    def item_attributes(self, items: IdMap) -> list[str]:
        """One '|'-joined attribute string (genres, tags, categories) per item of `items` ('' if none)."""
        attributes = pd.Series(item_attributes(self.items).to_numpy(), index=self.items[ITEM].astype(str))
        return attributes.reindex(items.ids).fillna("").tolist()

    def fit_frame(self, final: bool) -> pd.DataFrame:
        """Training interactions: train, or train+valid for a final refit."""
        return pd.concat([self.train, self.valid], ignore_index=True) if final else self.train

    def seen_frame(self) -> pd.DataFrame:
        """Items excluded when recommending for test: train+valid."""
        return pd.concat([self.train, self.valid], ignore_index=True)


def _read_part(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError("missing split file", path)
    table, _ = read_delimited(path, ",", allow_empty=True)
    frame, _ = interactions_from_table(table, ColumnMap(user_id=USER, item_id=ITEM), path)
    return frame.drop(columns=[EVENT], errors="ignore")
