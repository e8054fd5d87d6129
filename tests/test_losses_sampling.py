"""Ranking losses, negative samplers and training windows: small exact checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.idmap import IdMap
from pairrank.data.sampling import NegativeSampler
from pairrank.errors import ConfigError
from pairrank.models.losses import make_loss

POS = torch.tensor([2.0, 0.5])
NEG = torch.tensor([[1.0, 3.0], [0.0, 9.0]])
ALL = torch.ones(2, 2, dtype=torch.bool)


def test_pairwise_losses_match_hand_computed_values():
    diffs = (POS.unsqueeze(-1) - NEG).flatten()
    torch.testing.assert_close(make_loss("bpr")(POS, NEG, ALL), -F.logsigmoid(diffs).mean())
    torch.testing.assert_close(make_loss("ranknet", sigma=2.0)(POS, NEG, ALL), F.softplus(-2.0 * diffs).mean())
    torch.testing.assert_close(make_loss("hinge", margin=1.0)(POS, NEG, ALL), F.relu(1.0 - diffs).mean())


def test_sampled_softmax_is_cross_entropy_with_the_positive_first():
    logits = torch.cat([POS.unsqueeze(-1), NEG], dim=1)
    expected = F.cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(make_loss("softmax")(POS, NEG, ALL), expected)


@pytest.mark.parametrize("name", ["bpr", "ranknet", "hinge", "softmax"])
def test_masked_negatives_do_not_count(name):
    valid = torch.tensor([[True, True], [True, False]])
    loss = make_loss(name)
    changed = NEG.clone()
    changed[1, 1] = -50.0  # a masked negative: its score must not matter
    torch.testing.assert_close(loss(POS, NEG, valid), loss(POS, changed, valid))
    assert not torch.allclose(loss(POS, NEG, ALL), loss(POS, changed, ALL))


def test_unknown_loss_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown loss 'listwise'"):
        make_loss("listwise")


@pytest.fixture
def positives() -> PairIndex:
    rows = np.repeat(np.arange(4), 30)
    cols = np.concatenate([np.arange(30) + 5 * u for u in range(4)])  # user u owns items 5u .. 5u+29
    return PairIndex(sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(4, 60)))


@pytest.mark.parametrize("kind", ["uniform", "popularity", "hard"])
def test_per_user_negatives_avoid_the_users_own_items(positives, kind):
    popularity = np.arange(60, dtype=np.float64)
    sampler = NegativeSampler(kind, positives, popularity, num_negatives=16)
    if kind == "hard":
        sampler.set_hard_pool(np.tile(np.arange(40, 50), (4, 1)))
    users = np.array([0, 1, 2, 3])
    negatives, allowed = sampler.sample(users, np.array([1, 6]), np.random.default_rng(0))
    assert negatives.shape == (4, 16)
    clash = positives.contains(np.repeat(users, 16), negatives.ravel()).reshape(4, 16)
    assert not (clash & allowed).any()
    assert allowed.mean() > 0.9
    if kind == "hard":  # half the negatives come from the mined pool
        assert ((negatives[:, :8] >= 40) & (negatives[:, :8] < 50)).all()


def test_popularity_negatives_favour_popular_items(positives):
    popularity = np.zeros(60)
    popularity[55:] = 1000.0
    sampler = NegativeSampler("popularity", positives, popularity, num_negatives=200)
    negatives, _ = sampler.sample(np.array([0]), np.array([1]), np.random.default_rng(0))
    assert (negatives >= 55).mean() > 0.8


def test_in_batch_negatives_are_the_batch_targets_masked_per_user(positives):
    sampler = NegativeSampler("in_batch", positives, np.ones(60), num_negatives=1)
    negatives, allowed = sampler.sample(np.array([0, 3]), np.array([2, 50, 2]), np.random.default_rng(0))
    assert negatives.tolist() == [[2, 50]]
    assert allowed.tolist() == [[False, True], [True, True]]  # item 2 is user 0's own (0..29), not user 3's (15..44)


def test_windows_cover_every_target_once():
    frame = pd.DataFrame({"user_id": ["u"] * 5 + ["v"], "item_id": list("abcde") + ["a"], "timestamp": range(6)})
    items = IdMap(list("abcde"))
    data = Dataset.from_frame(frame, IdMap(["u", "v"]), items)
    windows, owners = data.windows(2, pad=-1)
    letters = [[items.id_of(np.array([i]))[0] if i >= 0 else "-" for i in w] for w in windows]
    assert letters == [["c", "d", "e"], ["a", "b", "c"]]  # newest window first; "v" (one item) has none
    assert owners.tolist() == [0, 0]


def test_sampled_softmax_correction_is_the_expected_count_of_each_item(positives):
    popularity = np.zeros(60)
    popularity[:30] = 9.0
    uniform = NegativeSampler("uniform", positives, popularity, num_negatives=6)
    np.testing.assert_allclose(uniform.log_expected_count(np.array([[3, 40]])), np.log(6 / 60))
    popular = NegativeSampler("popularity", positives, popularity, num_negatives=6)
    weights = (popularity + 1.0) ** 0.75
    expected = np.log(6 * weights[[3, 40]] / weights.sum())
    np.testing.assert_allclose(popular.log_expected_count(np.array([[3, 40]]))[0], expected, rtol=1e-5)
    full = NegativeSampler("all", positives, popularity, num_negatives=1)
    negatives, allowed = full.sample(np.array([0]), np.array([1]), np.random.default_rng(0))
    assert negatives.shape == (1, 60) and allowed[0].sum() == 30 and not full.log_expected_count(negatives).any()
