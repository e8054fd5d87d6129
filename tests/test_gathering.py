"""Many users' aggregations in threads, their questions answered together: the same rankings, fewer batches."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pairrank.judges.aggregate import all_pairs, heap_top, sliding
from pairrank.judges.gathering import gathered_map


class TrueScoreJudge:
    """P(a before b) from known scores per history plus a fixed noise per ordered pair; `prefer_many` records
    the requests of each batch."""

    def __init__(self, users: int, items: int, fail_on: int | None = None):
        rng = np.random.default_rng(0)
        self.scores = rng.normal(size=(users, items))
        self.noise = rng.normal(0.0, 0.5, (items, items))
        self.batches: list[int] = []
        self.threads: set[int] = set()
        self.fail_on = fail_on

    def prefer(self, history: int, pairs):
        a, b = np.asarray(pairs).T
        return 1 / (1 + np.exp(-(self.scores[history, a] - self.scores[history, b] + self.noise[a, b])))

    def prefer_many(self, requests):
        self.threads.add(threading.get_ident())
        if len(self.batches) == self.fail_on:
            raise ValueError("the judge broke")
        self.batches.append(len(requests))
        return [self.prefer(history, pairs) for history, pairs in requests]


USERS, ITEMS = 10, 8
AGGREGATIONS = {
    "sliding": lambda judge, user: sliding(judge, user, np.arange(ITEMS), 2),
    "heap": lambda judge, user: heap_top(judge, user, np.arange(ITEMS), 3),
    "allpairs": lambda judge, user: all_pairs(judge, user, np.arange(ITEMS)),
}


@pytest.mark.parametrize("name", AGGREGATIONS)
def test_gathered_rankings_equal_one_user_at_a_time(name):
    aggregate = AGGREGATIONS[name]
    judge = TrueScoreJudge(USERS, ITEMS)
    alone = [aggregate(judge, user) for user in range(USERS)]
    done = []
    together = gathered_map(judge, aggregate, USERS, workers=4, done=lambda: done.append(1))
    assert len(done) == USERS
    for first, second in zip(alone, together):
        assert first.order.tolist() == second.order.tolist() and first.calls == second.calls
    assert max(judge.batches) == 4  # four users' questions in one batch
    assert sum(judge.batches) < sum(ranking.calls for ranking in alone)  # fewer batches than comparisons


def test_the_sliding_windows_comparisons_run_in_lockstep():
    """Equal lists: one batch per comparison of a bubble pass, each with every busy user's question."""
    judge = TrueScoreJudge(USERS, ITEMS)
    gathered_map(judge, lambda judge, user: sliding(judge, user, np.arange(ITEMS), 1), 8, workers=4)
    assert judge.batches == [4] * (2 * (ITEMS - 1))  # each worker takes two users, one after the other


def test_the_judge_runs_on_the_calling_thread_only():
    """Worker threads never run the model: memory a model call allocates stays in the caller's heap."""
    judge = TrueScoreJudge(USERS, ITEMS)
    gathered_map(judge, AGGREGATIONS["heap"], USERS, workers=4)
    assert judge.threads == {threading.get_ident()}


def test_a_failing_judge_stops_every_user_and_raises():
    judge = TrueScoreJudge(USERS, ITEMS, fail_on=3)
    with pytest.raises(ValueError, match="the judge broke"):
        gathered_map(judge, AGGREGATIONS["sliding"], USERS, workers=4)


def test_a_failing_user_raises_after_the_others_stop():
    judge = TrueScoreJudge(USERS, ITEMS)

    def work(gathered, user):
        if user == 2:
            raise KeyError("user 2 has no history")
        return AGGREGATIONS["heap"](gathered, user)

    with pytest.raises(KeyError, match="user 2"):
        gathered_map(judge, work, USERS, workers=3)
