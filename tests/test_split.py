"""The split protocols against PROTOCOL.md, on hand-made and real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pairrank.data.split import split_interactions, withheld_items
from pairrank.data.split_io import Split


def frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_loo_takes_last_two_by_time_with_ties_in_file_order():
    rows = [("u", f"i{n}", t) for n, t in enumerate([5, 1, 3, 3, 9, 2])]
    split = split_interactions(frame(rows), "loo")
    assert split.test["item_id"].tolist() == ["i4"]  # t=9
    assert split.valid["item_id"].tolist() == ["i0"]  # t=5
    assert split.train["item_id"].tolist() == ["i1", "i5", "i2", "i3"]  # time order, i2 before i3 (tie)


def test_users_below_five_interactions_are_dropped_after_dedupe():
    rows = [("a", f"i{n}", n) for n in range(5)] + [
        ("b", "x", 1),
        ("b", "x", 2),
        ("b", "y", 3),
        ("b", "z", 4),
        ("b", "w", 5),
    ]
    split = split_interactions(frame(rows), "loo")
    users = set(pd.concat([split.train, split.valid, split.test])["user_id"])
    assert users == {"a"}


def test_duplicates_keep_the_earliest_occurrence():
    rows = [("a", "x", 10), ("a", "y", 1), ("a", "z", 2), ("a", "w", 3), ("a", "v", 4), ("a", "x", 0)]
    split = split_interactions(frame(rows), "loo")
    everything = pd.concat([split.train, split.valid, split.test])
    assert len(everything) == 5
    assert everything.loc[everything["item_id"] == "x", "timestamp"].tolist() == [0]


@pytest.mark.parametrize("n", [5, 6, 9, 10, 11, 19, 30, 31, 101])
def test_temporal80_sizes_follow_the_ceil_rules(n):
    split = split_interactions(frame([("u", f"i{k}", k) for k in range(n)]), "temporal80")
    n_test = max(1, math.ceil(n * 20 / 100))
    n_valid = max(1, math.ceil((n - n_test) * 10 / 100))
    assert len(split.test) == n_test
    assert len(split.valid) == n_valid
    assert len(split.train) == n - n_test - n_valid
    assert split.test["timestamp"].min() > split.valid["timestamp"].max() > split.train["timestamp"].max()


def test_missing_timestamps_use_a_seeded_order_per_user():
    rows = pd.DataFrame({"user_id": ["u"] * 8 + ["v"] * 6, "item_id": [f"i{k}" for k in range(14)]})
    a = split_interactions(rows, "loo")
    b = split_interactions(rows.copy(), "loo")
    assert a.test["item_id"].tolist() == b.test["item_id"].tolist()
    keys = np.random.default_rng(42).permutation(14)  # one seeded random key per row
    assert a.test["item_id"].tolist() == [f"i{np.argmax(keys[:8])}", f"i{8 + np.argmax(keys[8:])}"]


def test_cold_items_withholds_a_fifth_of_the_catalogue():
    catalogue = np.array([str(i) for i in range(50)])
    withheld = withheld_items(catalogue)
    expected = np.sort(catalogue.astype(str))[np.random.default_rng(42).permutation(50)][:10]
    assert withheld.tolist() == expected.tolist()
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", str(i), t) for u in range(20) for t, i in enumerate(rng.choice(50, 12, replace=False))]
    split = split_interactions(frame(rows), "cold_items", catalogue)
    cold = set(withheld)
    assert set(split.test["item_id"]) <= cold
    assert not (set(split.train["item_id"]) | set(split.valid["item_id"])) & cold
    total = len(split.train) + len(split.valid) + len(split.test)
    assert total == len(rows)
    for user, group in split.valid.groupby("user_id"):
        warm = (split.train["user_id"] == user).sum() + len(group)
        assert len(group) == max(1, math.ceil(warm / 10))


def test_split_directory_round_trip(small_loo_split):
    split = Split.read(small_loo_split)
    assert split.protocol == "loo"
    assert set(split.test["user_id"]) == set(split.train["user_id"])
    assert split.test.groupby("user_id").size().eq(1).all()
    assert split.train["timestamp"].dtype == np.int64
    assert "title" in split.items.columns
    assert split.candidates is None


def test_reference_split_sizes_on_movielens(movielens_dir):
    ratings = pd.read_csv(movielens_dir / "ratings.csv", dtype={"userId": str, "movieId": str})
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    loo = split_interactions(ratings, "loo")
    assert len(loo.test) == len(loo.valid) == 610  # the stray user 999 row is filtered out
    assert len(loo.train) == 100836 - 1220
