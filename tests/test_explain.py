"""Explanations: supporting history items from the user's own history, whose removal lowers the score,
and the attributes they share; through the Python API and `pairrank recommend --explain`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pairrank.api import Ranker
from pairrank.cli import app
from pairrank.data.item_text import item_attributes
from pairrank.experiments.training import train_model
from pairrank.models.explain import explain


def test_attributes_come_from_list_columns_each_once():
    items = pd.DataFrame(
        {"item_id": ["1", "2"], "genres": ["Drama|Crime", "(no genres listed)"], "tags": ["heist, drama", ""]}
    )
    assert item_attributes(items).tolist() == ["Drama|Crime|heist", ""]


@pytest.fixture(scope="module")
def ease_ranker(ease_run) -> Ranker:
    return Ranker.load(ease_run)


def test_supporting_items_are_the_users_own_and_removing_the_first_lowers_the_score(ease_ranker, loo_data):
    model = ease_ranker.model
    user_ids = model.users.ids[:40].tolist()
    recs = ease_ranker.recommend(user_ids, k=5, explain=True)
    lowered = []
    for user_id, rows in recs.groupby("user_id"):
        user = model.users.index(np.array([user_id]))[0]
        history = model.user_history(user)
        items = model.items.index(rows["item_id"].astype(str).to_numpy())
        for item, because in zip(items, rows["because_ids"]):
            supporting = model.items.index(np.array(because.split("|"))) if because else np.zeros(0, np.int64)
            assert np.isin(supporting, history).all() and len(supporting) <= 3
            if len(supporting):
                without = history[history != supporting[0]]
                before, after = model._score_histories([history, without])[:, item]
                lowered.append(after < before)
    assert len(lowered) >= 150 and np.mean(lowered) > 0.9


def test_shared_attributes_belong_to_the_item_and_to_a_supporting_item(ease_ranker):
    model = ease_ranker.model
    recs = ease_ranker.recommend(model.users.ids[:20].tolist(), k=5, explain=True)
    attributes = dict(zip(model.items.ids, model.item_attributes))
    assert (recs["shared_attributes"] != "").mean() > 0.5  # MovieLens genres are widely shared
    for row in recs.itertuples():
        theirs = set().union(*(attributes[i].split("|") for i in row.because_ids.split("|") if i))
        for value in filter(None, row.shared_attributes.split("|")):
            assert value in attributes[str(row.item_id)].split("|") and value in theirs


def test_pipeline_explains_by_text_similarity_from_the_users_recent_items(loo_data):
    model, _ = train_model(loo_data, "pipeline", {"retrievers": ["ease", "textknn"]})
    history = model.user_history(0)
    items, _ = model.recommend(np.array([0]), 5)
    why = explain(model, history, items[0])
    assert np.isin(why.because[why.because >= 0], history).all()
    vectors = model.stats.text_vectors
    for item, because, weights in zip(items[0], why.because, why.weights):
        assert np.allclose(weights[because >= 0], vectors[because[because >= 0]] @ vectors[item])
        assert (np.diff(weights) <= 1e-6).all()


def test_recommend_explain_writes_the_columns(ease_run, ease_ranker, tmp_path):
    user = ease_ranker.model.users.ids[0]
    out = tmp_path / "why.csv"
    result = CliRunner().invoke(
        app, ["recommend", "--run", str(ease_run), "--user", user, "--explain", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert {"because_ids", "because_titles", "shared_attributes"} <= set(recs.columns)
    assert (recs["because_ids"] != "").all()
    table = CliRunner().invoke(app, ["recommend", "--run", str(ease_run), "--user", user, "--explain"])
    assert table.exit_code == 0 and "because of" in table.output
