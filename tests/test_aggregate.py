"""Pair-wise aggregations (all pairs, sliding window, heap top-k) with a judge built from known true scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pairrank.judges.aggregate import Verdicts, all_pairs, heap_top, sliding


class NoisyJudge:
    """P(a before b) = sigmoid(s_a - s_b + bias + noise[a, b]): true scores, a bias toward whichever item is
    shown first, and a fixed noise per ordered pair (deterministic for a seed). Counts what it is asked."""

    def __init__(self, scores: np.ndarray, noise: float = 0.0, bias: float = 0.0, seed: int = 0):
        self.scores, self.bias = np.asarray(scores, dtype=float), bias
        self.noise = np.random.default_rng(seed).normal(0.0, noise, (len(scores), len(scores)))
        self.asked: list[tuple[int, int]] = []

    def prefer(self, history, pairs):
        self.asked += list(pairs)
        a, b = np.asarray(pairs).T
        return 1 / (1 + np.exp(-(self.scores[a] - self.scores[b] + self.bias + self.noise[a, b])))


N = 12
TRUE = np.arange(N, dtype=float)[::-1] * 1.0  # item i has score N - 1 - i: items 0, 1, 2, ... is the true order
SHUFFLED = np.random.default_rng(1).permutation(N)


def ranked(items: np.ndarray, order: np.ndarray) -> list[int]:
    return items[order].tolist()


@pytest.mark.parametrize("bias", [0.0, 3.0])
def test_all_pairs_recovers_the_true_order_under_small_noise_and_position_bias(bias):
    judge = NoisyJudge(TRUE, noise=0.3, bias=bias)
    ranking = all_pairs(judge, "h", SHUFFLED)
    assert ranked(SHUFFLED, ranking.order) == list(range(N))
    assert ranking.calls == len(judge.asked) == N * (N - 1)
    assert len(set(judge.asked)) == len(judge.asked)  # no ordered pair asked twice


def test_a_verdict_that_flips_with_the_order_is_a_tie():
    judge = NoisyJudge(np.zeros(5), bias=2.0)  # equal items: the judge always picks the first shown
    ranking = all_pairs(judge, "h", np.arange(5))
    assert np.allclose(ranking.scores, 2.0)  # every pair split half and half
    assert ranking.order.tolist() == [0, 1, 2, 3, 4]  # ties keep the input order
    assert Verdicts(judge, "h").win(0, 1) == 0.5


def test_all_pairs_soft_sums_probabilities_from_both_orders():
    judge = NoisyJudge(TRUE[:4], noise=0.5, bias=1.0)
    soft = all_pairs(judge, "h", np.arange(4), soft=True)
    assert soft.scores.sum() == pytest.approx(4 * 3 / 2)  # each pair hands out one win
    p = lambda a, b: 1 / (1 + np.exp(-(TRUE[a] - TRUE[b] + 1.0 + judge.noise[a, b])))  # noqa: E731
    expected = sum((p(0, j) + 1 - p(j, 0)) / 2 for j in (1, 2, 3))
    assert soft.scores[0] == pytest.approx(expected)


@pytest.mark.parametrize("passes", [1, 3])
def test_sliding_window_settles_the_top_and_makes_the_counted_calls(passes):
    reversed_items = np.arange(N)[::-1].copy()  # worst first: every pass carries one item to the top
    judge = NoisyJudge(TRUE, noise=0.1, bias=0.5)  # a bias below the gap between neighbours
    ranking = sliding(judge, "h", reversed_items, passes)
    assert ranked(reversed_items, ranking.order)[:passes] == list(range(passes))
    assert ranking.calls == len(judge.asked) == 2 * sum(N - 1 - p for p in range(passes))


def test_heap_top_k_finds_the_true_top_within_its_call_bound():
    k = 4
    judge = NoisyJudge(TRUE, noise=0.1, bias=0.5)  # a bias below the gap between neighbours
    ranking = heap_top(judge, "h", SHUFFLED, k)
    order = ranked(SHUFFLED, ranking.order)
    assert order[:k] == list(range(k))
    rest = [i for i in SHUFFLED.tolist() if i >= k]
    assert order[k:] == rest  # the rest keep their input order
    assert ranking.calls == len(judge.asked) <= 2 * (2 * N + 2 * k * math.ceil(math.log2(N)))
    assert ranking.calls < N * (N - 1)  # cheaper than all pairs


def test_noise_degrades_all_pairs_gracefully():
    judge = NoisyJudge(TRUE, noise=2.0, seed=3)
    order = ranked(SHUFFLED, all_pairs(judge, "h", SHUFFLED).order)
    correlation = np.corrcoef(order, np.arange(N))[0, 1]
    assert 0.8 < correlation < 1.0  # mostly right, not exact: the noise is real
