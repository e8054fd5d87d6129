"""Generic CSV/TSV/JSONL/Parquet importers with column mappings and bad-row handling."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pairrank.data.importers import load_dataset
from pairrank.data.interactions import ColumnMap
from pairrank.errors import DataError

ROWS = [("u1", "a", 10, 4.0), ("u1", "b", 11, 3.5), ("u2", "a", 12, None), ("u2", "c", 13, 1.0)]


def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["visitor", "sku", "ts", "stars"])


def check(data) -> None:
    f = data.interactions
    assert f["user_id"].tolist() == ["u1", "u1", "u2", "u2"]
    assert f["item_id"].tolist() == ["a", "b", "a", "c"]
    assert f["timestamp"].tolist() == [10, 11, 12, 13]
    assert f["rating"].isna().tolist() == [False, False, True, False]
    assert f["rating"].iloc[1] == 3.5


MAPPING = ColumnMap.parse("user_id=visitor,item_id=sku,timestamp=ts,rating=stars")


def test_csv_tsv_jsonl_parquet_read_the_same(tmp_path):
    frame().to_csv(tmp_path / "e.csv", index=False)
    frame().to_csv(tmp_path / "e.tsv", index=False, sep="\t")
    frame().to_parquet(tmp_path / "e.parquet", index=False)
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(r) for r in frame().to_dict("records")))
    for fmt in ("csv", "tsv", "parquet", "jsonl"):
        check(load_dataset(tmp_path / f"e.{fmt}", fmt, columns=MAPPING))


def test_aliases_are_detected_without_a_mapping(tmp_path):
    frame().rename(columns={"visitor": "userId", "sku": "movieId", "ts": "timestamp", "stars": "rating"}).to_csv(
        tmp_path / "e.csv", index=False
    )
    check(load_dataset(tmp_path / "e.csv", "csv"))


def test_catalogue_is_read_beside_interactions(tmp_path):
    frame().to_csv(tmp_path / "e.csv", index=False)
    pd.DataFrame({"item_id": ["a", "b"], "title": ["Alpha", "Beta"]}).to_csv(tmp_path / "items.csv", index=False)
    data = load_dataset(tmp_path / "e.csv", "csv", columns=MAPPING, items=tmp_path / "items.csv")
    assert data.items["title"].tolist() == ["Alpha", "Beta"]


def test_bad_mapping_and_missing_mapped_column(tmp_path):
    frame().to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(DataError, match="bad column mapping"):
        ColumnMap.parse("person=visitor")
    with pytest.raises(DataError, match="'nope' not found") as error:
        load_dataset(tmp_path / "e.csv", "csv", columns=ColumnMap(user_id="nope", item_id="sku"))
    assert error.value.field == "user_id"


def test_wrong_field_count_names_the_line_or_is_skipped(tmp_path):
    (tmp_path / "e.csv").write_text("user_id,item_id,timestamp\nu,a,1\nu,b\nu,c,3\n")
    with pytest.raises(DataError, match="expected 3 fields") as error:
        load_dataset(tmp_path / "e.csv", "csv")
    assert error.value.line == 3
    data = load_dataset(tmp_path / "e.csv", "csv", on_bad_rows="skip")
    assert data.skipped_rows == 1
    assert data.interactions["item_id"].tolist() == ["a", "c"]


def test_bad_json_line_is_named(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"user_id": "u", "item_id": "a"}\n{"user_id": "u", item_id: 1}\n')
    with pytest.raises(DataError, match="invalid JSON") as error:
        load_dataset(tmp_path / "e.jsonl", "jsonl")
    assert error.value.line == 2


def test_unknown_format_lists_the_choices(tmp_path):
    with pytest.raises(DataError, match="movielens"):
        load_dataset(tmp_path, "xml")
