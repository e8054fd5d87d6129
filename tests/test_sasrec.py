"""SASRec, the id-only sequential peer, on a real (small) MovieLens split."""

from __future__ import annotations

import numpy as np
import pytest

from pairrank.errors import ConfigError
from pairrank.experiments.training import model_config, train_model
from pairrank.models.registry import load_model

SMALL = {"epochs": 4, "patience": 4, "max_history": 20, "dim": 16, "layers": 1, "lr": 0.005}


@pytest.fixture(scope="module")
def fitted(loo_data):
    return train_model(loo_data, "sasrec", SMALL)


def test_training_improves_validation_ndcg(fitted):
    _, info = fitted
    assert len(info["curve"]) == 4
    assert max(info["curve"][1:]) > info["curve"][0]


def test_it_is_the_attention_network_over_item_ids_alone(fitted):
    model, _ = fitted
    assert model.net.users.kind == "attention"
    assert model.net.items.text_mlp is None and model.net.items.ids is not None
    assert model.tower.negatives == "all"  # the default loss is full cross-entropy over the catalogue


def test_the_order_of_the_history_changes_the_scores(fitted):
    model, _ = fitted
    history = model.user_history(0)
    forward, backward = model._score_histories([history, history[::-1].copy()])
    assert not np.allclose(forward, backward)


def test_save_load_gives_identical_scores(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "sasrec")
    loaded = load_model(tmp_path / "sasrec")
    assert loaded.name == "sasrec" and loaded.config == model.config
    np.testing.assert_allclose(loaded.score(np.arange(8)), model.score(np.arange(8)), rtol=1e-5, atol=1e-5)


def test_the_pairwise_loss_trains_too(loo_data):
    model, info = train_model(loo_data, "sasrec", {**SMALL, "loss": "bpr", "epochs": 2})
    assert model.tower.negatives == "uniform" and model.tower.num_negatives == 1
    assert np.isfinite(model.score(np.arange(3))).all() and len(info["curve"]) == 2


@pytest.mark.parametrize(
    "options, message",
    [
        ({"use_text": False}, "unknown option"),
        ({"loss": "hinge"}, "option 'loss': Input should be 'softmax' or 'bpr'"),
        ({"dim": 30, "heads": 4}, r"dim \(30\) must be divisible by heads \(4\)"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        model_config("sasrec", {**SMALL, **options})
