"""Negative samplers for pair-wise training.

A sampler returns, for a batch of users, a block of negatives [B, K] (one
row per user) or [1, K] (shared by the batch), plus a mask [B, K] that is
False where a sampled item is one of that user's own items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np

from pairrank.data.dataset import PairIndex
from pairrank.errors import ConfigError

MAX_RESAMPLE_ROUNDS = 20
NegativeKind = Literal["all", "uniform", "popularity", "in_batch", "hard"]
NEGATIVE_KINDS: tuple[str, ...] = get_args(NegativeKind)
POPULARITY_EXPONENT = 0.75  # word2vec-style smoothing of the popularity distribution


def draw_avoiding_positives(positives: PairIndex, users: np.ndarray, draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """One item per entry of `users` from `draw(n)`, redrawn (a bounded number of times) where it is that user's own."""
    negatives = draw(len(users))
    for _ in range(MAX_RESAMPLE_ROUNDS):
        clash = positives.contains(users, negatives)
        if not clash.any():
            break
        negatives[clash] = draw(int(clash.sum()))
    return negatives


def sample_uniform_negatives(positives: PairIndex, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per user drawn uniformly from the items that user has not interacted with."""
    return draw_avoiding_positives(positives, users, lambda n: rng.integers(0, positives.n_items, size=n))


class NegativeSampler:
    """All items, uniform, popularity-weighted, in-batch or hard negatives (hard = half mined, half uniform).

    "all" makes every item a candidate negative: with the softmax loss that is
    the full softmax over the catalogue; `num_negatives` is then ignored.

    Hard negatives come from `set_hard_pool`: each user's current top-ranked
    non-positive items, mined by the model once per epoch.
    """

    def __init__(self, kind: str, positives: PairIndex, popularity: np.ndarray, num_negatives: int):
        if kind not in NEGATIVE_KINDS:
            raise ConfigError(f"unknown negatives {kind!r}: use one of {list(NEGATIVE_KINDS)}")
        if num_negatives < 1:
            raise ConfigError(f"num_negatives must be at least 1, got {num_negatives}")
        self.kind = kind
        self.positives = positives
        self.num = num_negatives
        weights = np.power(popularity.astype(np.float64) + 1.0, POPULARITY_EXPONENT)
        self.cumulative = np.cumsum(weights / weights.sum())
        self.hard_pool: np.ndarray | None = None

    @property
    def needs_mining(self) -> bool:
        return self.kind == "hard"

    def set_hard_pool(self, pool: np.ndarray) -> None:
        """[n_users, M] item indices per user (-1 where a user has fewer)."""
        self.hard_pool = pool

    def sample(self, users: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Negatives [B or 1, K] and their validity mask [B, K] for `users` [B] whose positives are `targets`."""
        if self.kind == "all":
            negatives = np.arange(self.positives.n_items)[None, :]
        elif self.kind == "in_batch":
            negatives = np.unique(targets)[None, :]
        elif self.kind == "popularity":
            negatives = self._resample(users, lambda n: self._popular(n, rng))
        elif self.kind == "hard":
            negatives = self._hard(users, rng)
        else:
            negatives = self._resample(users, lambda n: rng.integers(0, self.positives.n_items, size=n))
        shape = (len(users), negatives.shape[1])
        clash = self.positives.contains(np.broadcast_to(users[:, None], shape), np.broadcast_to(negatives, shape))
        return negatives, ~clash & (np.broadcast_to(negatives, shape) >= 0)

    def log_expected_count(self, negatives: np.ndarray) -> np.ndarray:
        """log(K q(j)): how often each sampled item is expected among K draws (the sampled-softmax correction).

        Subtracting it from a negative's logit makes the sampled softmax estimate
        the full softmax over the catalogue. Zero where no sampling happens
        ("all") or the distribution is not fixed ("in_batch", "hard").
        """
        if self.kind == "uniform":
            return np.full(negatives.shape, np.log(self.num / self.positives.n_items), dtype=np.float32)
        if self.kind == "popularity":
            probability = np.diff(self.cumulative, prepend=0.0)[np.maximum(negatives, 0)]
            return np.log(self.num * probability).astype(np.float32)
        return np.zeros(negatives.shape, dtype=np.float32)

    def _popular(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cumulative, rng.random(n)), len(self.cumulative) - 1)

    def _resample(self, users: np.ndarray, draw: Callable[[int], np.ndarray]) -> np.ndarray:
        """[B, K] draws per user, avoiding the user's own items."""
        rows = np.repeat(users, self.num)
        return draw_avoiding_positives(self.positives, rows, draw).reshape(len(users), self.num)

    def _hard(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        uniform = self._resample(users, lambda n: rng.integers(0, self.positives.n_items, size=n))
        if self.hard_pool is None:
            return uniform
        pool = self.hard_pool[users]
        n_hard = self.num // 2
        picks = pool[np.arange(len(users))[:, None], rng.integers(0, pool.shape[1], size=(len(users), n_hard))]
        uniform[:, :n_hard] = np.where(picks >= 0, picks, uniform[:, :n_hard])
        return uniform
