"""The outcome of one evaluation: mean metrics, per-user scores and drop counts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd
from rich.table import Table

from pairrank.data.schema import USER
from pairrank.eval.stats import Interval, bootstrap_ci


@dataclass
class EvaluationResult:
    """Means over all test users, per-user metrics (for bootstrap and paired tests) and counts.

    `means` holds every per-user metric ('ndcg@10', ...) plus 'coverage@K';
    `per_user` has a user_id column and one column per per-user metric.
    `n_users_with_recs` counts test users with at least one recommendation
    row; `n_seen_dropped` and `n_candidate_violations` count dropped rows.
    """

    means: dict[str, float]
    per_user: pd.DataFrame
    n_users: int
    n_users_with_recs: int
    n_seen_dropped: int
    n_candidate_violations: int

    @property
    def counts(self) -> dict[str, int]:
        return {
            "n_users": self.n_users,
            "n_users_with_recs": self.n_users_with_recs,
            "n_seen_dropped": self.n_seen_dropped,
            "n_candidate_violations": self.n_candidate_violations,
        }

    @cached_property
    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% confidence intervals of every per-user metric's mean (seeded)."""
        return {name: bootstrap_ci(self.per_user, name) for name in self.per_user.columns if name != USER}

    def to_json(self, with_ci: bool = False) -> dict:
        """Metric means at the top level ('ndcg@10': ...), plus "counts" and, with `with_ci`,
        "ci95": {metric: [low, high]}; JSON-ready."""
        data: dict = {**self.means, "counts": self.counts}
        if with_ci:
            data["ci95"] = {name: [ci.low, ci.high] for name, ci in self.intervals.items()}
        return data

    def table(self, title: str | None = None, with_ci: bool = False) -> Table:
        """A Rich table: one row per metric, one column per cut-off K."""
        names: dict[str, dict[int, str]] = {}
        for key, value in self.means.items():
            name, k = key.split("@")
            cell = f"{value:.4f}"
            if with_ci and key in self.intervals:
                cell += f" [{self.intervals[key].low:.4f}, {self.intervals[key].high:.4f}]"
            names.setdefault(name, {})[int(k)] = cell
        ks = sorted({k for cells in names.values() for k in cells})
        counts = ", ".join(f"{name.removeprefix('n_')}={value:,}" for name, value in self.counts.items())
        table = Table(title=title, caption=counts + (" (95% bootstrap CIs)" if with_ci else ""))
        table.add_column("metric")
        for k in ks:
            table.add_column(f"@{k}", justify="right")
        for name, cells in names.items():
            table.add_row(name, *(cells.get(k, "") for k in ks))
        return table
