"""Recommending for histories given at request time: library (`recommend_histories`) and CLI (`--history/--items`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.data.histories import read_histories
from pairrank.data.split_data import SplitData
from pairrank.errors import ConfigError
from pairrank.experiments.training import train_model, write_run
from pairrank.models.base import Recommender
from pairrank.models.registry import model_class, model_names

HISTORY_MODELS = ("mostpop", "itemknn", "ease", "userknn", "textknn")
runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(loo_data) -> dict[str, Recommender]:
    return {name: train_model(loo_data, name)[0] for name in HISTORY_MODELS}


def train_history(model: Recommender, data: SplitData, user: int) -> np.ndarray:
    """The user's training items as the model's item indices, in file (time) order."""
    train = data.split.train
    rows = train[train["user_id"].astype(str) == model.users.ids[user]]
    return model.items.index(rows["item_id"].astype(str).to_numpy())


@pytest.mark.parametrize("name", ["ease", "itemknn", "textknn"])
def test_known_users_history_gives_their_recommendations(fitted, loo_data, name):
    model = fitted[name]
    users = np.arange(20)
    histories = [train_history(model, loo_data, u) for u in users]
    for user, history in zip(users[:5], histories):
        expected_items, expected_scores = model.recommend([user], 20)
        items, scores = model.recommend_histories([history], 20)
        np.testing.assert_array_equal(items, expected_items)
        np.testing.assert_array_equal(scores, expected_scores)
    batch_items, _ = model.recommend_histories(histories, 20)
    np.testing.assert_array_equal(batch_items, model.recommend(users, 20)[0])


@pytest.mark.parametrize("name", HISTORY_MODELS)
def test_history_items_are_never_returned_and_candidates_respected(fitted, name):
    model = fitted[name]
    rng = np.random.default_rng(0)
    histories = [rng.choice(len(model.items), size=n, replace=False) for n in (1, 5, 30)]
    top, scores = model.recommend_histories(histories, 50)
    assert top.shape == (3, 50)
    for row, history in zip(top, histories):
        assert not set(row) & set(history)
    assert (np.diff(scores, axis=1) <= 1e-6).all()

    candidates = np.concatenate([histories[1], rng.choice(len(model.items), size=10, replace=False)])
    top, scores = model.recommend_histories(histories, 50, candidates=candidates)
    for row, history in zip(top, histories):
        returned = set(row[row >= 0])
        assert returned <= set(candidates) - set(history)
        assert len(returned) == len(set(candidates) - set(history))
    assert (top[scores == -np.inf] == -1).all()


def test_mostpop_gives_popularity_order(fitted):
    model = fitted["mostpop"]
    history = np.argsort(-model.popularity, kind="stable")[[0, 2, 7]]
    top, _ = model.recommend_histories([history], 10)
    order = np.argsort(-model.popularity, kind="stable")
    assert top[0].tolist() == [i for i in order if i not in set(history)][:10]


def test_unsupported_model_names_itself(loo_data):
    model = model_class("bprmf")()
    model.users, model.items = loo_data.users, loo_data.items  # as fit() leaves them: the refusal needs no training
    with pytest.raises(ConfigError, match="bprmf cannot recommend for a history"):
        model.recommend_histories([np.array([0, 1])], 10)


@pytest.mark.parametrize("name", model_names())
def test_flag_matches_the_hook(name):
    klass = model_class(name)
    assert klass.scores_histories == (klass._score_histories is not Recommender._score_histories)


# -- CLI ------------------------------------------------------------------------------------------------------------


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_refuses_a_model_that_scores_only_known_users_and_names_the_able_ones(tmp_path, loo_data):
    model, info = train_model(loo_data, "bprmf", {"epochs": 1})
    run = write_run(model, info, tmp_path / "bprmf")
    known = loo_data.split.train["item_id"].astype(str).iloc[0]
    result = invoke("recommend", "--run", run, "--items", known)
    assert result.exit_code == 2
    assert "models that can: mostpop, itemknn, ease, userknn, textknn, twotower" in " ".join(result.output.split())


def test_items_skips_unknown_ids_with_a_warning(tmp_path, ease_run, loo_data):
    known = loo_data.split.train["item_id"].astype(str).unique()[:4].tolist()
    out = tmp_path / "recs.csv"
    items = ",".join([*known, "nope-1", "nope-2"])
    result = invoke("recommend", "--run", ease_run, "--items", items, "--k", 15, "--out", out)
    assert result.exit_code == 0, result.output
    assert "skipped 2 item id(s)" in result.output and "'nope-1', 'nope-2'" in result.output
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "title"]  # the split's items have titles
    assert recs["rank"].tolist() == list(range(1, 16))
    assert set(recs["user_id"]) == {"history"} and not set(recs["item_id"]) & set(known)


def test_items_without_out_prints_a_table(ease_run, loo_data):
    known = loo_data.split.train["item_id"].astype(str).unique()[:3].tolist()
    result = invoke("recommend", "--run", ease_run, "--items", ",".join(known), "--k", 5)
    assert result.exit_code == 0, result.output
    assert "top-5" in result.output and "rank" in result.output


def test_history_file_gives_one_list_per_user(tmp_path, ease_run, loo_data):
    ids = loo_data.split.train["item_id"].astype(str).unique()
    history = pd.DataFrame(
        {"user_id": ["a", "b", "a", "b", "a"], "item_id": ids[:5], "timestamp": [30, 10, 10, 20, 20]}
    )
    history.to_csv(tmp_path / "history.csv", index=False)
    out = tmp_path / "recs.parquet"
    result = invoke("recommend", "--run", ease_run, "--history", tmp_path / "history.csv", "--k", 10, "--out", out)
    assert result.exit_code == 0, result.output
    recs = pd.read_parquet(out)
    assert recs.groupby("user_id")["rank"].apply(list).to_dict() == {"a": list(range(1, 11)), "b": list(range(1, 11))}
    for user, items in history.groupby("user_id")["item_id"]:
        assert not set(recs.loc[recs["user_id"] == user, "item_id"]) & set(items)


def test_history_with_no_known_item_names_the_user(tmp_path, ease_run, loo_data):
    known = loo_data.split.train["item_id"].astype(str).iloc[0]
    pd.DataFrame({"user_id": ["a", "ghost"], "item_id": [known, "nope"]}).to_csv(tmp_path / "h.csv", index=False)
    result = invoke("recommend", "--run", ease_run, "--history", tmp_path / "h.csv", "--out", tmp_path / "r.csv")
    assert result.exit_code == 2
    assert "'ghost'" in result.output


@pytest.mark.parametrize("sources", [[], ["--items", "1", "--history", "h.csv"], ["--split", "s", "--items", "1"]])
def test_exactly_one_source_is_required(tmp_path, ease_run, sources):
    result = invoke("recommend", "--run", ease_run, *sources, "--out", tmp_path / "r.csv")
    assert result.exit_code == 2
    assert "exactly one of --user, --split, --history, --items" in result.output


def histories_of(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {user: rows["item_id"].tolist() for user, rows in frame.groupby("user_id", sort=False)}


def test_histories_are_ordered_by_timestamp_else_file_order(tmp_path):
    rows = {"user_id": ["b", "a", "b", "a"], "item_id": ["1", "2", "3", "4"]}
    pd.DataFrame({**rows, "timestamp": [5, 9, 1, 3]}).to_csv(tmp_path / "timed.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "plain.parquet", index=False)
    (tmp_path / "one.txt").write_text("7\n\n8\n")
    as_lists = {
        name: histories_of(read_histories(tmp_path / name)) for name in ("timed.csv", "plain.parquet", "one.txt")
    }
    assert as_lists == {
        "timed.csv": {"b": ["3", "1"], "a": ["4", "2"]},
        "plain.parquet": {"b": ["1", "3"], "a": ["2", "4"]},
        "one.txt": {"history": ["7", "8"]},
    }
