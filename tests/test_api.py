"""The id-level face: `pairrank.load(run)` and `pairrank recommend --user`, with titles."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pairrank
from pairrank.api import Ranker
from pairrank.cli import app
from pairrank.data.split_data import SplitData
from pairrank.errors import ConfigError, DataError, DataWarning
from pairrank.experiments.training import train_model

runner = CliRunner()


def seen_by(data: SplitData, user: str) -> set[str]:
    train = data.split.train
    return set(train.loc[train["user_id"].astype(str) == user, "item_id"].astype(str))


def test_load_and_recommend_by_user_id_with_titles(ease_run, loo_data, small_items):
    model = pairrank.load(ease_run)
    recs = model.recommend(["1", "7"], k=5)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "title"]
    assert recs.groupby("user_id")["rank"].apply(list).to_dict() == {"1": [1, 2, 3, 4, 5], "7": [1, 2, 3, 4, 5]}
    for user in ("1", "7"):
        assert not set(recs.loc[recs["user_id"] == user, "item_id"]) & seen_by(loo_data, user)
    titles = small_items.set_index("item_id")["title"]
    assert recs["title"].tolist() == titles.loc[recs["item_id"]].tolist()


def test_recommend_history_by_item_ids(ease_run, loo_data):
    model = pairrank.load(ease_run)
    history = sorted(seen_by(loo_data, "1"))[:4]
    with pytest.warns(DataWarning, match="skipped 1 item id"):
        recs = model.recommend_history([*history, "no-such-item"], k=8)
    assert len(recs) == 8 and set(recs["user_id"]) == {"history"} and not set(recs["item_id"]) & set(history)
    with pytest.raises(DataError, match="none of the history's items is in the model's catalogue"):
        model.recommend_history(["no-such-item"], k=3)


def test_unknown_users_are_named(ease_run):
    with pytest.raises(DataError, match=r"unknown user id\(s\) 'nobody', 'ghost': the run knows 80 users"):
        pairrank.load(ease_run).recommend(["1", "nobody", "ghost"])


def test_a_model_that_scores_only_known_users_refuses_histories_by_name(loo_data):
    model, _ = train_model(loo_data, "bprmf", {"epochs": 1})
    with pytest.raises(ConfigError, match="bprmf cannot recommend for a history given now.*models that can: mostpop"):
        Ranker(model).recommend_history(["1"])
    assert len(Ranker(model).recommend(["1"], k=3)) == 3


def test_index_level_recommend_refuses_ids_with_the_way_to_pass_them(ease_run):
    with pytest.raises(TypeError, match=r"for user ids use pairrank.api.Ranker\(model\).recommend"):
        pairrank.load(ease_run).model.recommend(["1"], 5)
    assert pairrank.load(ease_run).model.recommend(np.array([0]), 5)[0].shape == (1, 5)


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def test_cli_recommend_for_users_prints_titles_and_machine_formats(ease_run, small_items):
    result, output = invoke("recommend", "--run", ease_run, "--user", "1", "--user", "7", "--k", 3)
    assert result.exit_code == 0, output
    assert "top-3 for user 1" in output and "top-3 for user 7" in output
    expected = pairrank.load(ease_run).recommend(["1"], k=3)
    assert all(title[:20] in output for title in expected["title"])

    result, output = invoke("recommend", "--run", ease_run, "--user", "1", "--k", 3, "--format", "json")
    assert result.exit_code == 0, output
    rows = json.loads(output)
    assert [r["item_id"] for r in rows] == expected["item_id"].tolist() and rows[0]["title"] == expected["title"][0]

    result, output = invoke("recommend", "--run", ease_run, "--user", "1", "--k", 3, "--format", "csv")
    frame = pd.read_csv(io.StringIO(output), dtype={"user_id": str, "item_id": str})
    assert frame["item_id"].tolist() == expected["item_id"].tolist()


def test_cli_unknown_user_and_many_lists_without_out_are_one_line_errors(ease_run, small_loo_split):
    result, output = invoke("recommend", "--run", ease_run, "--user", "nobody")
    assert result.exit_code == 2 and "unknown user id(s) 'nobody'" in " ".join(output.split())
    result, output = invoke("recommend", "--run", ease_run, "--split", small_loo_split)
    assert result.exit_code == 2 and "--split gives many lists" in " ".join(output.split())
