"""Turning a pair-wise judge's verdicts into a ranking: all pairs, sliding window, heap top-k.

A judge answers `prefer(history, pairs) -> P(a before b)` for a batch of
ordered pairs (the duo cross-encoder, the LLM judges). Every comparison asks
both orders, (a, b) and (b, a), which cancels a judge's position bias: a
pair whose verdict flips with the order is a tie. Each aggregation counts
its judge calls (one per ordered pair asked); verdicts are remembered, so a
pair is never asked twice for one history.

- `all_pairs`: every pair, n(n - 1) calls; items ordered by wins (1 per pair
  won in both orders, 1/2 each for a flip), or with `soft` by summed
  probabilities.
- `sliding`: K bubble passes from the bottom of the list up (PRP-Sliding-K);
  pass p stops at position p, so at most 2 * sum(n - 1 - p for p < K) calls,
  exactly that when no pair comes up twice.
- `heap_top`: a binary heap keyed by the judge (heapify, then k pops):
  O(n + k log n) comparisons.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class PairJudge(Protocol):
    def prefer(self, history: Any, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        """P(a before b) for each ordered pair (a, b) of item indices, for this history."""


@dataclass
class Ranking:
    order: np.ndarray  # positions in the input list, best first
    calls: int  # ordered pairs the judge was asked
    scores: np.ndarray | None = None  # all_pairs: each input item's wins


class Verdicts:
    """A judge's answers for one history, both orders of each pair, each asked once."""

    def __init__(self, judge: PairJudge, history: Any):
        self.judge, self.history = judge, history
        self.asked: dict[tuple[int, int], float] = {}  # (a, b) -> P(a before b) as the judge said it

    @property
    def calls(self) -> int:
        return len(self.asked)

    def ask(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Ask every pair not yet asked, in both orders, in one batch."""
        new = list(dict.fromkeys(p for a, b in pairs for p in ((a, b), (b, a)) if p not in self.asked))
        if new:
            self.asked.update(zip(new, np.asarray(self.judge.prefer(self.history, new), dtype=np.float64)))

    def probability(self, a: int, b: int) -> float:
        """P(a before b) from both orders: the mean of the judge's P(a, b) and 1 - P(b, a)."""
        self.ask([(a, b)])
        return (self.asked[(a, b)] + 1.0 - self.asked[(b, a)]) / 2

    def win(self, a: int, b: int) -> float:
        """1 if a wins in both orders, 0 if b does, 1/2 if the verdict flips with the order."""
        self.ask([(a, b)])
        first, second = self.asked[(a, b)] > 0.5, self.asked[(b, a)] < 0.5
        return 1.0 if first and second else 0.0 if not (first or second) else 0.5


def all_pairs(judge: PairJudge, history: Any, items: Sequence[int], *, soft: bool = False) -> Ranking:
    """Every pair judged (one batch); items ranked by wins, ties kept in input order."""
    verdicts = Verdicts(judge, history)
    pairs = list(itertools.combinations(range(len(items)), 2))
    verdicts.ask([(items[i], items[j]) for i, j in pairs])
    outcome = verdicts.probability if soft else verdicts.win
    wins = np.zeros(len(items))
    for i, j in pairs:
        share = outcome(items[i], items[j])
        wins[i] += share
        wins[j] += 1.0 - share
    return Ranking(np.argsort(-wins, kind="stable"), verdicts.calls, wins)


def sliding(judge: PairJudge, history: Any, items: Sequence[int], passes: int) -> Ranking:
    """`passes` bubble passes from the bottom up: after pass p the top p + 1 positions are settled."""
    verdicts = Verdicts(judge, history)
    order = list(range(len(items)))
    for settled in range(min(passes, len(items) - 1)):
        for position in range(len(items) - 2, settled - 1, -1):
            upper, lower = order[position], order[position + 1]
            if verdicts.win(items[lower], items[upper]) == 1.0:
                order[position], order[position + 1] = lower, upper
    return Ranking(np.asarray(order, dtype=np.int64), verdicts.calls)


def heap_top(judge: PairJudge, history: Any, items: Sequence[int], k: int) -> Ranking:
    """The top k by a heap whose order is the judge's (a flip counts as not better), then the rest in input
    order."""
    verdicts = Verdicts(judge, history)

    class Entry:
        def __init__(self, position: int):
            self.position = position

        def __lt__(self, other: Entry) -> bool:  # heapq's root is the smallest: here the best
            return verdicts.win(items[self.position], items[other.position]) == 1.0

    heap = [Entry(position) for position in range(len(items))]
    heapq.heapify(heap)
    top = [heapq.heappop(heap).position for _ in range(min(k, len(items)))]
    rest = sorted(set(range(len(items))) - set(top))
    return Ranking(np.asarray(top + rest, dtype=np.int64), verdicts.calls)
