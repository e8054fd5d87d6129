"""Fold the stored feedback, and the items added while serving, into a new model version.

The new version is the served run's model, with the run's saved options, fitted
again on its split (the one its `run.json` names, or another given) with every
stored event appended to the training interactions and every added item in the
catalogue (its title, description and attributes as catalogue columns). Events
on items the catalogue still does not know are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.item_text import ATTRIBUTE_COLUMNS
from pairrank.data.schema import ITEM, TIMESTAMP, USER
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.errors import DataError
from pairrank.experiments.training import train_model, write_run
from pairrank.models.folder import read_meta
from pairrank.serve.events import EventStore, ItemRevision

DESCRIPTION = "description"  # the catalogue column an added item's description goes to


@dataclass
class Retrained:
    out: Path
    events: int  # stored events learned from
    skipped_events: int  # on items the catalogue does not know
    added_items: int
    train_seconds: float


def retrain(run: str | Path, store: EventStore, out: str | Path, split: str | Path | None = None) -> Retrained:
    """Fit the run's model again with the stored events and added items; write the new run to `out`."""
    run, out = Path(run), Path(out)
    meta = read_meta(run)
    info = _run_info(run)
    split = Path(split) if split is not None else _recorded_split(run, info)
    data = Split.read(split)
    items = _with_added(data.items, _latest(store.items_after(0)))
    events = store.all_events()
    known = events[events[ITEM].isin(set(items[ITEM].astype(str)))]
    train = pd.concat([data.train, _as_interactions(known, data.train)], ignore_index=True)
    grown = dataclasses.replace(data, train=train, items=items)
    model, trained = train_model(SplitData.from_split(grown), meta.model, meta.config, final=bool(info.get("final")))
    added = len(items) - len(data.items)
    trained |= {"retrained_from": str(run.resolve()), "events": len(known), "added_items": added}
    write_run(model, trained, out)
    return Retrained(out, len(known), len(events) - len(known), added, trained["train_seconds"])


def _run_info(run: Path) -> dict:
    path = run / "run.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON: {error}", path) from None


def _recorded_split(run: Path, info: dict) -> Path:
    recorded = info.get("split")
    if not recorded:
        raise DataError("run.json does not name the split the run was trained on: give --split", run)
    return Path(recorded)


def _latest(revisions: list[ItemRevision]) -> list[ItemRevision]:
    """Each added item's latest revision."""
    return list({revision.item_id: revision for revision in revisions}.values())


def _with_added(items: pd.DataFrame, added: list[ItemRevision]) -> pd.DataFrame:
    """The catalogue with the added items it does not hold yet as rows."""
    new = [revision for revision in added if revision.item_id not in set(items[ITEM].astype(str))]
    if not new:
        return items
    attribute_column = next((c for c in items.columns if c.lower() in ATTRIBUTE_COLUMNS), "categories")
    rows = pd.DataFrame(
        {
            ITEM: [r.item_id for r in new],
            "title": [r.title for r in new],
            attribute_column: [r.attributes for r in new],  # "|"-joined, as catalogue columns are
        }
    )
    if any(r.description for r in new):
        rows[DESCRIPTION] = [r.description for r in new]
    return pd.concat([items, rows], ignore_index=True).fillna("")


def _as_interactions(events: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Events in the training frame's columns, oldest first; their timestamps (seconds since the epoch) are kept
    where the split has a time column, so they order each history as they happened."""
    frame = events[[USER, ITEM]].astype(str).reset_index(drop=True)
    if TIMESTAMP in train.columns:
        frame[TIMESTAMP] = events[TIMESTAMP].to_numpy().astype(train[TIMESTAMP].dtype)
    for column in train.columns.difference(frame.columns):
        frame[column] = np.nan  # no rating for feedback events
    return frame[train.columns]
