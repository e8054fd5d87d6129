"""What the HTTP service does, without HTTP: recommend, rank and look up items over one trained run, reading
each user's stored events, and the items added since training, at request time.

A user's history is what the run was trained on followed by the events stored
since (`EventStore`), so an event changes the next list with no retraining for
every model that scores a history (TwoTower, EASE, ItemKNN, TextKNN, MostPop).
A model that scores only its trained users (BPR-MF, the pipeline) still leaves
out the items of stored events. A vector model (TwoTower, TextKNN) answers from
a FAISS index over its item vectors: exact inner product up to 200k items,
HNSW above, so a list costs a search, not a score per item. Items added after training (`add_items`) are
ranked beside the trained ones by models that place an item by its text
(`AddedItems`). Ids are strings here; unknown ones are `NotFound` (a user or
item asked for by id) or `DataError` (ids inside a request body), which the app
turns into 404 and 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from pairrank.data.item_text import ATTRIBUTE_JOIN
from pairrank.errors import DataError
from pairrank.models.explain import MAX_EXPLAINED_HISTORY, SUPPORTING_ITEMS, explain
from pairrank.models.registry import load_model
from pairrank.pipeline.retrieve import VectorModel
from pairrank.pipeline.vector_index import VectorIndex
from pairrank.serve.added_items import AddedItems, Snapshot
from pairrank.serve.events import Event, EventStore, ItemRevision, Stored

SHOWN_UNKNOWN = 5  # unknown ids quoted in an error
EXACT_LIMIT = 200_000  # catalogues up to this size are searched exactly; HNSW above


class NotFound(LookupError):
    """A user or item id the run and the store do not know."""


class Conflict(ValueError):
    """A request that contradicts the run (adding an item the run was trained with)."""


@dataclass
class Because:
    item_id: str
    title: str


@dataclass
class Scored:
    item_id: str
    score: float | None  # None where the model gives no finite score
    title: str | None = None
    because: list[Because] | None = None  # explain: the history items it leans on
    shared_attributes: list[str] | None = None  # explain: genres/tags it shares with them


@dataclass
class Request:
    """Whose list: a user id (trained history + stored events) or an explicit history of item ids."""

    user_id: str | None = None
    history: Sequence[str] | None = None
    exclude: Sequence[str] = field(default_factory=list)
    categories: Sequence[str] = field(default_factory=list)  # keep items with any of these attributes


@dataclass
class NewItem:
    item_id: str
    title: str
    text: str = ""  # a description; the encoder reads the title, this and the attributes
    attributes: Sequence[str] = ()


@dataclass
class History:
    """A request's history: the trained user (if any), the items as model indices, oldest first, and the ids it
    names beyond the trained ones (stored events' and the request's: added items, which have no model index,
    can only be among these)."""

    user: int | None
    items: np.ndarray
    ids: set[str]


class RankingService:
    """One run's model, the store, and the items added since training, behind string ids."""

    def __init__(self, run: str | Path, store: EventStore, version: str | None = None, exact_limit: int = EXACT_LIMIT):
        self.model = load_model(run)
        self.store = store
        self.version = version or Path(run).resolve().name
        self.added = AddedItems(self.model, store)
        self._attributes = [set(a.split(ATTRIBUTE_JOIN)) if a else set() for a in (self.model.item_attributes or [])]
        self._items_in: dict[str, list[int]] = {}  # attribute -> the trained items that have it
        for index, attributes in enumerate(self._attributes):
            for attribute in attributes:
                self._items_in.setdefault(attribute, []).append(index)
        self._titles = None if self.model.item_titles is None else np.asarray(self.model.item_titles, dtype=object)
        self._popular = np.argsort(-np.asarray(self.model.history.sum(axis=0)).ravel(), kind="stable")
        self.index = None  # a vector model's items in a FAISS index: exact up to `exact_limit`, HNSW above
        if isinstance(self.model, VectorModel) and self.model.adds_items:
            self.index = VectorIndex(self.model.item_vectors(), exact_limit)
        if self.model.adds_items:
            self.added.refresh()

    # -- requests ---------------------------------------------------------
    def recommend(self, request: Request, k: int, explain: bool = False) -> list[Scored]:
        """The top k for the request's user or history, trained and added items together; items in that
        history are never returned."""
        added = self._added()
        history = self._history(request, added)
        if not history.items.size:
            raise DataError("the history holds only items added after training; the model reads trained items")
        candidates = self._candidates(request)
        if self.index is not None:
            top, scores = self._search(history.items, k, candidates)
        elif self.model.scores_histories:
            top, scores = self.model.recommend_histories([history.items], k, candidates=candidates)
        else:
            top, scores = self._recommend_trained(history, k, candidates)
        keep = top[0] >= 0
        listed = self._scored(top[0][keep], scores[0][keep], history.items if explain else None)
        if len(added):
            listed = self._with_added(listed, added, history, request, k, explain)
        return listed

    def rank(self, request: Request, item_ids: Sequence[str]) -> list[Scored]:
        """`item_ids` ordered by the model's score for the request's user or history, best first."""
        added = self._added()
        history = self._history(request, added)
        ids = [str(i) for i in item_ids]
        trained = self.model.items.index(np.asarray(ids, dtype=object), missing="ignore")
        unknown = [i for i, index in zip(ids, trained) if index < 0 and i not in added.rows]
        if unknown:
            raise DataError(f"unknown item id(s) {_quoted(unknown)}", field="items")
        scores = np.full(len(ids), -np.inf, dtype=np.float32)
        known = trained >= 0
        if self.model.scores_histories:
            scores[known] = self.model.score_histories([history.items], trained[known])[0]
        elif history.user is not None:
            scores[known] = self.model.score(np.array([history.user]), trained[known])[0]
        else:
            raise DataError(f"{self.model.name} ranks only the users it was trained on: give a known user_id")
        if (~known).any():
            added_scores = self.added.scores(added, history.items)
            scores[~known] = [added_scores[added.rows[i]] for i, k in zip(ids, known) if not k]
        order = np.argsort(-scores, kind="stable")
        return [self._one(ids[i], scores[i], added) for i in order]

    def similar(self, item_id: str, k: int) -> list[Scored]:
        """Items the model recommends to someone whose history is this one item."""
        item = self._item(item_id)
        if not self.model.scores_histories:
            raise DataError(f"{self.model.name} cannot rank for a history, so it has no similar items")
        return self.recommend(Request(history=[self.model.items.ids[item]]), k)

    def item(self, item_id: str) -> dict[str, object]:
        added = self._added()
        row = added.rows.get(str(item_id))
        if row is not None:
            return {"item_id": str(item_id), "title": added.titles[row], "attributes": sorted(added.attributes[row])}
        return self._described(self._item(item_id))

    def search(self, query: str, k: int) -> list[dict[str, object]]:
        """Up to k trained items whose title (or id) contains `query`, case-insensitively, most interacted with
        first; an empty query lists the most popular."""
        needle = query.strip().lower()
        ids = self.model.items.ids
        titles = self._titles if self._titles is not None else ids

        def matches(index: int) -> bool:
            return not needle or needle in titles[index].lower() or needle in ids[index].lower()

        return [self._described(i) for i in islice(filter(matches, self._popular), k)]

    def add_events(self, events: Sequence[Event]) -> Stored:
        """Store a batch of feedback (committed before this returns); items the model does not know are stored
        too, and count once they are in the catalogue."""
        return self.store.add(events)

    def add_items(self, items: Sequence[NewItem]) -> int:
        """Add or update items known by their text; recommendable as soon as this returns. Returns how many."""
        if not self.model.adds_items:
            self.model.new_item_vectors([])  # raises the ConfigError that names the models that can
        ids = np.asarray([item.item_id for item in items], dtype=object)
        trained = self.model.items.index(ids, missing="ignore") >= 0
        if trained.any():
            raise Conflict(f"item id(s) {_quoted(ids[trained])} are in the trained catalogue: retrain to change them")
        self.store.put_items([_revision(item) for item in items])
        self.added.refresh()
        return len(items)

    def history_of(self, user_id: str) -> list[str]:
        """A known user's trained items, then their stored events' items the model knows, oldest first."""
        history = self._history(Request(user_id=user_id), self._added())
        return self.model.items.id_of(history.items).tolist()

    # -- helpers -----------------------------------------------------------
    def _added(self) -> Snapshot:
        """The added items, with those another replica stored (read within half a second)."""
        return self.added.recent() if self.model.adds_items else self.added.current

    def _history(self, request: Request, added: Snapshot) -> History:
        if (request.user_id is None) == (request.history is None):
            raise DataError("give either user_id or history")
        if request.history is not None:
            ids = [str(i) for i in request.history]
            items = self._model_items(ids)
            if not items.size and not any(i in added.rows for i in ids):
                raise DataError("none of the history's items is in the model's catalogue", field="history")
            return History(None, items, set(ids))
        user_id = str(request.user_id)
        found = self.model.users.position(user_id)
        trained = self.model.user_history(found) if found >= 0 else np.zeros(0, dtype=np.int64)
        stored = self.store.history(user_id)
        items = _latest_occurrences(np.concatenate([trained, self._model_items(stored)])) if stored else trained
        if found < 0 and not items.size and not any(i in added.rows for i in stored):
            raise NotFound(f"unknown user {user_id!r}: not in the run and no stored events for items it knows")
        return History(found if found >= 0 else None, items, set(stored))

    def _model_items(self, ids: Sequence[str]) -> np.ndarray:
        if not ids:
            return np.zeros(0, dtype=np.int64)
        index = self.model.items.index(np.asarray(list(ids), dtype=object), missing="ignore")
        return index[index >= 0]

    def _recommend_trained(
        self, history: History, k: int, candidates: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A trained user's top k from a model that cannot score a history: over-fetched, the stored events'
        items then dropped."""
        if history.user is None:
            raise DataError(f"{self.model.name} recommends only for the users it was trained on: give a known user_id")
        extra = np.setdiff1d(history.items, self.model.user_history(history.user))
        top, scores = self.model.recommend(np.array([history.user]), k + extra.size, candidates=candidates)
        keep = ~np.isin(top[0], extra)
        return top[:, keep][:, :k], scores[:, keep][:, :k]

    def _search(self, history: np.ndarray, k: int, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The top k by the vector index, the history's own items left out."""
        query = self.model.history_vectors([history])
        items, scores = self.index.search(query, k + history.size, allowed=candidates)
        keep = (items[0] >= 0) & ~np.isin(items[0], history)
        return items[:, keep][:, :k], scores[:, keep][:, :k]

    def _with_added(
        self, listed: list[Scored], added: Snapshot, history: History, request: Request, k: int, explain: bool
    ) -> list[Scored]:
        """The trained top k merged with the best added items, by score."""
        scores = self.added.scores(added, history.items)
        wanted, excluded = set(request.categories), set(request.exclude)
        eligible = np.array(
            [
                item_id not in history.ids
                and item_id not in excluded
                and (not wanted or bool(wanted & added.attributes[row]))
                for row, item_id in enumerate(added.ids)
            ]
        )
        rows = np.flatnonzero(eligible)
        rows = rows[np.argsort(-scores[rows], kind="stable")][:k]
        extra = [Scored(added.ids[r], float(scores[r]), added.titles[r]) for r in rows]
        if explain and len(rows):
            self._explain_added(extra, added, history.items, rows)
        merged = sorted(listed + extra, key=lambda s: -np.inf if s.score is None else -s.score)
        return merged[:k]

    def _explain_added(self, extra: list[Scored], added: Snapshot, history: np.ndarray, rows: np.ndarray) -> None:
        support = self.added.support(added, history, rows, MAX_EXPLAINED_HISTORY)
        latest = history[-MAX_EXPLAINED_HISTORY:]
        for scored, column, row in zip(extra, support.T, rows):
            best = np.argsort(-column, kind="stable")[:SUPPORTING_ITEMS]
            causes = self.model.items.id_of(latest[best[column[best] > 0]]).tolist()
            scored.because = [Because(c, t or "") for c, t in zip(causes, self._titles_of(causes))]
            theirs = [self._attributes[i] for i in self.model.items.index(np.asarray(causes, dtype=object))]
            scored.shared_attributes = sorted(added.attributes[row] & set().union(*theirs)) if theirs else []

    def _candidates(self, request: Request) -> np.ndarray | None:
        """The trained items the request's filters leave (None: all of them)."""
        if not request.exclude and not request.categories:
            return None
        allowed = np.zeros(len(self.model.items), dtype=bool)
        if request.categories:
            if not self._attributes:
                raise DataError("this run's items have no categories (attributes) to filter on", field="categories")
            for category in request.categories:
                allowed[self._items_in.get(category, [])] = True
        else:
            allowed[:] = True
        allowed[self._model_items(request.exclude)] = False
        return np.flatnonzero(allowed)

    def _described(self, index: int) -> dict[str, object]:
        found: dict[str, object] = {"item_id": str(self.model.items.ids[index])}
        if self._titles is not None:
            found["title"] = self._titles[index]
        if self._attributes:
            found["attributes"] = sorted(self._attributes[index])
        return found

    def _item(self, item_id: str) -> int:
        index = self.model.items.position(item_id)
        if index < 0:
            raise NotFound(f"unknown item {item_id!r}")
        return index

    def _one(self, item_id: str, score: float, added: Snapshot) -> Scored:
        row = added.rows.get(item_id)
        title = added.titles[row] if row is not None else self._title(item_id)
        return Scored(item_id, float(score) if np.isfinite(score) else None, title)

    def _title(self, item_id: str) -> str | None:
        return self._titles_of([item_id])[0]

    def _titles_of(self, item_ids: Sequence[str]) -> list[str | None]:
        """Each id's title ('' for an id the run does not know; None for all when the run has no titles)."""
        if self._titles is None:
            return [None] * len(item_ids)
        index = self.model.items.index(np.asarray(item_ids, dtype=object), missing="ignore")
        return [self._titles[i] if i >= 0 else "" for i in index]

    def _scored(self, items: np.ndarray, scores: np.ndarray, history: np.ndarray | None) -> list[Scored]:
        ids = self.model.items.id_of(items).tolist()
        titles = [None] * len(ids) if self._titles is None else self._titles[items].tolist()
        out = [Scored(i, float(s) if np.isfinite(s) else None, t) for i, s, t in zip(ids, scores, titles)]
        if history is not None and out:
            why = explain(self.model, history, items)
            for scored, because, shared in zip(out, why.because, why.shared):
                causes = self.model.items.id_of(because[because >= 0]).tolist()
                scored.because = [Because(c, t or "") for c, t in zip(causes, self._titles_of(causes))]
                scored.shared_attributes = list(shared)
        return out


def _revision(item: NewItem) -> ItemRevision:
    attributes = ATTRIBUTE_JOIN.join(a.strip() for a in item.attributes if a.strip())
    return ItemRevision(item.item_id, item.title.strip(), item.text.strip(), attributes)


def _latest_occurrences(history: np.ndarray) -> np.ndarray:
    """The history with repeats dropped, each item at its latest place (oldest first)."""
    newest_first = history[::-1]
    _, first = np.unique(newest_first, return_index=True)
    return newest_first[np.sort(first)][::-1]


def _quoted(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(str(i)) for i in list(ids)[:SHOWN_UNKNOWN])
    return shown + (", ..." if len(ids) > SHOWN_UNKNOWN else "")
