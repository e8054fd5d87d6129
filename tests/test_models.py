"""Baselines behind the common model face, on a real (small) MovieLens split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.errors import ConfigError
from pairrank.experiments.training import train_model
from pairrank.models.base import Recommender, top_k
from pairrank.models.ease import EASE, item_gram, solve_precision
from pairrank.models.itemknn import ItemKNN
from pairrank.models.registry import baseline_names, load_model, model_class
from pairrank.models.userknn import UserKNN
from pairrank.train.checkpoint import load_checkpoint
from pairrank.train.loop import Trainer

BASELINES = baseline_names()

FAST_CONFIGS = {"bprmf": {"epochs": 8, "patience": 3, "lr": 0.01}}


@pytest.fixture(scope="module")
def fitted(loo_data) -> dict[str, Recommender]:
    return {name: train_model(loo_data, name, FAST_CONFIGS.get(name))[0] for name in BASELINES}


@pytest.mark.parametrize("name", BASELINES)
def test_recommend_excludes_history_and_sorts(fitted, loo_data, name):
    model = fitted[name]
    users = np.arange(20)
    top, scores = model.recommend(users, 50)
    assert top.shape == (20, 50)
    history = model.history[users].toarray().astype(bool)
    assert not history[np.arange(20)[:, None], top].any()
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    assert np.allclose(scores, np.take_along_axis(model.score(users), top, axis=1), atol=1e-5)


@pytest.mark.parametrize("name", BASELINES)
def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path, name):
    model = fitted[name]
    model.save(tmp_path / name)
    meta = json.loads((tmp_path / name / "config.json").read_text())
    assert meta["model"] == name
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model)
    users = np.arange(10)
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-6, atol=1e-6)
    assert loaded.recommend(users, 10)[0].tolist() == model.recommend(users, 10)[0].tolist()


def test_candidates_restrict_the_ranking(fitted):
    candidates = np.array([3, 7, 11, 200, 300])
    top, _ = fitted["ease"].recommend(np.arange(5), 10, candidates=candidates, exclude_seen=False)
    assert set(top[top >= 0].ravel()) <= set(candidates)
    assert (top[:, 5:] == -1).all()


def test_ease_int8_storage_is_a_quarter_of_float32_and_loads_to_the_same_scores(loo_data, tmp_path):
    from safetensors.numpy import load_file

    train = loo_data.train()
    exact, small = EASE(storage="float32").fit(train), EASE().fit(train)
    assert small.config.storage == "int8"
    exact.save(tmp_path / "float32"), small.save(tmp_path / "int8")
    stored = load_file(str(tmp_path / "int8" / "model.safetensors"))
    assert "weights" not in stored and stored["codes"].dtype == np.int8
    assert stored["codes"].shape == load_file(str(tmp_path / "float32" / "model.safetensors"))["weights"].shape
    users = np.arange(30)
    np.testing.assert_array_equal(load_model(tmp_path / "int8").score(users), small.score(users))
    step = np.abs(exact.weights).max(axis=0) / 127  # int8 moves each weight by at most half a step
    assert (np.abs(small.weights - exact.weights) <= step / 2 + 1e-7).all()
    assert not np.array_equal(small.weights, exact.weights)


def test_ease_solves_over_items_with_interactions_only(loo_data):
    train = loo_data.train()
    model = EASE(storage="float32").fit(train)
    assert model.weights.shape == (len(model.active),) * 2 and len(model.active) < train.n_items
    untouched = np.setdiff1d(np.arange(train.n_items), model.active)
    assert (model.score(np.arange(10))[:, untouched] == 0).all()


@pytest.mark.parametrize("l2", [0.01, 100.0])
def test_ease_solves_in_float32_only_where_its_error_stays_small(loo_data, l2):
    train = loo_data.train()
    model = EASE(storage="float32", l2=l2).fit(train)
    gram = item_gram(train.matrix[:, model.active])
    assert solve_precision(gram, l2) == (np.float32 if l2 == 100.0 else np.float64)
    exact = np.linalg.inv(gram.astype(np.float64) + l2 * np.eye(len(gram)))
    exact /= -np.diag(exact)
    np.fill_diagonal(exact, 0.0)
    largest = np.abs(exact).max(axis=0)
    assert (np.abs(model.weights - exact) <= 2e-4 * largest + 1e-12).all()


def test_ease_has_zero_diagonal_and_itemknn_keeps_k_neighbours(loo_data):
    train = loo_data.dataset(loo_data.split.train)
    ease = EASE(l2=50.0).fit(train)
    assert np.allclose(np.diag(ease.weights), 0.0)
    knn = ItemKNN(k=5).fit(train)
    assert np.diff(knn.similarity.tocsc().indptr).max() <= 5  # k neighbours per candidate
    assert (knn.similarity.diagonal() == 0).all()


def test_userknn_sums_the_similarities_of_the_k_nearest_other_users(loo_data, monkeypatch):
    import pairrank.models.userknn as userknn_module

    train = loo_data.train()
    model = UserKNN(k=7, shrink=5.0).fit(train)
    x = train.matrix.toarray().astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    users = np.array([0, 3, 11])
    whole = model.score(users)
    monkeypatch.setattr(userknn_module, "SIMILARITY_ENTRIES", 2 * len(model.norms))  # two rows at a time
    np.testing.assert_array_equal(model.score(users), whole)
    for user, scores in zip(users, whole):
        similarity = x @ x[user] / (norms * norms[user] + 5.0)
        similarity[user] = -np.inf  # never its own neighbour
        nearest = np.argsort(-similarity, kind="stable")[:7]
        np.testing.assert_allclose(scores, similarity[nearest] @ x[nearest], rtol=1e-4, atol=1e-5)
    # a history given now is a new user: every training user, this one included, may be a neighbour
    history = model.user_history(3)
    given = model.score_histories([history])[0]
    own = model.score(np.array([3]))[0]
    assert not np.allclose(given, own)
    unseen = np.setdiff1d(np.arange(train.n_items), history)
    assert np.corrcoef(given[unseen], own[unseen])[0, 1] > 0.9


def test_bprmf_learns_beyond_its_random_start(loo_data):
    model, info = train_model(loo_data, "bprmf", {"epochs": 10, "patience": 10, "lr": 0.01})
    curve = info["curve"]
    assert len(curve) == 10
    assert max(curve[5:]) > curve[0]


def test_final_refit_uses_the_early_stopped_epoch_count(loo_data, tmp_path):
    # lr 0.05 overfits this small split within a few epochs, so validation peaks before the last epoch
    options = {"epochs": 12, "patience": 12, "lr": 0.05}
    model, info = train_model(loo_data, "bprmf", options, final=True, trainer=Trainer(checkpoints=tmp_path))
    curve = info["curve"]
    assert len(curve) == 12
    best = int(np.argmax(curve)) + 1
    assert best < 12, "the selection run should peak before its last epoch for this test to mean anything"
    assert info["best_epoch"] == best and info["config"]["epochs"] == best and model.config.epochs == best
    refit = load_checkpoint(tmp_path / "final")
    assert refit.epoch == best and refit.finished and refit.curve == []  # the refit ran exactly that many epochs
    assert model.history.sum() == len(loo_data.split.train) + len(loo_data.split.valid)


def test_textknn_scores_items_nobody_interacted_with(small_cold_split):
    data = SplitData.from_split(Split.read(small_cold_split))
    model, _ = train_model(data, "textknn")
    cold = data.items.index(data.split.candidates)
    scores = model.score(np.arange(5), cold)
    assert np.isfinite(scores).all() and (np.abs(scores) > 0).all()
    assert np.allclose(np.linalg.norm(model.item_vectors()[cold], axis=1), 1.0, atol=1e-4)


def test_textknn_profile_is_the_recency_weighted_mean_of_the_whole_history(loo_data):
    model = model_class("textknn")(decay=0.5).fit(loo_data.train())
    user = 7
    rows = loo_data.split.train[loo_data.split.train["user_id"].astype(str) == loo_data.users.ids[user]]
    oldest_first = loo_data.items.index(rows.sort_values("timestamp", kind="stable")["item_id"].astype(str))
    ages = np.arange(len(oldest_first))[::-1]  # 0 for the latest item
    profile = (0.5**ages) @ model.item_vectors()[oldest_first]
    expected = model.item_vectors() @ (profile / np.linalg.norm(profile))
    np.testing.assert_allclose(model.score(np.array([user]))[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model._score_histories([oldest_first])[0], expected, rtol=1e-5, atol=1e-6)


def test_unknown_options_and_models_are_reported():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['lambda_'\] for ease; valid: \['l2', 'storage'\]"):
        model_class("ease")(lambda_=3)
    with pytest.raises(ConfigError, match="choose one of mostpop, itemknn, ease"):
        model_class("nope")


def test_top_k_orders_best_first():
    scores = np.array([[0.1, 0.9, 0.5, -1.0]], dtype=np.float32)
    items, values = top_k(scores, 3)
    assert items.tolist() == [[1, 2, 0]]
    np.testing.assert_allclose(values, [[0.9, 0.5, 0.1]], rtol=1e-6)


def test_bpr_loss_is_log2_at_a_tie_and_falls_as_the_margin_grows():
    import math

    import torch

    from pairrank.models.losses import bpr_loss

    tie = bpr_loss(torch.zeros(4), torch.zeros(4))
    assert tie.item() == pytest.approx(math.log(2))
    assert bpr_loss(torch.full((4,), 3.0), torch.zeros(4)) < tie < bpr_loss(torch.zeros(4), torch.full((4,), 3.0))


def test_uniform_negatives_are_never_positives(loo_data):
    from pairrank.data.dataset import PairIndex
    from pairrank.data.sampling import sample_uniform_negatives

    matrix = loo_data.dataset(loo_data.split.train).matrix
    users = np.repeat(np.arange(matrix.shape[0]), 50)
    negatives = sample_uniform_negatives(PairIndex(matrix), users, np.random.default_rng(0))
    assert not PairIndex(matrix).contains(users, negatives).any()
    assert len(np.unique(negatives)) > matrix.shape[1] // 2  # spread over the catalogue


def test_top_k_breaks_ties_by_lower_index_like_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(40, 300)).astype(np.float32)  # many ties
    scores[:, :10] = -np.inf
    items, values = top_k(scores, 25)
    reference = np.lexsort((np.broadcast_to(np.arange(300), scores.shape), -scores), axis=1)[:, :25]
    assert (items == reference).all()
    np.testing.assert_array_equal(values, np.take_along_axis(scores, reference, axis=1))


def test_early_stopping_keeps_the_best_snapshot_and_stops_after_patience():
    from pairrank.train.early_stopping import EarlyStopping

    stopping = EarlyStopping(patience=2)
    decisions = [
        stopping.update(epoch, score, lambda e=epoch: e) for epoch, score in enumerate([0.1, 0.3, 0.2, 0.25], 1)
    ]
    assert decisions == [False, False, False, True]
    assert (stopping.best_epoch, stopping.snapshot, stopping.curve) == (2, 2, [0.1, 0.3, 0.2, 0.25])
