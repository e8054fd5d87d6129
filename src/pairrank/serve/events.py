"""The service's durable store: users' feedback and items added after training, kept in SQL (SQLite by
default, PostgreSQL by URL).

An event is committed before `add` returns, so a response that acknowledges it
survives a crash of the process: SQLite runs in WAL mode with `synchronous=FULL`
(the WAL is synced at every commit). An event's optional `event_id` makes a
retried batch idempotent: an id already stored is counted as a duplicate and not
stored again. `history(user_id)` gives a user's stored items, oldest first (by
timestamp, then arrival), which the service appends to the trained history.

Items posted to the service are kept as an append-only log of revisions: the
latest revision of an item id wins, and `items_after(seq)` gives a replica what
it has not seen yet, so every replica over one database serves the same items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pairrank.errors import ConfigError

METADATA = sa.MetaData()
EVENTS = sa.Table(
    "pairrank_events",
    METADATA,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(200), unique=True, nullable=True),
    sa.Column("user_id", sa.String(200), nullable=False, index=True),
    sa.Column("item_id", sa.String(200), nullable=False),
    sa.Column("event", sa.String(50), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
)

ITEMS = sa.Table(
    "pairrank_items",
    METADATA,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(200), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("attributes", sa.Text, nullable=False),  # '|'-joined
)


@dataclass(frozen=True)
class ItemRevision:
    item_id: str
    title: str
    description: str = ""
    attributes: str = ""  # '|'-joined
    seq: int = 0  # its place in the log (0 until stored)

    @property
    def text(self) -> str:
        """What the text encoder reads: the non-empty fields joined as a catalogue's item text is."""
        return ". ".join(part for part in (self.title, self.description, self.attributes) if part)


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    event: str = "interaction"
    timestamp: float | None = None  # seconds since the epoch; None: when it is stored
    event_id: str | None = None  # a retry with the same id is stored once


@dataclass(frozen=True)
class Stored:
    stored: int  # new events committed
    duplicates: int  # events whose event_id was already stored


def database_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL: a file path is SQLite; `postgresql://` uses the psycopg (3) driver."""
    text = str(url_or_path)
    if "://" not in text:
        return f"sqlite:///{Path(text).resolve()}"
    return "postgresql+psycopg://" + text.removeprefix("postgresql://") if text.startswith("postgresql://") else text


class EventStore:
    """Events and added items in two tables of one SQL database; safe to share between threads and replicas."""

    def __init__(self, url: str | Path):
        self.url = database_url(url)
        try:
            self.engine = _engine(self.url)
            METADATA.create_all(self.engine)
        except (ArgumentError, NoSuchModuleError, SQLAlchemyError) as error:
            raise ConfigError(f"cannot open the event store {make_url(self.url)!r}: {error}") from None

    def add(self, events: Sequence[Event]) -> Stored:
        """Store a batch in one transaction, committed before this returns."""
        now = time.time()
        rows = [
            {
                "event_id": e.event_id,
                "user_id": e.user_id,
                "item_id": e.item_id,
                "event": e.event,
                "timestamp": now if e.timestamp is None else float(e.timestamp),
            }
            for e in events
        ]
        stored = 0
        with self.engine.begin() as connection:
            for row in rows:
                insert = self._insert().values(**row).on_conflict_do_nothing(index_elements=["event_id"])
                stored += len(connection.execute(insert.returning(EVENTS.c.seq)).all())
        return Stored(stored, len(rows) - stored)

    def history(self, user_id: str) -> list[str]:
        """The user's stored item ids, oldest first."""
        query = (
            sa.select(EVENTS.c.item_id).where(EVENTS.c.user_id == user_id).order_by(EVENTS.c.timestamp, EVENTS.c.seq)
        )
        with self.engine.connect() as connection:
            return [row.item_id for row in connection.execute(query)]

    def put_items(self, items: Sequence[ItemRevision]) -> None:
        """Store new revisions of items in one transaction, committed before this returns."""
        rows = [
            {"item_id": i.item_id, "title": i.title, "description": i.description, "attributes": i.attributes}
            for i in items
        ]
        with self.engine.begin() as connection:
            connection.execute(sa.insert(ITEMS), rows)

    def items_after(self, seq: int) -> list[ItemRevision]:
        """Item revisions stored after `seq`, oldest first."""
        query = sa.select(ITEMS).where(ITEMS.c.seq > seq).order_by(ITEMS.c.seq)
        with self.engine.connect() as connection:
            return [
                ItemRevision(row.item_id, row.title, row.description, row.attributes, int(row.seq))
                for row in connection.execute(query)
            ]

    def all_events(self) -> pd.DataFrame:
        """Every stored event (user_id, item_id, event, timestamp), oldest first."""
        query = sa.select(EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.event, EVENTS.c.timestamp).order_by(
            EVENTS.c.timestamp, EVENTS.c.seq
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        if self.engine.dialect.name not in ("postgresql", "sqlite"):
            raise ConfigError(f"the event store runs on SQLite or PostgreSQL, not {self.engine.dialect.name}")
        return dialect.insert(EVENTS)


def _engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _durable(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine
