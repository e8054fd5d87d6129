"""The outcome of one evaluation: mean metrics, per-user scores and drop counts."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from rich.table import Table


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

    def to_json(self, indent: int | None = 2) -> str:
        """Means and counts as a JSON object (per-user scores are left out)."""
        return json.dumps({"means": self.means, "counts": self.counts}, indent=indent)

    def table(self, title: str | None = None) -> Table:
        """A Rich table: one row per metric, one column per cut-off K."""
        names: dict[str, dict[int, float]] = {}
        for key, value in self.means.items():
            name, k = key.split("@")
            names.setdefault(name, {})[int(k)] = value
        ks = sorted({k for values in names.values() for k in values})
        counts = ", ".join(f"{name.removeprefix('n_')}={value:,}" for name, value in self.counts.items())
        table = Table(title=title, caption=counts)
        table.add_column("metric")
        for k in ks:
            table.add_column(f"@{k}", justify="right")
        for name, values in names.items():
            table.add_row(name, *(f"{values[k]:.4f}" if k in values else "" for k in ks))
        return table
