"""Bootstrap confidence intervals and paired significance tests over per-user metrics.

Both take `EvaluationResult.per_user` frames (user_id plus metric columns)
and a metric name such as 'ndcg@10'. Resampling is vectorised in batches and
seeded, so results are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pairrank.data.schema import USER

BATCH_ELEMENTS = 1 << 24  # resampled values drawn at once (128 MiB of float64)


@dataclass(frozen=True)
class Interval:
    """The mean of a per-user metric and its percentile-bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class PairedTest:
    """System a against system b on the same users; differences are a - b.

    `p_randomisation` is a two-sided sign-flip randomisation test of the
    mean difference; `ci_low`/`ci_high` a paired percentile bootstrap of it.
    """

    metric: str
    n_users: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    level: float
    p_randomisation: float
    p_ttest: float
    p_wilcoxon: float


def bootstrap_ci(
    per_user: pd.DataFrame, metric: str, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean of `metric` over users."""
    values = _metric(per_user, metric)
    means = _bootstrap_means(values, n_resamples, np.random.default_rng(seed))
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(mean=float(values.mean()), low=float(low), high=float(high), level=level)


def paired_test(
    a: pd.DataFrame, b: pd.DataFrame, metric: str, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> PairedTest:
    """Compare two systems' per-user `metric`, aligned on user_id (both must cover the same users)."""
    left = a.set_index(USER)[metric]
    right = b.set_index(USER)[metric]
    if len(left) != len(right) or not left.index.isin(right.index).all():
        raise ValueError(
            f"the two evaluations cover different users ({len(left):,} and {len(right):,} users, "
            f"{int((~left.index.isin(right.index)).sum()):,} only in the first)"
        )
    values_a = left.to_numpy(dtype=np.float64)
    values_b = right.reindex(left.index).to_numpy(dtype=np.float64)
    difference = values_a - values_b
    rng = np.random.default_rng(seed)
    low, high = np.quantile(_bootstrap_means(difference, n_resamples, rng), [(1 - level) / 2, (1 + level) / 2])
    observed = abs(difference.mean())
    null = np.abs(_sign_flip_means(difference, n_resamples, rng))
    p_randomisation = (1 + np.count_nonzero(null >= observed - 1e-12)) / (n_resamples + 1)
    if np.any(difference != 0):
        p_ttest = float(stats.ttest_rel(values_a, values_b).pvalue)
        p_wilcoxon = float(stats.wilcoxon(difference).pvalue)
    else:  # identical systems: the scipy tests are undefined, and there is no evidence of a difference
        p_ttest = p_wilcoxon = 1.0
    return PairedTest(
        metric=metric,
        n_users=int(difference.size),
        mean_a=float(values_a.mean()),
        mean_b=float(values_b.mean()),
        mean_difference=float(difference.mean()),
        ci_low=float(low),
        ci_high=float(high),
        level=level,
        p_randomisation=float(p_randomisation),
        p_ttest=p_ttest,
        p_wilcoxon=p_wilcoxon,
    )


def _metric(per_user: pd.DataFrame, metric: str) -> np.ndarray:
    if metric not in per_user.columns:
        raise KeyError(f"no per-user metric {metric!r}; have {', '.join(c for c in per_user.columns if c != USER)}")
    values = per_user[metric].to_numpy(dtype=np.float64)
    if values.size == 0:
        raise ValueError("no users to resample")
    return values


def _batches(n_resamples: int, n_values: int) -> list[int]:
    size = max(1, BATCH_ELEMENTS // n_values)
    return [min(size, n_resamples - start) for start in range(0, n_resamples, size)]


def _bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` resamples of `values` with replacement."""
    parts = [
        values[rng.integers(0, values.size, size=(size, values.size))].mean(axis=1)
        for size in _batches(n_resamples, values.size)
    ]
    return np.concatenate(parts)


def _sign_flip_means(difference: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `difference` with each user's sign flipped at random (the null of no difference)."""
    parts = [
        np.where(rng.random((size, difference.size)) < 0.5, -difference, difference).mean(axis=1)
        for size in _batches(n_resamples, difference.size)
    ]
    return np.concatenate(parts)
