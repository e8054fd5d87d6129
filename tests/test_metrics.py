"""Metric functions: hand-computed cases and a cross-check against ranx."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from pairrank.eval.metrics import (
    METRICS,
    compute_metrics,
    coverage_at_k,
    f1_at_k,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)


def one(hits: list[int], n_relevant: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array([hits], dtype=bool), np.array([n_relevant])


def test_hand_computed_single_user():
    hits, n_rel = one([1, 0, 1, 0, 0], 3)
    assert precision_at_k(hits, n_rel, 5)[0] == pytest.approx(2 / 5)
    assert recall_at_k(hits, n_rel, 5)[0] == pytest.approx(2 / 3)
    assert f1_at_k(hits, n_rel, 5)[0] == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))
    dcg = 1 + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(hits, n_rel, 5)[0] == pytest.approx(dcg / ideal)
    assert map_at_k(hits, n_rel, 5)[0] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert mrr_at_k(hits, n_rel, 5)[0] == 1.0
    assert hit_rate_at_k(hits, n_rel, 5)[0] == 1.0


def test_cut_off_ignores_later_ranks():
    hits, n_rel = one([0, 0, 1, 1], 2)
    assert precision_at_k(hits, n_rel, 2)[0] == 0.0
    assert mrr_at_k(hits, n_rel, 2)[0] == 0.0
    assert mrr_at_k(hits, n_rel, 4)[0] == pytest.approx(1 / 3)
    assert hit_rate_at_k(hits, n_rel, 2)[0] == 0.0
    assert ndcg_at_k(hits, n_rel, 4)[0] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))


def test_map_and_ndcg_normalise_by_min_of_relevant_and_k():
    # 10 relevant items, K = 3: the ideal list and the MAP denominator hold 3 items, not 10 (RecBole).
    hits, n_rel = one([0, 1, 1], 10)
    assert map_at_k(hits, n_rel, 3)[0] == pytest.approx((1 / 2 + 2 / 3) / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(hits, n_rel, 3)[0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / ideal)
    assert recall_at_k(hits, n_rel, 3)[0] == pytest.approx(2 / 10)
    # A perfect top 3 scores 1 on both.
    perfect, _ = one([1, 1, 1], 10)
    assert map_at_k(perfect, n_rel, 3)[0] == pytest.approx(1.0)
    assert ndcg_at_k(perfect, n_rel, 3)[0] == pytest.approx(1.0)


def test_short_lists_pad_with_misses_and_empty_users_score_zero():
    hits = np.array([[True, False], [False, False], [True, True]])
    n_rel = np.array([1, 2, 0])
    scores = compute_metrics(hits, n_rel, ks=(5,))
    assert scores["precision@5"].tolist() == pytest.approx([1 / 5, 0, 2 / 5])
    assert scores["recall@5"].tolist() == pytest.approx([1, 0, 0])
    assert scores["ndcg@5"].tolist() == pytest.approx([1, 0, 0])
    assert scores["map@5"].tolist() == pytest.approx([1, 0, 0])
    assert scores["f1@5"][1] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warnings
        compute_metrics(np.zeros((2, 0), dtype=bool), np.array([0, 3]), ks=(10,))


def test_compute_metrics_keys():
    scores = compute_metrics(np.zeros((3, 20), dtype=bool), np.ones(3, dtype=int))
    names = ("precision", "recall", "f1", "ndcg", "map", "mrr", "hitrate")
    expected = [f"{name}@{k}" for k in (10, 20) for name in names]
    assert list(scores) == expected
    assert all(values.shape == (3,) for values in scores.values())
    with pytest.raises(ValueError):
        compute_metrics(np.zeros((3, 20), dtype=bool), np.ones(2, dtype=int))


def test_coverage():
    items = np.array([[0, 1, 2], [1, 3, -1], [-1, -1, -1]])
    assert coverage_at_k(items, 10, 1) == pytest.approx(2 / 10)
    assert coverage_at_k(items, 10, 3) == pytest.approx(4 / 10)
    assert coverage_at_k(np.full((2, 3), -1), 10, 3) == 0.0


def test_agrees_with_ranx():
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(7)
    n_users, run_length, n_items = 200, 30, 100
    qrels, run = {}, {}
    hits = np.zeros((n_users, run_length), dtype=bool)
    n_rel = rng.integers(1, 16, n_users)
    for u in range(n_users):
        relevant = rng.choice(n_items, n_rel[u], replace=False)
        ranked = rng.permutation(n_items)[:run_length]
        qrels[f"u{u}"] = {f"i{i}": 1 for i in relevant}
        run[f"u{u}"] = {f"i{i}": float(run_length - r) for r, i in enumerate(ranked)}  # distinct scores
        hits[u] = np.isin(ranked, relevant)
    ks = (1, 5, 10, 20)
    # ranx's "ndcg" is the Jarvelin form (rel / log2(rank + 1)); with binary relevance it equals
    # ndcg_burges and ours. ranx's map@k divides by |R|, ours by min(|R|, k): compare it only where |R| <= k.
    names = {name: name for name in ("precision", "recall", "f1", "ndcg", "mrr", "map")} | {"hitrate": "hit_rate"}
    ranx_run = ranx.Run.from_dict(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety warnings inside ranx
        metrics = [f"{theirs}@{k}" for theirs in names.values() for k in ks]
        ranx.evaluate(ranx.Qrels.from_dict(qrels), ranx_run, metrics, return_mean=False)
    users = [f"u{u}" for u in range(n_users)]
    ours = compute_metrics(hits, n_rel, ks)
    assert set(names) == set(METRICS)
    for name, theirs in names.items():
        for k in ks:
            expected = np.array([ranx_run.scores[f"{theirs}@{k}"][u] for u in users])
            actual = ours[f"{name}@{k}"]
            if name == "map":
                comparable = n_rel <= k
                assert comparable.sum() >= 10
                assert (actual[~comparable] >= expected[~comparable] - 1e-12).all()  # ours divides by less
                expected, actual = expected[comparable], actual[comparable]
            np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-9, err_msg=f"{name}@{k}")
    assert ours["hitrate@10"].mean() > 0.3  # the data exercise hits at many ranks
