"""SQL importer: interactions (and optionally items) from a database through SQLAlchemy.

`load(url, table=...)` or `load(url, query=...)` reads the rows, converts
them to Arrow and validates them like a file (`interactions_from_table`;
"line" N is the N-th row of the result). Date-time columns become epoch
seconds (naive ones read as UTC). Every failure, from a bad URL to an SQL
error, is a `DataError` naming the URL with its password masked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError

from pairrank.data.formats._common import reject_options
from pairrank.data.interactions import ColumnMap, interactions_from_table
from pairrank.data.schema import ITEM, RawDataset
from pairrank.data.tables import as_string
from pairrank.errors import DataError


def load(
    url: str,
    *,
    query: str | None = None,
    table: str | None = None,
    columns: ColumnMap = ColumnMap(),
    on_bad_rows: str = "error",
    items_query: str | None = None,
    items_table: str | None = None,
    item_id_column: str = ITEM,
    **kwargs: object,
) -> RawDataset:
    """Interactions from `table` or `query` at `url`; items from `items_table` or `items_query`."""
    reject_options(kwargs, "sql")
    url = str(url)
    shown = mask_url(url)
    if (query is None) == (table is None):
        raise DataError("give exactly one of a table or a query", shown, field="query")
    if items_query is not None and items_table is not None:
        raise DataError("give at most one of an items table or an items query", shown, field="items_query")
    engine = _engine(url, shown)
    try:
        source = _describe(shown, table, query)
        rows = _fetch(engine, source, table=table, query=query)
        interactions, bad = interactions_from_table(rows, columns, source, on_bad_rows=on_bad_rows, header_lines=0)
        items = None
        if items_query is not None or items_table is not None:
            items_source = _describe(shown, items_table, items_query)
            fetched = _fetch(engine, items_source, table=items_table, query=items_query)
            items = _items(fetched, item_id_column, items_source)
    finally:
        engine.dispose()
    return RawDataset(interactions, items=items, skipped_rows=bad, source=shown)


def mask_url(url: str) -> str:
    """The URL with any password replaced by '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _describe(shown: str, table: str | None, query: str | None) -> str:
    if table is not None:
        return f"{shown} table {table!r}"
    text = " ".join(str(query).split())
    return f"{shown} query {text[:80] + ('...' if len(text) > 80 else '')!r}"


def _engine(url: str, shown: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:
        reason = str(e).replace(url, shown)
        raise DataError(f"not a database URL (dialect://user:password@host/database): {reason}", shown) from None
    database = parsed.database
    on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and on_disk:
        if not Path(database).is_file():
            raise DataError("SQLite database file not found", shown)
    try:
        return sa.create_engine(parsed)
    except (NoSuchModuleError, ImportError) as e:
        raise DataError(f"no driver for this database: {str(e).replace(url, shown)}", shown) from None
    except (SQLAlchemyError, ValueError) as e:
        raise DataError(f"cannot open the database: {str(e).replace(url, shown)}", shown) from None


def _fetch(engine: Engine, source: str, *, table: str | None, query: str | None) -> pa.Table:
    """The rows of a table (schema.name allowed) or of a query, as an Arrow table."""
    try:
        with engine.connect() as connection:
            if table is not None:
                schema, _, name = table.rpartition(".")
                reflected = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=connection)
                result = connection.execute(sa.select(reflected))
            else:
                result = connection.execute(sa.text(query))
            names = [str(name) for name in result.keys()]
            rows = result.fetchall()
    except NoSuchTableError:
        raise DataError("no such table", source) from None
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).splitlines()[0]
        raise DataError(f"SQL error: {reason}", source) from None
    if not rows:
        raise DataError("the result has no rows", source)
    values = list(zip(*rows))
    return pa.table({name: _to_arrow(list(column)) for name, column in zip(names, values)})


def _to_arrow(values: list) -> pa.Array:
    """One result column as Arrow; dates and date-times become epoch seconds, odd objects strings."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_date(array.type):
        array = pc.cast(array, pa.timestamp("s"))
    if pa.types.is_timestamp(array.type):
        array = pc.cast(pc.cast(array, pa.timestamp("s", array.type.tz), safe=False), pa.int64())
    return array


def _items(table: pa.Table, id_column: str, source: str) -> pd.DataFrame:
    """An all-string item catalogue with the id in `item_id`."""
    if id_column not in table.column_names:
        raise DataError(f"missing id column {id_column!r}; columns are {table.column_names}", source, field=id_column)
    items = pd.DataFrame({name: as_string(table.column(name)).to_pandas() for name in table.column_names})
    items = items.rename(columns={id_column: ITEM})
    items[ITEM] = items[ITEM].str.strip().astype(str)
    return items[items[ITEM] != ""].drop_duplicates(ITEM, keep="first").reset_index(drop=True)
