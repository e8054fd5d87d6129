"""Negative samplers for pair-wise training."""

from __future__ import annotations

import numpy as np

from pairrank.data.dataset import PairIndex

MAX_RESAMPLE_ROUNDS = 20


def sample_uniform_negatives(positives: PairIndex, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per user drawn uniformly from the items that user has not interacted with."""
    negatives = rng.integers(0, positives.n_items, size=len(users))
    for _ in range(MAX_RESAMPLE_ROUNDS):
        clash = positives.contains(users, negatives)
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, positives.n_items, size=int(clash.sum()))
    return negatives
