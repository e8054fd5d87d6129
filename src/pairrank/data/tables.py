"""Read delimited, JSON-lines and Parquet files into all-string Arrow tables.

Every reader turns a failure into a `DataError` naming the file and, where
it can be known, the line: empty files, wrong delimiters, bad encodings,
rows with the wrong number of fields, unparseable JSON.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from pairrank.errors import DataError

DELIMITERS = (",", "\t", ";", "|")


def _first_line(path: Path, encoding: str) -> str:
    with open(path, "rb") as f:
        raw = f.readline()
    if not raw.strip():
        raise DataError("file is empty (no header line)", path, 1)
    try:
        return raw.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid {encoding} text ({e.reason} at byte {e.start})", path, 1) from None


def _bad_encoding_line(path: Path, encoding: str) -> DataError:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as e:
                return DataError(
                    f"not valid {encoding} text ({e.reason} at byte {e.start}); pass the file's encoding",
                    path,
                    number,
                )
    return DataError(f"not valid {encoding} text", path)


def _line_of(content: bytes, text: str, encoding: str) -> int | None:
    """1-based number of the first line equal to `text` (Arrow reports no row numbers when threaded)."""
    target = text.encode(encoding)
    for number, line in enumerate(content.splitlines(), start=1):
        if line == target:
            return number
    return None


def read_delimited(
    path: Path,
    delimiter: str = ",",
    *,
    encoding: str = "utf-8",
    header: list[str] | None = None,
    on_bad_rows: str = "error",
    data: bytes | None = None,
    allow_empty: bool = False,
) -> tuple[pa.Table, int]:
    """Read a delimited file with every column as a string.

    `header` names the columns of a file without a header line. `data`
    replaces the file's bytes (for formats that need a pre-pass); `path` is
    then used in error messages only. Returns the table and the number of
    malformed rows skipped (always 0 unless `on_bad_rows="skip"`).
    """
    path = Path(path)
    if data is None:
        if not path.exists():
            raise DataError("file not found", path)
        if path.stat().st_size == 0:
            raise DataError("file is empty", path)
    if header is None:
        first = data.split(b"\n", 1)[0].decode(encoding, "replace") if data is not None else _first_line(path, encoding)
        names = first.split(delimiter)
        if len(names) == 1:
            for other in DELIMITERS:
                if other != delimiter and other in first:
                    raise DataError(
                        f"found one column {first[:60]!r}: the file looks {other!r}-delimited, not {delimiter!r}",
                        path,
                        1,
                    )
        names = [n.strip().strip('"') for n in names]
    else:
        names = header
    invalid: list[pcsv.InvalidRow] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        invalid.append(row)  # Arrow swallows exceptions raised here, so report after reading
        return "skip"

    source: io.BytesIO | Path = io.BytesIO(data) if data is not None else path
    try:
        table = pcsv.read_csv(
            source,
            read_options=pcsv.ReadOptions(
                encoding=encoding,
                column_names=names,
                skip_rows=0 if header is not None else 1,
            ),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except DataError:
        raise
    except pa.ArrowInvalid as e:
        if "UTF8" in str(e) or "utf8" in str(e).lower():
            raise _bad_encoding_line(path, encoding) from None
        raise DataError(f"cannot parse: {e}", path) from None
    except UnicodeDecodeError:
        raise _bad_encoding_line(path, encoding) from None
    if invalid and on_bad_rows != "skip":
        row = invalid[0]
        raise DataError(
            f"expected {row.expected_columns} fields separated by {delimiter!r}, found {row.actual_columns}",
            path,
            row.number or _line_of(data if data is not None else path.read_bytes(), row.text, encoding),
        )
    if table.num_rows == 0 and not allow_empty:
        raise DataError("file has a header but no data rows", path)
    return table, len(invalid)


def read_jsonl(path: Path, *, encoding: str = "utf-8", on_bad_rows: str = "error") -> tuple[pa.Table, int]:
    """Read a JSON-lines file; nested values are kept, scalars become strings later."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    if path.stat().st_size == 0:
        raise DataError("file is empty", path)
    if encoding.lower().replace("-", "") == "utf8" and on_bad_rows == "error":
        try:
            return pjson.read_json(path), 0
        except (pa.ArrowInvalid, UnicodeDecodeError):
            pass  # fall through to the line-by-line reader, which names the line
    return _read_jsonl_lines(path, encoding, on_bad_rows)


def _read_jsonl_lines(path: Path, encoding: str, on_bad_rows: str) -> tuple[pa.Table, int]:
    rows: list[dict] = []
    skipped = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode(encoding))
                if not isinstance(record, dict):
                    raise ValueError("line is not a JSON object")
            except UnicodeDecodeError as e:
                if on_bad_rows == "skip":
                    skipped += 1
                    continue
                raise DataError(f"not valid {encoding} text ({e.reason} at byte {e.start})", path, number) from None
            except ValueError as e:
                if on_bad_rows == "skip":
                    skipped += 1
                    continue
                raise DataError(f"invalid JSON: {e}", path, number) from None
            rows.append(record)
    if not rows:
        raise DataError("no JSON records", path)
    return pa.Table.from_pylist(rows), skipped


def read_parquet(path: Path) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"not a readable Parquet file: {e}", path) from None
    if table.num_rows == 0:
        raise DataError("Parquet file has no rows", path)
    return table


def as_string(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column cast to strings (ints as '12', floats as '4.5'), nulls as ''."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
            whole = pc.and_(pc.equal(pc.floor(column), column), pc.less(pc.abs(column), 2.0**53))
            as_int = pc.cast(pc.if_else(whole, column, 0.0), pa.int64())
            column = pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
        elif pa.types.is_list(column.type) or pa.types.is_struct(column.type):
            column = pa.chunked_array(
                [pa.array([json.dumps(v) if v is not None else "" for v in column.to_pylist()], pa.string())]
            )
        else:
            column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")
