"""Time `evaluate` on 1,000,000 users x top-100 recommendations (100M rows).

Recommendations are distinct items per user over a 50,000-item catalogue;
each user has 1-5 test items (some inside their top 100) and, for the last
case, 20 train/valid items that the recommendations exclude. Cases:
in-memory frames with categorical ids, in-memory frames with string ids,
Parquet file read + evaluate, and Parquet + evaluate with the seen check.
Prints seconds and writes benchmarks/results/eval_speed.md.

Run: PYTHONPATH=src .venv/bin/python benchmarks/eval_speed.py
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from machine import describe as describe_machine  # benchmarks/machine.py (scripts run from here)

from pairrank.data.schema import ITEM, USER
from pairrank.eval.evaluator import evaluate, read_recommendations

N_USERS, TOP, N_ITEMS, N_SEEN = 1_000_000, 100, 50_000, 20
RESULTS = Path(__file__).parent / "results" / "eval_speed.md"


def ids(prefix: str, n: int) -> pd.Index:
    return pd.Index(np.char.add(prefix, np.arange(n).astype(str)), dtype="str")


def generate(rng: np.random.Generator) -> dict[str, object]:
    """Recommendation, test and seen codes; recs are grouped by user in rank order."""
    base = rng.integers(0, N_ITEMS, N_USERS)
    steps = np.cumsum(rng.integers(1, 400, size=(N_USERS, TOP)), axis=1)  # < 40,000: distinct per row
    rec_items = ((base[:, None] + steps) % N_ITEMS).astype(np.int32)
    n_test = rng.integers(1, 6, N_USERS)
    test_users = np.repeat(np.arange(N_USERS, dtype=np.int32), n_test)
    from_recs = rec_items[test_users, rng.integers(0, TOP, test_users.size)]
    random_items = rng.integers(0, N_ITEMS, test_users.size, dtype=np.int32)
    test_items = np.where(rng.random(test_users.size) < 0.3, from_recs, random_items)
    seen_items = (base[:, None] - np.arange(1, N_SEEN + 1)) % N_ITEMS  # never among the recs
    return {"rec_items": rec_items, "test_users": test_users, "test_items": test_items, "seen_items": seen_items}


def frames(codes: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    users, items = ids("u", N_USERS), ids("i", N_ITEMS)
    rec_users = np.repeat(np.arange(N_USERS, dtype=np.int32), TOP)
    ranks = np.tile(np.arange(1, TOP + 1, dtype=np.int64), N_USERS)
    recs_cat = pd.DataFrame(
        {
            USER: pd.Categorical.from_codes(rec_users, categories=users),
            ITEM: pd.Categorical.from_codes(codes["rec_items"].ravel(), categories=items),
            "rank": ranks,
        }
    )
    recs_str = pd.DataFrame(
        {
            USER: pd.array(pa.array(users.to_numpy()).take(pa.array(rec_users)), dtype="str"),
            ITEM: pd.array(pa.array(items.to_numpy()).take(pa.array(codes["rec_items"].ravel())), dtype="str"),
            "rank": ranks,
        }
    )
    test = pd.DataFrame({USER: users[codes["test_users"]], ITEM: items[codes["test_items"]]})
    seen_users = np.repeat(np.arange(N_USERS), N_SEEN)
    seen = pd.DataFrame({USER: users[seen_users], ITEM: items[codes["seen_items"].ravel()]})
    return recs_cat, recs_str, test, seen


def timed(label: str, run) -> tuple[str, float, object]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.1f} s", flush=True)
    return label, seconds, result


def main() -> None:
    codes = generate(np.random.default_rng(0))
    recs_cat, recs_str, test, seen = frames(codes)
    common = {"n_catalogue": N_ITEMS, "ks": (10, 20)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recs.parquet"
        pq.write_table(pa.Table.from_pandas(recs_str, preserve_index=False), path)
        size_mib = path.stat().st_size / 2**20
        rows.append(
            timed(
                "(a) evaluate, in-memory frame, categorical ids", lambda recs=recs_cat: evaluate(test, recs, **common)
            )
        )
        rows.append(
            timed("(a') evaluate, in-memory frame, string ids", lambda recs=recs_str: evaluate(test, recs, **common))
        )
        del recs_cat, recs_str
        rows.append(timed("read_recommendations alone", lambda: read_recommendations(path)))
        rows.append(
            timed(
                f"(b) read_recommendations (Parquet from string ids, {size_mib:.0f} MiB) + evaluate",
                lambda: evaluate(test, read_recommendations(path), recs_path=path, **common),
            )
        )
        rows.append(
            timed(
                f"(c) as (b), plus the seen check against {len(seen):,} train/valid rows",
                lambda: evaluate(test, read_recommendations(path), seen=seen, recs_path=path, **common),
            )
        )
    ndcg = {round(result.means["ndcg@10"], 6) for _, _, result in rows if hasattr(result, "means")}
    assert len(ndcg) == 1, f"cases disagree: {ndcg}"
    write_results(rows, len(test))


def write_results(rows: list[tuple[str, float, object]], n_test: int) -> None:
    lines = [
        "# Evaluation speed",
        "",
        "- command: `PYTHONPATH=src .venv/bin/python benchmarks/eval_speed.py`",
        f"- machine: {describe_machine()}",
        f"- date: {dt.date.today().isoformat()}; 1-minute load average at the end: {os.getloadavg()[0]:.1f}",
        f"- data: {N_USERS:,} users x top-{TOP} = {N_USERS * TOP:,} recommendation rows, "
        f"{n_test:,} test rows (1-5 per user), {N_ITEMS:,} items; ks = 10, 20; target < 30 s",
        f"- numpy {np.__version__}, pandas {pd.__version__}, pyarrow {pa.__version__}; "
        f"peak RSS of the whole benchmark {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB",
        "",
        "| case | seconds |",
        "|---|---:|",
        *(f"| {label} | {seconds:.1f} |" for label, seconds, _ in rows),
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
