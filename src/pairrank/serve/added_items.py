"""Items added to a served run after training: kept in the store, embedded by the model's own text path, and
scored beside the trained catalogue (cold start without retraining).

Only models that place an item by its text can do this (`new_item_vectors`:
TwoTower, TextKNN); a history's score for an added item is the inner product of
`history_vectors(history)` with the item's vector, the same score the model
gives its trained items. An item added through this replica is served at once
(`refresh()`); one added through another is read from the store within
`CHECK_SECONDS` (`recent()`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from pairrank.data.item_text import ATTRIBUTE_JOIN
from pairrank.models.base import Recommender
from pairrank.serve.events import EventStore, ItemRevision

CHECK_SECONDS = 0.5  # how stale another replica's added items may be here
# Revisions re-read behind the newest one seen: two replicas' transactions can commit a lower sequence number
# after a higher one (PostgreSQL), and a revision must not be skipped for that.
RECHECK = 100


@dataclass(frozen=True)
class Snapshot:
    """The added items at one moment: a request reads one snapshot throughout."""

    ids: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    attributes: tuple[frozenset[str], ...] = ()
    vectors: np.ndarray | None = None
    rows: dict[str, int] = field(default_factory=dict)  # item id -> row
    seqs: tuple[int, ...] = ()  # the revision each row holds

    def __len__(self) -> int:
        return len(self.ids)


class AddedItems:
    """The latest revision of each added item and its vector, refreshed from the store."""

    def __init__(self, model: Recommender, store: EventStore, check_seconds: float = CHECK_SECONDS):
        self.model, self.store, self.check_seconds = model, store, check_seconds
        self.current = Snapshot()
        self._seen = 0  # the newest revision read from the store
        self._applied: set[int] = set()  # revisions read within RECHECK of it
        self._checked = -np.inf  # when the store was last asked
        self._lock = threading.Lock()

    def recent(self) -> Snapshot:
        """The added items, asking the store for other replicas' revisions at most every `check_seconds`."""
        if time.monotonic() - self._checked >= self.check_seconds:
            return self.refresh()
        return self.current

    def refresh(self) -> Snapshot:
        """Take in the revisions stored since the last refresh (by this replica or another); the new snapshot
        replaces the old one at once, so a request in flight keeps a consistent view."""
        with self._lock:
            self._checked = time.monotonic()
            since = max(0, self._seen - RECHECK)
            revisions = [r for r in self.store.items_after(since) if r.seq not in self._applied]
            if revisions:
                vectors = self.model.new_item_vectors([revision.text for revision in revisions])
                self.current = _with(self.current, revisions, vectors)
                self._seen = max(self._seen, revisions[-1].seq)
                self._applied = {seq for seq in self._applied | {r.seq for r in revisions} if seq > since}
            return self.current

    def scores(self, items: Snapshot, history: np.ndarray) -> np.ndarray:
        """[len(items)] the history's score for each added item."""
        if not len(items):
            return np.zeros(0, dtype=np.float32)
        return self.model.history_vectors([history])[0] @ items.vectors.T

    def support(self, items: Snapshot, history: np.ndarray, rows: np.ndarray, latest: int) -> np.ndarray:
        """[min(latest, len(history)), len(rows)]: how much each added item's score falls when each of the
        history's latest items is taken out (occlusion, as `models.explain` does for trained items)."""
        considered = range(max(0, len(history) - latest), len(history))
        histories = [history, *(np.delete(history, position) for position in considered)]
        scores = self.model.history_vectors(histories) @ items.vectors[rows].T
        return scores[0] - scores[1:]


def _with(items: Snapshot, revisions: list[ItemRevision], vectors: np.ndarray) -> Snapshot:
    """`items` with the revisions applied: an id's newest revision (highest sequence number) wins, whatever
    order they arrive in."""
    ids, titles, attributes = list(items.ids), list(items.titles), list(items.attributes)
    seqs, rows = list(items.seqs), dict(items.rows)
    stacked = [] if items.vectors is None else list(items.vectors)
    for revision, vector in zip(revisions, vectors):
        values = frozenset(filter(None, revision.attributes.split(ATTRIBUTE_JOIN)))
        row = rows.get(revision.item_id)
        if row is None:
            rows[revision.item_id] = len(ids)
            ids.append(revision.item_id)
            titles.append(revision.title)
            attributes.append(values)
            stacked.append(vector)
            seqs.append(revision.seq)
        elif revision.seq > seqs[row]:
            titles[row], attributes[row], stacked[row], seqs[row] = revision.title, values, vector, revision.seq
    return Snapshot(
        tuple(ids), tuple(titles), tuple(attributes), np.asarray(stacked, dtype=np.float32), rows, tuple(seqs)
    )
