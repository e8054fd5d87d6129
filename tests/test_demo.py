"""`pairrank demo` trains the language-model ranker beside the baselines and shows one user's lists and why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from pairrank.cli import app


def small_movielens(source: Path, out: Path, users: int = 40) -> Path:
    """The first `users` users of the bundled sample, with their movies and those movies' tags."""
    out.mkdir()
    ratings = pd.read_csv(source / "ratings.csv", dtype=str)
    ratings = ratings[ratings["userId"].astype(int) <= users]
    ratings.to_csv(out / "ratings.csv", index=False)
    for name in ("movies.csv", "tags.csv"):
        frame = pd.read_csv(source / name, dtype=str)
        frame[frame["movieId"].isin(set(ratings["movieId"]))].to_csv(out / name, index=False)
    return out


def test_demo_trains_twotower_beside_the_baselines_and_explains_one_users_list(tmp_path, movielens_dir):
    data = small_movielens(movielens_dir, tmp_path / "ml")
    result = CliRunner().invoke(app, ["demo", "--data", str(data), "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo" / "benchmark" / "results.json").read_text())
    assert [r["model"] for r in summary["results"]] == ["mostpop", "itemknn", "ease", "textknn", "twotower"]
    assert (tmp_path / "demo" / "benchmark" / "runs" / "twotower" / "model.safetensors").exists()
    output = result.output
    assert "twotower for user" in output and "the history items each leans on most" in output
    assert "because of" in output
    assert f"pairrank serve --run {tmp_path / 'demo' / 'benchmark' / 'runs' / 'twotower'}" in output
    assert "http://127.0.0.1:8000/" in output
