"""TwoTowerRanker on a real (small) MovieLens split: training, cold items, persistence, tower variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_small_split

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.errors import ConfigError
from pairrank.experiments.training import model_config, train_model
from pairrank.models.registry import load_model
from pairrank.models.towers import UserTower

SMALL = {"epochs": 3, "patience": 3, "max_history": 20, "dim": 16, "hidden": 32, "layers": 1, "lr": 0.005}


@pytest.fixture(scope="module")
def cold_data(small_cold_split) -> SplitData:
    return SplitData.from_split(Split.read(small_cold_split))


@pytest.fixture(scope="module")
def fitted(cold_data):
    return train_model(cold_data, "twotower", SMALL)


def test_training_improves_validation_ndcg(fitted):
    model, info = fitted
    assert len(info["curve"]) == 3
    assert max(info["curve"][1:]) > info["curve"][0]


def test_cold_items_are_scored_from_text_alone(fitted, cold_data):
    model, _ = fitted
    cold = cold_data.items.index(cold_data.split.candidates)
    assert not model.net.items.has_id[torch.from_numpy(cold)].any()
    scores = model.score(np.arange(5), cold)
    assert np.isfinite(scores).all() and scores.std() > 0
    top, _ = model.recommend(np.arange(5), 10, candidates=cold)
    assert set(top.ravel()) <= set(cold)


def test_auto_user_tower_follows_order_when_the_data_has_timestamps(fitted, tmp_path, small_ratings, small_items):
    model, _ = fitted
    assert model.config.user_tower == "gru"  # the MovieLens sample has timestamps
    orderless = write_small_split(tmp_path / "orderless", small_ratings.drop(columns="timestamp"), small_items, "loo")
    data = SplitData.from_split(Split.read(orderless))
    one_epoch = {**SMALL, "epochs": 1}
    pooled, _ = train_model(data, "twotower", one_epoch)
    assert pooled.config.user_tower == "pooling" and pooled.net.users.kind == "pooling"
    pooled.save(tmp_path / "tt")
    assert load_model(tmp_path / "tt").config.user_tower == "pooling"


def test_save_load_gives_identical_scores(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "tt")
    loaded = load_model(tmp_path / "tt")
    np.testing.assert_allclose(loaded.score(np.arange(8)), model.score(np.arange(8)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["attention", "hybrid", "gru", "pooling"])
def test_user_towers_are_causal(kind):
    torch.manual_seed(0)
    tower = UserTower(kind, dim=8, max_len=6, layers=1, heads=2, dropout=0.0).eval()
    vectors = torch.randn(2, 6, 8)
    mask = torch.ones(2, 6, dtype=torch.bool)
    changed = vectors.clone()
    changed[:, 4:] = torch.randn(2, 2, 8)  # the future must not change earlier states
    with torch.no_grad():
        before, after = tower(vectors, mask), tower(changed, mask)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 5], after[:, 5])


def test_attention_ignores_left_padding():
    torch.manual_seed(0)
    tower = UserTower("attention", dim=8, max_len=6, layers=2, heads=2, dropout=0.0).eval()
    items = torch.randn(1, 2, 8)
    long = torch.cat([torch.randn(1, 4, 8), items], dim=1)  # padding rows hold noise: it must not leak
    short = torch.cat([torch.zeros(1, 1, 8), items], dim=1)
    with torch.no_grad():
        a = tower(long, torch.tensor([[False] * 4 + [True] * 2]))
        b = tower(short, torch.tensor([[False, True, True]]))
    torch.testing.assert_close(a[:, -2:], b[:, -2:])


def test_id_only_text_only_and_full_softmax_variants_train(cold_data):
    for options in ({"use_text": False}, {"use_item_id": False, "user_tower": "attention"}, {"negatives": "all"}):
        model, _ = train_model(cold_data, "twotower", {**SMALL, **options, "epochs": 1})
        assert np.isfinite(model.score(np.arange(3))).all()


def test_user_id_vectors_shift_known_users_only(cold_data, tmp_path):
    model, _ = train_model(cold_data, "twotower", {**SMALL, "use_user_id": True, "epochs": 1})
    model.net.user_ids.weight.data += 1.0  # make the user part visible
    history = model.sequences[0][model.sequences[0] != model.net.items.padding]
    known, anonymous = model.score(np.array([0]))[0], model._score_histories([history])[0]
    assert not np.allclose(known, anonymous)
    model.save(tmp_path / "uid")
    np.testing.assert_allclose(load_model(tmp_path / "uid").score(np.array([0]))[0], known, rtol=1e-5)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"use_text": False, "use_item_id": False}, "needs use_text or use_item_id"),
        (
            {"user_tower": "lstm"},
            "option 'user_tower': Input should be 'auto', 'hybrid', 'attention', 'gru' or 'pooling'",
        ),
        ({"loss": "listwise"}, "option 'loss': Input should be 'bpr', 'hinge', 'ranknet' or 'softmax'"),
        ({"negatives": "random"}, "option 'negatives': Input should be 'all', 'uniform', 'popularity'"),
        ({"score": "l2"}, "option 'score': Input should be 'dot' or 'cosine'"),
        ({"num_negatives": 0}, "option 'num_negatives': Input should be greater than 0"),
        ({"ema_decay": 1.0}, "option 'ema_decay': Input should be less than 1"),
        ({"user_tower": "attention", "dim": 30, "heads": 4}, r"dim \(30\) must be divisible by heads \(4\)"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        model_config("twotower", {**SMALL, **options})


def test_a_history_sent_at_request_time_scores_like_the_known_user(fitted, cold_data):
    model, _ = fitted
    train = cold_data.dataset(cold_data.split.train)
    users = np.array([0, 3])
    histories = []
    for user in users:
        mine = train.user_index == user
        histories.append(train.item_index[mine][np.argsort(train.timestamps[mine], kind="stable")])
    top, scores = model.recommend_histories(histories, 10)
    expected_top, expected_scores = model.recommend(users, 10)
    np.testing.assert_array_equal(top, expected_top)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    short, _ = model.recommend_histories([histories[0][-2:]], 10)  # a new user with two items
    assert not set(short[0]) & set(histories[0][-2:]) and (short[0] >= 0).all()


def test_an_item_added_by_text_scores_as_the_catalogue_item_with_that_text(fitted, cold_data):
    model, _ = fitted
    cold = cold_data.items.index(cold_data.split.candidates)[:5]  # no id part: placed by text alone, as a new item
    texts = [cold_data.item_text[i] for i in cold]
    np.testing.assert_allclose(model.new_item_vectors(texts), model.item_vectors()[cold], rtol=1e-4, atol=1e-5)
    histories = [model.user_history(0), model.user_history(3)[-2:]]
    np.testing.assert_allclose(
        model.history_vectors(histories) @ model.item_vectors().T,
        model.score_histories(histories),
        rtol=1e-4,
        atol=1e-5,
    )
