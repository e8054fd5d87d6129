"""The evaluator, the recommendations reader and the significance tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from pairrank.errors import DataError
from pairrank.eval.evaluator import evaluate, read_recommendations
from pairrank.eval.metrics import compute_metrics
from pairrank.eval.stats import bootstrap_ci, paired_test

KS = (10, 20)


def frame(rows: list[tuple], columns=("user_id", "item_id")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def recs_frame(rows: list[tuple]) -> pd.DataFrame:
    return frame(rows, ("user_id", "item_id", "rank"))


TEST = frame([("a", "1"), ("a", "2"), ("b", "3"), ("c", "4")])


def reference(test, recs, seen=None, candidates=None, ks=KS) -> dict[str, np.ndarray]:
    """A per-user loop over the protocol's rules, to check the vectorised evaluator against."""
    relevant = test.groupby("user_id")["item_id"].apply(set)
    seen_sets = seen.groupby("user_id")["item_id"].apply(set) if seen is not None else pd.Series(dtype=object)
    users = test["user_id"].drop_duplicates().tolist()
    hits = np.zeros((len(users), max(ks)), dtype=bool)
    for row, user in enumerate(users):
        ranked = recs[recs["user_id"] == user].sort_values("rank", kind="stable")["item_id"]
        kept: list[str] = []
        for item in ranked:
            if item in kept or item in seen_sets.get(user, set()):
                continue
            if candidates is not None and item not in set(candidates):
                continue
            kept.append(item)
        for rank, item in enumerate(kept[: max(ks)]):
            hits[row, rank] = item in relevant[user]
    return compute_metrics(hits, np.array([len(relevant[u]) for u in users]), ks)


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    test_rows, seen_rows, rec_rows = [], [], []
    for u in range(60):
        items = rng.choice(80, rng.integers(1, 17), replace=False)
        test_rows += [(f"u{u}", f"i{i}") for i in items[:6]]
        seen_rows += [(f"u{u}", f"i{i}") for i in items[6:]]
    for u in list(range(55)) + [f"x{j}" for j in range(5)]:  # u55-u59 get nothing; x* are not test users
        n = int(rng.integers(0, 41))
        ranks = np.sort(rng.choice(200, n, replace=False)) + 1  # gaps between ranks
        items = rng.integers(0, 80, n)  # repeats happen
        rec_rows += [(f"u{u}" if isinstance(u, int) else u, f"i{i}", int(r)) for i, r in zip(items, ranks)]
    recs = recs_frame(rec_rows)
    return frame(test_rows), recs, frame(seen_rows), np.array([f"i{i}" for i in range(0, 80, 2)])


def assert_matches(result, expected):
    for name, values in expected.items():
        np.testing.assert_allclose(result.per_user[name].to_numpy(), values, rtol=0, atol=1e-12, err_msg=name)
        assert result.means[name] == pytest.approx(values.mean(), abs=1e-12)


def test_hand_computed_scores():
    recs = recs_frame([("a", "2", 1), ("a", "9", 2), ("a", "1", 3), ("b", "5", 1), ("b", "3", 2), ("x", "1", 1)])
    result = evaluate(TEST, recs, n_catalogue=10)
    per_user = result.per_user.set_index("user_id")
    assert per_user.index.tolist() == ["a", "b", "c"]
    assert per_user.loc["a", "precision@10"] == pytest.approx(0.2)
    assert per_user.loc["a", "recall@10"] == 1.0
    assert per_user.loc["a", "ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))
    assert per_user.loc["a", "map@10"] == pytest.approx((1 + 2 / 3) / 2)
    assert per_user.loc["b", "mrr@10"] == pytest.approx(0.5)
    assert per_user.loc["c"].eq(0).all()  # no recommendations: zero everywhere
    assert result.means["hitrate@10"] == pytest.approx(2 / 3)  # averaged over all three test users
    assert result.means["coverage@10"] == pytest.approx(5 / 10)  # items 2, 9, 1, 5, 3 (x is no test user)
    assert (result.n_users, result.n_users_with_recs) == (3, 2)


def test_matches_reference_on_random_data():
    test, recs, seen, candidates = random_case(1)
    shuffled = recs.sample(frac=1, random_state=3).reset_index(drop=True)
    assert_matches(evaluate(test, shuffled, n_catalogue=80), reference(test, recs))
    grouped = recs.sort_values(["user_id", "rank"]).reset_index(drop=True)
    assert_matches(evaluate(test, grouped, n_catalogue=80), reference(test, recs))
    result = evaluate(test, shuffled, seen=seen, candidates=candidates, n_catalogue=80, on_seen="count")
    assert_matches(result, reference(test, recs, seen, candidates))
    in_test = recs["user_id"].str.startswith("u")
    seen_pairs = set(map(tuple, seen.to_numpy()))
    pairs = recs.loc[in_test, ["user_id", "item_id"]].to_numpy()
    assert result.n_seen_dropped == sum((u, i) in seen_pairs for u, i in pairs)
    assert result.n_candidate_violations == int((in_test & ~recs["item_id"].isin(candidates)).sum())
    assert result.n_users == 60 and result.n_users_with_recs == int(recs.loc[in_test, "user_id"].nunique())


def test_seen_items_are_rejected_naming_the_first_row():
    seen = frame([("b", "5"), ("a", "9")])
    recs = recs_frame([("b", "3", 2), ("a", "2", 1), ("b", "5", 1), ("a", "9", 2)])
    with pytest.raises(DataError) as error:
        evaluate(TEST, recs, seen=seen, n_catalogue=10, recs_path="run/recs.csv")
    message = str(error.value)
    assert error.value.path == "run/recs.csv" and error.value.field == "item_id"
    assert "user 'b'" in message and "item '5'" in message and "data row 3" in message


def test_seen_items_counted_and_ranks_closed_up():
    # User a's relevant item "1" sits at rank 11 behind one seen item: dropping it lifts "1" into the top 10.
    rows = [("a", "s", 1)] + [("a", f"n{r}", r) for r in range(2, 11)] + [("a", "1", 11)]
    result = evaluate(TEST, recs_frame(rows), seen=frame([("a", "s")]), n_catalogue=20, on_seen="count", ks=(10,))
    assert result.n_seen_dropped == 1
    assert result.per_user.set_index("user_id").loc["a", "hitrate@10"] == 1.0
    assert result.per_user.set_index("user_id").loc["a", "mrr@10"] == pytest.approx(1 / 10)


def test_candidates_filter_and_count_violations():
    recs = recs_frame([("a", "9", 1), ("a", "1", 2), ("b", "8", 1), ("b", "3", 2), ("x", "7", 1)])
    result = evaluate(TEST, recs, candidates=np.array(["1", "2", "3", "4"]), n_catalogue=10)
    assert result.n_candidate_violations == 2  # a/9 and b/8; x is no test user
    per_user = result.per_user.set_index("user_id")
    assert per_user.loc["a", "mrr@10"] == 1.0 and per_user.loc["b", "mrr@10"] == 1.0


def test_repeated_items_keep_their_best_rank():
    recs = recs_frame([("a", "5", 1), ("a", "1", 3), ("a", "5", 2), ("a", "2", 4)])
    per_user = evaluate(TEST, recs, n_catalogue=10).per_user.set_index("user_id")
    assert per_user.loc["a", "precision@10"] == pytest.approx(2 / 10)
    assert per_user.loc["a", "ndcg@10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))


def test_users_without_recommendations_score_zero():
    result = evaluate(TEST, recs_frame([("zz", "1", 1)]), n_catalogue=10)
    assert result.n_users_with_recs == 0
    assert all(value == 0 for value in result.means.values())


@pytest.mark.parametrize(
    ("recs", "field", "text"),
    [
        (frame([("a", "1")]), "rank", "missing column"),
        (recs_frame([("a", "1", 0)]), "rank", ">= 1"),
        (recs_frame([("a", "1", 1.5)]), "rank", "integer"),
        (recs_frame([("a", "1", "top")]), "rank", "integer"),
        (recs_frame([("a", None, 1)]), "item_id", "empty id"),
    ],
)
def test_bad_recommendation_frames(recs, field, text):
    with pytest.raises(DataError) as error:
        evaluate(TEST, recs, n_catalogue=10, recs_path="recs.parquet")
    assert error.value.field == field and str(error.value.path) == "recs.parquet" and text in str(error.value)


def test_bad_arguments():
    recs = recs_frame([("a", "1", 1)])
    with pytest.raises(ValueError):
        evaluate(TEST, recs, n_catalogue=10, on_seen="ignore")
    with pytest.raises(ValueError):
        evaluate(TEST, recs, n_catalogue=10, ks=(0,))


def test_read_recommendations_csv_and_parquet(tmp_path):
    recs = recs_frame([("007", "10", 1), ("007", "3", 2), ("8", "2", 1)])
    test = frame([("007", "3"), ("8", "20")])
    csv = tmp_path / "recs.csv"
    recs.to_csv(csv, index=False)
    parquet = tmp_path / "recs.parquet"
    recs.assign(item_id=recs["item_id"].astype(int)).to_parquet(parquet)  # numeric ids become strings
    for path in (csv, parquet):
        read = read_recommendations(path)
        assert read["user_id"].astype(str).tolist() == ["007", "007", "8"]
        assert read["item_id"].astype(str).tolist() == ["10", "3", "2"]
        assert read["rank"].dtype == np.int64
        assert evaluate(test, read, n_catalogue=30).means == evaluate(test, recs, n_catalogue=30).means


@pytest.mark.parametrize(
    ("name", "content", "field", "text"),
    [
        ("missing.csv", None, None, "not found"),
        ("recs.txt", "user_id,item_id,rank\na,1,1\n", None, "format"),
        ("recs.csv", "user_id,item_id\na,1\n", "rank", "missing column"),
        ("recs.csv", "user_id,item_id,rank\na,1,1\na,2,x\n", "rank", "'x'"),
        ("recs.csv", "user_id,item_id,rank\na,1,0\n", "rank", ">= 1"),
        ("recs.csv", "user_id,item_id,rank\na,1,2.5\n", "rank", "integer"),
        ("recs.csv", "user_id,item_id,rank\n,1,1\n", "user_id", "empty id"),
        ("recs.parquet", b"not parquet", None, "Parquet"),
    ],
)
def test_read_recommendations_errors(tmp_path, name, content, field, text):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as error:
        read_recommendations(path)
    assert error.value.path == path and error.value.field == field and text in str(error.value)


def test_read_parquet_missing_column(tmp_path):
    path = tmp_path / "recs.parquet"
    frame([("a", 1)], ("user_id", "rank")).to_parquet(path)
    with pytest.raises(DataError) as error:
        read_recommendations(path)
    assert error.value.field == "item_id"


def test_result_json_and_table():
    result = evaluate(TEST, recs_frame([("a", "1", 1)]), n_catalogue=10)
    data = json.loads(json.dumps(result.to_json()))
    assert data["counts"]["n_users"] == 3 and data["ndcg@10"] == pytest.approx(result.means["ndcg@10"])
    assert "ci95" not in data
    low, high = result.to_json(with_ci=True)["ci95"]["hitrate@10"]
    assert low <= result.means["hitrate@10"] <= high
    console = Console(record=True, width=160)
    console.print(result.table(title="demo"))
    console.print(result.table(with_ci=True))
    text = console.export_text()
    assert "ndcg" in text and "coverage" in text and "@20" in text and "95% bootstrap" in text


def per_user(values: np.ndarray, metric: str = "ndcg@10") -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(values.size)], metric: values})


def test_bootstrap_interval_contains_mean_and_shrinks():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(per_user(rng.random(200)), "ndcg@10", seed=1)
    large = bootstrap_ci(per_user(rng.random(20_000)), "ndcg@10", seed=1)
    for interval in (small, large):
        assert interval.low < interval.mean < interval.high
    assert large.high - large.low < (small.high - small.low) / 5
    again = bootstrap_ci(per_user(np.random.default_rng(0).random(200)), "ndcg@10", seed=1)
    assert again == small  # seeded: reproducible


def test_paired_test_detects_a_real_difference_but_not_a_null_one():
    rng = np.random.default_rng(0)
    base = rng.random(2000)
    better = per_user(np.clip(base + rng.normal(0.03, 0.1, base.size), 0, 1))
    same = per_user(np.clip(base + rng.normal(0.0, 0.1, base.size), 0, 1))
    real = paired_test(better.sample(frac=1, random_state=0), per_user(base), "ndcg@10", seed=0)
    assert real.mean_difference > 0 and real.ci_low > 0
    assert max(real.p_randomisation, real.p_ttest, real.p_wilcoxon) < 0.01
    null = paired_test(same, per_user(base), "ndcg@10", seed=0)
    assert null.ci_low < 0 < null.ci_high
    assert min(null.p_randomisation, null.p_ttest, null.p_wilcoxon) > 0.05
    with pytest.raises(ValueError):
        paired_test(per_user(base[:10]), per_user(base[:11]), "ndcg@10")
