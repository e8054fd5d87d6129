"""The id-level face of a trained model: string ids in, a DataFrame of recommendations out.

    ranker = Ranker.load("runs/ease")          # or pairrank.load("runs/ease")
    ranker.recommend(["1", "2"], k=10)          # users the run was trained on
    ranker.recommend_history(["1", "260"], k=10)  # anyone, from the items they chose (oldest first)

Each frame has `user_id, item_id, rank, score` and, when the run knows item
titles, `title`. Item ids the model does not know are skipped with a
`DataWarning`; unknown user ids and empty histories are `DataError`s.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.histories import anonymous_history, code_histories
from pairrank.data.item_text import ATTRIBUTE_JOIN
from pairrank.data.schema import ITEM, USER
from pairrank.errors import ConfigError, DataError, DataWarning
from pairrank.experiments.recommending import recommend_frame, recommend_histories_frame
from pairrank.models.base import Recommender
from pairrank.models.explain import SUPPORTING_ITEMS, explain
from pairrank.models.registry import history_models, load_model

SHOWN_UNKNOWN = 5  # unknown ids quoted in a message


class Ranker:
    """A fitted `Recommender` behind the string ids of its users and items."""

    def __init__(self, model: Recommender, source: str | Path | None = None):
        if model.items is None:
            raise ConfigError(f"{model.name} is not fitted: fit it or load a run folder")
        self.model, self.source = model, source

    @classmethod
    def load(cls, run: str | Path) -> Ranker:
        """The model in a run folder written by `pairrank train` (or `Recommender.save`)."""
        return cls(load_model(run), run)

    def recommend(
        self, user_ids: Sequence[str], k: int = 10, *, exclude_seen: bool = True, explain: bool = False
    ) -> pd.DataFrame:
        """Top-k for users the model was trained on, their training items excluded (`exclude_seen`);
        `explain` adds why (see `explained`)."""
        ids = np.asarray([str(u) for u in user_ids], dtype=object)
        users = self.model.users.index(ids, missing="ignore")
        if (users < 0).any():
            unknown = _quoted(ids[users < 0])
            known = _quoted(self.model.users.ids[:3])
            raise DataError(
                f"unknown user id(s) {unknown}: the run knows {len(self.model.users)} users ({known}, ...); "
                "for anyone else recommend from a history of item ids",
                self.source,
                field=USER,
            )
        recs = self._titled(recommend_frame(self.model, users, k, exclude_seen=exclude_seen))
        if not explain:
            return recs
        return self.explained(recs, {user_id: self.model.user_history(u) for user_id, u in zip(ids, users)})

    def recommend_history(self, item_ids: Sequence[str], k: int = 10, *, explain: bool = False) -> pd.DataFrame:
        """Top-k for one history of item ids (oldest first), its own items excluded; user_id is "history"."""
        return self.recommend_histories(anonymous_history([str(i) for i in item_ids], "history"), k, explain=explain)

    def recommend_histories(
        self, histories: pd.DataFrame, k: int = 10, *, source: str = "histories", explain: bool = False
    ) -> pd.DataFrame:
        """Top-k for each user of a `user_id, item_id` frame (each history oldest first)."""
        user_ids, coded = self._coded(histories, source)
        recs = self._titled(recommend_histories_frame(self.model, user_ids, coded, k))
        return self.explained(recs, dict(zip(user_ids, coded))) if explain else recs

    def explained(self, recs: pd.DataFrame, histories: dict[str, np.ndarray]) -> pd.DataFrame:
        """`recs` with why each item is there (`models.explain`): `because_ids` (its top-3 supporting history
        items, '|'-joined, strongest first), `because_titles` (when titles are known) and `shared_attributes`
        (its genres/tags that those items have too). `histories`: user id -> item indices, oldest first."""
        because: dict[object, list[str]] = {}
        shared: dict[object, list[str]] = {}
        for user_id, rows in recs.groupby(USER, sort=False):
            targets = self.model.items.index(rows[ITEM].astype(str).to_numpy())
            why = explain(self.model, histories[user_id], targets, SUPPORTING_ITEMS)
            for label, row, values in zip(rows.index, why.because, why.shared):
                because[label], shared[label] = self.model.items.ids[row[row >= 0]].tolist(), values
        explained = recs.copy()
        explained["because_ids"] = [ATTRIBUTE_JOIN.join(because[label]) for label in recs.index]
        if self.model.item_titles is not None:
            explained["because_titles"] = [ATTRIBUTE_JOIN.join(self.titles(because[label])) for label in recs.index]
        explained["shared_attributes"] = [ATTRIBUTE_JOIN.join(shared[label]) for label in recs.index]
        return explained

    def explain_history(
        self, history: Sequence[str], item_ids: Sequence[str], top: int = SUPPORTING_ITEMS
    ) -> pd.DataFrame:
        """Why each of `item_ids` suits `history` (item ids, oldest first): its `top` supporting history items
        (`models.explain`), one row each, as item_id, because_id, weight (and because_title when titles are
        known)."""
        _, (coded,) = self._coded(anonymous_history([str(i) for i in history], "history"), "history")
        ids = np.asarray([str(i) for i in item_ids], dtype=object)
        targets = self.model.items.index(ids, missing="ignore")
        if (targets < 0).any():
            raise DataError(f"unknown item id(s) {_quoted(ids[targets < 0])} to explain", self.source, field=ITEM)
        why = explain(self.model, coded, targets, top)
        because, weights = why.because, why.weights
        rows = [
            (item, self.model.items.ids[cause], float(weight))
            for item, causes, row_weights in zip(item_ids, because, weights)
            for cause, weight in zip(causes, row_weights)
            if cause >= 0
        ]
        explained = pd.DataFrame(rows, columns=[ITEM, "because_id", "weight"])
        if self.model.item_titles is not None:
            explained["because_title"] = self.titles(explained["because_id"].to_numpy())
        return explained

    def _coded(self, histories: pd.DataFrame, source: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """User ids and their histories as item indices; unknown item ids are skipped with a warning."""
        if not self.model.scores_histories:
            raise ConfigError(
                f"{self.model.name} cannot recommend for a history given now (it scores only the users it was "
                f"trained on); models that can: {', '.join(history_models())}"
            )
        user_ids, coded, unknown = code_histories(self.model.items, histories, source)
        if len(unknown):
            warnings.warn(
                DataWarning(f"skipped {len(unknown)} item id(s) not in the model's catalogue: {_quoted(unknown)}"),
                stacklevel=3,
            )
        return user_ids, coded

    def titles(self, item_ids: Sequence[str]) -> list[str]:
        """The display title of each item id ('' when unknown or the run has none)."""
        if self.model.item_titles is None:
            return ["" for _ in item_ids]
        index = self.model.items.index(np.asarray(item_ids, dtype=object), missing="ignore")
        titles = np.asarray(self.model.item_titles, dtype=object)
        return [titles[i] if i >= 0 else "" for i in index]

    def _titled(self, recs: pd.DataFrame) -> pd.DataFrame:
        if self.model.item_titles is None:
            return recs
        return recs.assign(title=self.titles(recs[ITEM].to_numpy()))


def _quoted(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(str(i)) for i in list(ids)[:SHOWN_UNKNOWN])
    return shown + (", ..." if len(ids) > SHOWN_UNKNOWN else "")
