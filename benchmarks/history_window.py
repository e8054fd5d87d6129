"""How many of a user's latest items say the most about the next one: the input's top 20 re-ranked by text.

    .venv/bin/python benchmarks/history_window.py [--dataset ml-latest-small] [--input ease]
        [--phases validation,test] [--out FILE]

On the `loo` split of the pipeline benchmark, each user's top 20 of the input model is re-ordered by the mean of
two ranks: the input's, and the candidate's rank by its mean text cosine (all-MiniLM-L6-v2 item vectors, as
TextKNN reads them) to the user's latest k history items, for k in 1, 3, 5, 10 and the whole history; a paired
test of each against the input order. Twice: on validation (the input fit on train, train histories, every
validation user), which is where a setting such as the LLM judge's `history_items` may be chosen, and on test (the
input refit on train+valid and kept in runs/bench-rerank-DATASET/ as rerank.py keeps it, train+valid histories).
Validation is in-sample for a model that learns from the validation items (the pipeline's fusion does): give such
a model `--phases test`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from dev_datasets import DATASETS, bench_split
from rerank import input_recs
from results_text import header, out_option, paired_text

from pairrank.data.dataset import Dataset
from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import make_encoder
from pairrank.eval.evaluator import evaluate
from pairrank.eval.stats import paired_test
from pairrank.experiments.recommending import recommend_frame
from pairrank.models.registry import model_class

ROOT = Path(__file__).resolve().parents[1]
TOP = 20
WINDOWS = (1, 3, 5, 10, None)  # None: the whole history


def reranked(
    recs: pd.DataFrame, data: SplitData, history: Dataset, vectors: np.ndarray, window: int | None
) -> pd.DataFrame:
    """The top TOP of each list re-ordered by the mean of its input rank and its rank by mean cosine to the
    latest `window` items of `history` (ties keep the input's order)."""
    longest = int(np.bincount(history.user_index, minlength=history.n_users).max())
    latest = history.sequences(window or longest, -1)
    top = recs[recs["rank"] <= TOP].copy()
    users = data.users.index(top[USER].astype(str))
    items = data.items.index(top[ITEM].astype(str))
    similarity = np.empty(len(top))
    for row, (user, item) in enumerate(zip(users, items)):
        shown = latest[user][latest[user] >= 0]
        similarity[row] = float((vectors[shown] @ vectors[item]).mean()) if shown.size else 0.0
    top["by_text"] = pd.Series(-similarity, index=top.index).groupby(top[USER]).rank(method="first")
    top["blend"] = (top["rank"] + top["by_text"]) / 2
    top = top.sort_values([USER, "blend", "rank"], kind="stable")
    top["rank"] = top.groupby(USER).cumcount() + 1
    return top.drop(columns=["by_text", "blend"])


def phase_rows(
    label: str,
    data: SplitData,
    recs: pd.DataFrame,
    labels: pd.DataFrame,
    seen: pd.DataFrame,
    history: Dataset,
    vectors: np.ndarray,
) -> list[str]:
    """One table row per window: NDCG@10 of the re-ordered top TOP against the input's, on `labels`' users
    (`seen`: the interactions the lists exclude, `history` the same as a dataset)."""
    base = evaluate(labels, recs[recs["rank"] <= TOP], seen=seen, n_catalogue=len(data.items))
    rows = [f"| {label} | {base.means['ndcg@10']:.4f} | input order | - |"]
    for window in WINDOWS:
        ours = evaluate(labels, reranked(recs, data, history, vectors, window), seen=seen, n_catalogue=len(data.items))
        test = paired_test(ours.per_user, base.per_user, "ndcg@10")
        name = f"latest {window}" if window else "whole history"
        rows.append(f"| {label} | {ours.means['ndcg@10']:.4f} | {name} | {paired_text(test)} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--input", default="ease")
    parser.add_argument("--phases", default="validation,test", help="validation, test or both, comma-separated")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    phases = args.phases.split(",")
    if set(phases) - {"validation", "test"}:
        raise SystemExit(f"--phases: expected validation, test or both, got {args.phases!r}")
    default = ROOT / "benchmarks" / "results" / f"history_window-{args.dataset}.md"
    out = args.out or default
    data = bench_split(args.dataset, "loo")
    vectors = EmbeddingCache(make_encoder()).encode(data.item_text, show_progress=True)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    chosen = "" if args.phases == "validation,test" else f" --phases {args.phases}"
    command = (
        f".venv/bin/python benchmarks/history_window.py --dataset {args.dataset} --input {args.input}{chosen}"
        f"{out_option(out, default, ROOT)}"
    )
    notes = [
        f"Each list's top {TOP} ordered by the mean of its {args.input} rank and its rank by mean text cosine "
        "(all-MiniLM-L6-v2) to the user's latest k items."
    ]
    if "validation" in phases:
        notes.append(f"Validation: {args.input} fit on train, train histories, every validation user.")
    if "test" in phases:
        notes.append(f"Test: {args.input} refit on train+valid, train+valid histories, every test user.")
    lines = header(
        f"Text similarity to the latest k items, re-ranking {args.input}'s top {TOP} on {args.dataset} (loo)",
        command,
        " ".join(notes),
    )
    lines += ["", "| phase | ndcg@10 | ranking | vs input: NDCG@10 difference |", "|---|---|---|---|"]
    split = data.split
    if "validation" in phases:
        train = data.train()
        fitted = model_class(args.input)().fit(train, data.valid())
        users = fitted.users.index(pd.unique(split.valid[USER].astype(str)), missing="ignore")
        valid_recs = recommend_frame(fitted, users[users >= 0], TOP)
        lines += phase_rows("validation", data, valid_recs, split.valid, split.train, train, vectors)
    if "test" in phases:
        kept = ROOT / "runs" / f"bench-rerank-{args.dataset}" / f"recs-{args.input}-loo.parquet"
        test_recs, _ = input_recs(data, args.input, kept)
        lines += phase_rows("test", data, test_recs, split.test, split.seen_frame(), data.train_and_valid(), vectors)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
