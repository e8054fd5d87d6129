"""Baselines behind the common model face, on a real (small) MovieLens split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pairrank.data.split_io import Split
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender, top_k
from pairrank.models.ease import EASE
from pairrank.models.itemknn import ItemKNN
from pairrank.models.registry import BASELINES, model_class
from pairrank.pipeline.runs import SplitData, train_model

FAST_CONFIGS = {"bprmf": {"epochs": 8, "patience": 3, "lr": 0.01}}


@pytest.fixture(scope="module")
def loo_data(small_loo_split) -> SplitData:
    return SplitData.from_split(Split.read(small_loo_split))


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
    assert not list((tmp_path / name).glob("*.pkl"))
    loaded = Recommender.load(tmp_path / name)
    assert type(loaded) is type(model)
    users = np.arange(10)
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-6, atol=1e-6)
    assert loaded.recommend(users, 10)[0].tolist() == model.recommend(users, 10)[0].tolist()


def test_candidates_restrict_the_ranking(fitted):
    candidates = np.array([3, 7, 11, 200, 300])
    top, _ = fitted["ease"].recommend(np.arange(5), 10, candidates=candidates, exclude_seen=False)
    assert set(top[top >= 0].ravel()) <= set(candidates)
    assert (top[:, 5:] == -1).all()


def test_ease_has_zero_diagonal_and_itemknn_keeps_k_neighbours(loo_data):
    train = loo_data.dataset(loo_data.split.train)
    ease = EASE(l2=50.0).fit(train)
    assert np.allclose(np.diag(ease.weights), 0.0)
    knn = ItemKNN(k=5).fit(train)
    assert np.diff(knn.similarity.tocsc().indptr).max() <= 5  # k neighbours per candidate
    assert (knn.similarity.diagonal() == 0).all()


def test_bprmf_learns_beyond_its_random_start(loo_data):
    model, info = train_model(loo_data, "bprmf", {"epochs": 10, "patience": 10, "lr": 0.01})
    curve = info["curve"]
    assert len(curve) == 10
    assert max(curve[5:]) > curve[0]


def test_final_refit_uses_the_early_stopped_epoch_count(loo_data):
    model, info = train_model(loo_data, "bprmf", {"epochs": 6, "patience": 2}, final=True)
    assert info["final"] is True
    assert model.config.epochs <= 6
    assert model.history.sum() == len(loo_data.split.train) + len(loo_data.split.valid)


def test_textknn_scores_items_nobody_interacted_with(small_cold_split):
    data = SplitData.from_split(Split.read(small_cold_split))
    model, _ = train_model(data, "textknn")
    cold = data.items.index(data.split.candidates)
    scores = model.score(np.arange(5), cold)
    assert np.isfinite(scores).all() and (np.abs(scores) > 0).all()
    assert np.allclose(np.linalg.norm(model.item_vectors[cold], axis=1), 1.0, atol=1e-4)


def test_unknown_options_and_models_are_reported():
    with pytest.raises(ConfigError, match="valid"):
        model_class("ease")(lambda_=3)
    with pytest.raises(ConfigError, match="choose one of"):
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
    from pairrank.models.early_stopping import EarlyStopping

    stopping = EarlyStopping(patience=2)
    decisions = [
        stopping.update(epoch, score, lambda e=epoch: e) for epoch, score in enumerate([0.1, 0.3, 0.2, 0.25], 1)
    ]
    assert decisions == [False, False, False, True]
    assert (stopping.best_epoch, stopping.snapshot, stopping.curve) == (2, 2, [0.1, 0.3, 0.2, 0.25])
