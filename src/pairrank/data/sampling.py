"""Negative samplers for pair-wise training."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pairrank.data.dataset import PairIndex

MAX_RESAMPLE_ROUNDS = 20


def sample_uniform_negatives(matrix: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per user drawn uniformly from the items that user has not interacted with."""
    positives = PairIndex(matrix)
    negatives = rng.integers(0, matrix.shape[1], size=len(users))
    for _ in range(MAX_RESAMPLE_ROUNDS):
        clash = positives.contains(users, negatives)
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, matrix.shape[1], size=int(clash.sum()))
    return negatives
