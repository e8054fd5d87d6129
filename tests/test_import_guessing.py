"""Imports never guess silently: time columns are found or named, unused columns listed, empty splits refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from pairrank.cli import app

runner = CliRunner()


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    return result, " ".join(result.output.split())


def events(tmp_path: Path, small_ratings: pd.DataFrame, columns: dict[str, str], name: str = "events.csv") -> Path:
    """The bundled ratings with ISO-8601 times, renamed as a newcomer's export might name them."""
    frame = small_ratings.assign(timestamp=pd.to_datetime(small_ratings["timestamp"], unit="s").dt.strftime("%FT%T"))
    path = tmp_path / name
    frame.rename(columns=columns).to_csv(path, index=False)
    return path


def test_a_time_column_under_another_name_is_used_and_said(tmp_path, small_ratings):
    renamed = {"user_id": "uid", "item_id": "iid", "timestamp": "when"}
    path = events(tmp_path, small_ratings.assign(note="seen on tv"), renamed)
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 0, output
    assert "using column 'when' as the timestamp" in output and "--columns timestamp=COLUMN" in output
    assert "columns not used: ['note']" in output
    test = pd.read_csv(tmp_path / "s" / "test.csv", dtype={"user_id": str, "item_id": str})
    latest = small_ratings.sort_values("timestamp", kind="stable").groupby("user_id").tail(1)
    held_out = test.set_index("user_id")["timestamp"]
    assert (held_out.loc[latest["user_id"]].to_numpy() == latest["timestamp"].to_numpy()).all()  # the latest, in s


def test_two_time_like_columns_are_an_error_naming_both(tmp_path, small_ratings):
    path = events(tmp_path, small_ratings.assign(updated_at="2024-01-01"), {"timestamp": "when"})
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 2
    assert "several columns look like a time: ['when', 'updated_at']" in output and "--columns timestamp=" in output
    assert not (tmp_path / "s").exists()


def test_iso_dates_and_times_are_read_as_seconds(tmp_path):
    path = tmp_path / "dated.csv"
    rows = [f"u{u},i{i},2024-05-0{i + 1}" for u in range(2) for i in range(5)]
    rows[0] = "u0,i0,2024-05-01T02:00:00+02:00"  # midnight UTC
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 0, output
    train = pd.read_csv(tmp_path / "s" / "train.csv")
    assert train["timestamp"].iloc[0] == 1714521600 and train["timestamp"].iloc[1] == 1714521600 + 86400


def test_a_bad_time_names_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user_id,item_id,timestamp\nu1,i1,2024-05-01\nu1,i2,yesterday\n")
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 2
    expected = "bad.csv:3: field 'timestamp': timestamp is not a number of seconds or an ISO-8601 date: 'yesterday'"
    assert expected in output


def test_no_timestamp_is_said(tmp_path, small_ratings):
    path = tmp_path / "plain.csv"
    small_ratings[["user_id", "item_id"]].to_csv(path, index=False)
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 0, output
    assert "no timestamp, so each user's history gets a seeded random order" in output


def test_a_split_the_user_filter_empties_is_an_error_naming_the_filter(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("user_id,item_id\n" + "\n".join(f"u{n},i{n}" for n in range(10)) + "\n")
    result, output = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "s")
    assert result.exit_code == 2
    assert "few.csv: no user has 5 or more distinct items (10 users, 10 rows)" in output
    assert "5-interaction user filter left nothing to split" in output
    assert not (tmp_path / "s").exists()


def test_recommend_history_reads_the_same_aliases_and_mapping_as_split(tmp_path, ease_run, small_ratings):
    history = small_ratings[small_ratings["user_id"] == "1"].head(5)
    aliased = tmp_path / "aliased.csv"
    history.rename(columns={"user_id": "uid", "item_id": "iid"})[["uid", "iid"]].to_csv(aliased, index=False)
    mapped = tmp_path / "mapped.csv"
    history.rename(columns={"user_id": "visitor", "item_id": "sku"})[["visitor", "sku"]].to_csv(mapped, index=False)
    outs = []
    for path, extra in ((aliased, []), (mapped, ["--columns", "user_id=visitor,item_id=sku"])):
        out = tmp_path / f"recs-{path.stem}.csv"
        result, output = invoke("recommend", "--run", ease_run, "--history", path, "--out", out, "--k", 5, *extra)
        assert result.exit_code == 0, output
        outs.append(pd.read_csv(out, dtype=str))
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert len(outs[0]) == 5 and set(outs[0]["user_id"]) == {"1"}
