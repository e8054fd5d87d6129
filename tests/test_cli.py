"""The `pairrank` commands end to end, and their one-line errors (exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pairrank.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def ratings_csv(tmp_path: Path, small_ratings: pd.DataFrame) -> Path:
    path = tmp_path / "events.csv"
    small_ratings.rename(columns={"user_id": "visitor", "item_id": "sku"}).to_csv(path, index=False)
    return path


def test_split_train_recommend_evaluate(tmp_path, ratings_csv):
    split_dir, run_dir, recs = tmp_path / "split", tmp_path / "run", tmp_path / "recs.csv"
    result = invoke(
        "split",
        "--data",
        ratings_csv,
        "--format",
        "csv",
        "--columns",
        "user_id=visitor,item_id=sku",
        "--protocol",
        "loo",
        "--out",
        split_dir,
    )
    assert result.exit_code == 0, result.output
    assert {"train.csv", "valid.csv", "test.csv", "items.csv", "split.json"} <= {p.name for p in split_dir.iterdir()}
    assert invoke("train", "--split", split_dir, "--model", "itemknn", "--final", "--out", run_dir).exit_code == 0
    result = invoke("recommend", "--run", run_dir, "--split", split_dir, "--k", "100", "--out", recs)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(recs, dtype={"user_id": str, "item_id": str})
    assert list(frame.columns[:3]) == ["user_id", "item_id", "rank"]
    assert frame.groupby("user_id")["rank"].max().min() == 100
    metrics_json = tmp_path / "metrics.json"
    result = invoke("evaluate", "--split", split_dir, "--recs", recs, "--json", metrics_json)
    assert result.exit_code == 0, result.output
    metrics = json.loads(metrics_json.read_text())
    for key in ("ndcg@10", "recall@20", "map@10", "precision@10", "f1@20", "mrr@10", "hitrate@10", "coverage@10"):
        assert key in metrics
    assert 0 < metrics["hitrate@20"] <= 1
    assert metrics["counts"]["n_seen_dropped"] == 0


def test_evaluate_rejects_recommended_training_items(tmp_path, small_loo_split):
    train = pd.read_csv(small_loo_split / "train.csv", dtype=str)
    bad = train.groupby("user_id").head(3).assign(rank=lambda f: f.groupby("user_id").cumcount() + 1)
    bad[["user_id", "item_id", "rank"]].to_csv(tmp_path / "bad.csv", index=False)
    result = invoke("evaluate", "--split", small_loo_split, "--recs", tmp_path / "bad.csv")
    assert result.exit_code == 2
    assert "bad.csv" in result.output
    counted = invoke("evaluate", "--split", small_loo_split, "--recs", tmp_path / "bad.csv", "--on-seen", "count")
    assert counted.exit_code == 0, counted.output


BAD_FILES = {
    "empty": (b"", "empty"),
    "missing_column": (b"user,product,ts\n1,2,3\n", "item_id"),
    "wrong_delimiter": (b"user_id;item_id;timestamp\n1;2;3\n", "';'-delimited"),
    "timestamp": (b"user_id,item_id,timestamp\n1,2,3\n1,3,yesterday\n", ":3: field 'timestamp'"),
    "encoding": ("user_id,item_id,timestamp\n1,caf\u00e9,3\n".encode("latin-1"), ":2"),
    "blank_id": (b"user_id,item_id,timestamp\n1,2,3\n ,3,4\n", ":3: field 'user_id'"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_input_is_one_line_naming_file_and_exit_2(tmp_path, case):
    content, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    result = invoke("split", "--data", path, "--format", "csv", "--protocol", "loo", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"{case}.csv" in message and expected in message
    assert not (tmp_path / "out").exists()


def test_skip_bad_rows_reports_the_count(tmp_path):
    lines = ["user_id,item_id,timestamp"] + [f"u{u},i{i},{u * 100 + i}" for u in range(3) for i in range(6)]
    lines += ["u0,i9,not-a-time", ",i3,5"]
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(
        "split",
        "--data",
        path,
        "--format",
        "csv",
        "--protocol",
        "loo",
        "--out",
        tmp_path / "out",
        "--on-bad-rows",
        "skip",
    )
    assert result.exit_code == 0, result.output
    assert "skipped 2 bad row" in result.output
    assert len(pd.read_csv(tmp_path / "out" / "test.csv")) == 3


def test_console_script_help_and_error_exit_code(tmp_path):
    exe = Path(sys.executable).with_name("pairrank")
    help_text = subprocess.run([exe, "benchmark", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--models" in help_text and "--out" in help_text
    missing = subprocess.run(
        [exe, "evaluate", "--split", tmp_path / "nope", "--recs", tmp_path / "r.csv"], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "nope" in missing.stderr and "Traceback" not in missing.stderr


def test_compare_runs_a_paired_test(tmp_path, small_loo_split):
    recs = {}
    for model in ("mostpop", "ease"):
        run = tmp_path / model
        assert invoke("train", "--split", small_loo_split, "--model", model, "--out", run).exit_code == 0
        recs[model] = tmp_path / f"{model}.parquet"
        assert invoke("recommend", "--run", run, "--split", small_loo_split, "--out", recs[model]).exit_code == 0
    result = invoke("compare", "--split", small_loo_split, "--recs-a", recs["ease"], "--recs-b", recs["mostpop"])
    assert result.exit_code == 0, result.output
    assert "p rand" in result.output and "ndcg@10" in result.output
    same = invoke("compare", "--split", small_loo_split, "--recs-a", recs["ease"], "--recs-b", recs["ease"])
    assert "+0.0000" in same.output


def test_unknown_model_and_bad_options_exit_2(tmp_path, small_loo_split):
    result = invoke("train", "--split", small_loo_split, "--model", "nope", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "choose one of" in result.output
    config = tmp_path / "ease.json"
    config.write_text('{"lambda": 3}')
    result = invoke("train", "--split", small_loo_split, "--model", "ease", "--config", config, "--out", tmp_path / "r")
    assert result.exit_code == 2 and "unknown option" in result.output and "l2" in result.output
