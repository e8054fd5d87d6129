"""Train a model on a split directory and recommend for the split's test users."""

from __future__ import annotations

import dataclasses
import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pairrank.data.dataset import Dataset
from pairrank.data.idmap import IdMap
from pairrank.data.importers import read_generic
from pairrank.data.interactions import ColumnMap
from pairrank.data.schema import ITEM, TIMESTAMP, USER
from pairrank.data.split_io import Split
from pairrank.errors import ConfigError, DataError
from pairrank.models import registry
from pairrank.models.base import Recommender

ANONYMOUS = "history"  # user id of a history given without one (.txt file, --items)


def read_config(path: Path | None) -> dict[str, Any]:
    """Model options from a JSON or TOML file (a flat table of option = value)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a table of option = value")
    return values


@dataclass
class SplitData:
    """A split coded once against shared id maps."""

    split: Split
    users: IdMap
    items: IdMap
    item_text: list[str]

    @classmethod
    def from_split(cls, split: Split) -> SplitData:
        items = split.item_map()
        return cls(split, split.user_map(), items, split.item_text(items))

    def dataset(self, frame: pd.DataFrame) -> Dataset:
        return Dataset.from_frame(frame, self.users, self.items, self.item_text)


def train_model(
    data: SplitData,
    name: str,
    config: dict[str, Any] | None = None,
    *,
    final: bool = False,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> tuple[Recommender, dict]:
    """Fit on train with early stopping/tuning on valid; with `final`, refit on train+valid.

    With `checkpoints`, models trained in epochs checkpoint each phase there
    (`select/` on train, `final/` on train+valid) and `resume` continues them.
    """
    klass = registry.model_class(name)
    started = time.perf_counter()
    model = klass(config or {})
    info: dict[str, Any] = {"model": name, "final": final}

    def fit(dataset: Dataset, valid: Dataset | None, phase: str) -> None:
        folder = Path(checkpoints) / phase if checkpoints is not None else None
        model.fit(dataset, valid, checkpoints=folder, resume=resume)

    if klass.uses_validation or not final:
        valid = data.dataset(data.split.valid) if len(data.split.valid) else None
        fit(data.dataset(data.split.train), valid, "select")
        info["curve"] = getattr(model, "curve", [])
        if final:
            model = klass(model.final_config())
    if final:
        fit(data.dataset(data.split.fit_frame(final=True)), None, "final")
    info["train_seconds"] = round(time.perf_counter() - started, 2)
    info["config"] = dataclasses.asdict(model.config)
    return model, info


def recommend_for_test(model: Recommender, data: SplitData, k: int = 100) -> pd.DataFrame:
    """Top-k for every test user, train+valid items excluded, cold candidates only if defined."""
    users = model.users.index(pd.unique(data.split.test[USER].astype(str)), missing="ignore")
    known = users[users >= 0]  # test users the model never saw get no list (and score zero)
    return recommend_frame(model, known, k, exclude=_remap_seen(model, data), candidates=_candidates(model, data))


def _remap_seen(model: Recommender, data: SplitData) -> sp.csr_matrix:
    """The split's train+valid matrix in the model's own id maps."""
    seen = data.dataset(data.split.seen_frame())
    if model.users.ids.tolist() == data.users.ids.tolist() and model.items.ids.tolist() == data.items.ids.tolist():
        return seen.matrix
    rows = model.users.index(data.users.id_of(seen.user_index), missing="ignore")
    cols = model.items.index(data.items.id_of(seen.item_index), missing="ignore")
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(keep.sum(), np.float32), (rows[keep], cols[keep])), shape=(len(model.users), len(model.items))
    )


def _candidates(model: Recommender, data: SplitData) -> np.ndarray | None:
    if data.split.candidates is None:
        return None
    idx = model.items.index(data.split.candidates, missing="ignore")
    return idx[idx >= 0]


def recommend_frame(
    model: Recommender,
    users: np.ndarray,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recommendations as a PROTOCOL.md frame: user_id, item_id, rank, score."""
    top, scores = model.recommend(users, k, exclude=exclude, candidates=candidates)
    return _recs_frame(model, model.users.id_of(users), top, scores)


def recommend_histories_frame(
    model: Recommender,
    user_ids: np.ndarray,
    histories: list[np.ndarray],
    k: int,
    *,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """The PROTOCOL.md frame for histories given at request time (item indices), one per user id."""
    top, scores = model.recommend_histories(histories, k, candidates=candidates)
    return _recs_frame(model, np.asarray(user_ids, dtype=object), top, scores)


def _recs_frame(model: Recommender, user_ids: np.ndarray, top: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """One row per returned item (padding dropped): user_id, item_id, rank, score."""
    valid = top >= 0
    ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
    return pd.DataFrame(
        {
            USER: np.repeat(user_ids, top.shape[1]).reshape(top.shape)[valid],
            ITEM: model.items.id_of(top[valid]),
            "rank": ranks[valid],
            "score": scores[valid],
        }
    )


def read_histories(path: Path) -> pd.DataFrame:
    """Histories to recommend for: user_id, item_id rows, each user's in order (oldest first).

    A CSV or Parquet file has columns user_id, item_id and optionally
    timestamp (which orders each history; file order otherwise). A .txt file
    holds one item id per line: a single history, of user "history".
    """
    path = Path(path)
    if path.suffix == ".txt":
        if not path.exists():
            raise DataError("file not found", path)
        return anonymous_history(path.read_text().splitlines(), path)
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    frame, _ = read_generic(path, fmt, columns=ColumnMap(user_id=USER, item_id=ITEM))
    users = pd.factorize(frame[USER])[0]
    times = frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame else np.zeros(len(frame), dtype=np.int64)
    return frame.iloc[np.lexsort((times, users))][[USER, ITEM]].reset_index(drop=True)


def anonymous_history(item_ids: list[str], source: str | Path) -> pd.DataFrame:
    """One history (user "history") from item ids, oldest first; blanks are dropped."""
    ids = [i.strip() for i in item_ids if i.strip()]
    if not ids:
        raise DataError("no item ids given", source)
    return pd.DataFrame({USER: ANONYMOUS, ITEM: ids})


def code_histories(
    model: Recommender, frame: pd.DataFrame, source: str | Path
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """User ids, their histories as the model's item indices, and the item ids it does not know (skipped).

    A history none of whose items the model knows raises a `DataError` naming the user.
    """
    index = model.items.index(frame[ITEM].astype(str).to_numpy(), missing="ignore")
    known = frame.assign(index=index)[index >= 0]
    user_ids = pd.unique(frame[USER].astype(str))
    empty = np.setdiff1d(user_ids, known[USER].astype(str).unique())
    if len(empty):
        raise DataError(f"user {empty[0]!r}: none of the history's items is in the model's catalogue", source)
    groups = known.groupby(known[USER].astype(str), sort=False)["index"]
    histories = [groups.get_group(user).to_numpy(dtype=np.int64) for user in user_ids]
    unknown = pd.unique(frame[ITEM][index < 0].astype(str))
    return user_ids.astype(object), histories, unknown


def write_run(model: Recommender, info: dict, out: Path) -> Path:
    """Save the model folder plus run.json (how it was trained)."""
    out = Path(out)
    model.save(out)
    (out / "run.json").write_text(json.dumps(info, indent=2, default=str))
    return out
