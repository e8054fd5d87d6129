"""Seconds per user of the LLM judge's re-ranking, one user at a time against users' comparisons asked together.

    .venv/bin/python benchmarks/llm_gathering.py [--dataset ml-latest-small] [--users 48]
        [--batch-users 1,4,16] [--aggregation sliding] [--judge RUNDIR] [--out FILE]

On the `loo` split of the pipeline benchmark, EASE's test top 20 (refit on train+valid, kept in
runs/bench-rerank-DATASET/ as rerank.py keeps it) for `--users` seeded test users is re-ranked as `pairrank
rerank` does, by the judge of `--judge` (an `llm-judge` run folder) or else the zero-shot default judge, once
per `--batch-users` setting (1: one user at a time, each comparison a batch of two prompts; N: N users'
comparisons asked together, `judges.gathering`). Reports seconds and prompts per user, the speed-up over one
user at a time, and whether the re-ranked lists are the same (they should be: only the batching differs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from dev_datasets import DATASETS, bench_split
from rerank import input_recs
from results_text import header, out_option

from pairrank.data.schema import USER
from pairrank.data.split_data import SplitData
from pairrank.eval.recs import RANK
from pairrank.experiments.reranking import load_judge, rerank_frame
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_reranker import LLMReranker

ROOT = Path(__file__).resolve().parents[1]
TOP = 20
DEVICE = "the GPU" if torch.cuda.is_available() else "CPU"


def judge_for(args: argparse.Namespace, data: SplitData) -> LLMReranker:
    if args.judge is not None:
        return load_judge(args.judge, data)
    titles = data.item_titles if any(data.item_titles) else data.item_text
    return LLMReranker(
        LLMJudge(CausalLM.load(), titles), mode="pairwise", aggregation="sliding", settle=1, top=TOP, finetuned=False
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = bench_split(args.dataset, "loo")
    recs, _ = input_recs(data, "ease", ROOT / "runs" / f"bench-rerank-{args.dataset}" / "recs-ease-loo.parquet")
    users = np.random.default_rng(0).choice(pd.unique(data.split.test[USER].astype(str)), args.users, replace=False)
    recs = recs[recs[USER].astype(str).isin(users) & (recs[RANK] <= TOP)].reset_index(drop=True)
    judge = judge_for(args, data)
    settle = 10 if args.aggregation == "heap" else 1
    results: dict[str, Any] = {"users": len(users), "judge": str(args.judge or "zero-shot"), "rows": {}}
    first: pd.DataFrame | None = None
    for batch_users in (int(value) for value in args.batch_users.split(",")):
        judge.batch_users, judge.aggregation, judge.settle = batch_users, args.aggregation, settle
        judge.judge.lm.prefixes.clear()  # each setting starts without kept prefixes
        reranked, timing = rerank_frame(judge, data, recs, top=TOP, path=data.split.path)
        same = None if first is None else bool(reranked.equals(first))
        first = reranked if first is None else first
        results["rows"][batch_users] = {**timing, "same_lists": same}
        print(f"batch_users {batch_users}: {timing['seconds_per_user']:.2f} s per user", flush=True)
    return results


def markdown(args: argparse.Namespace, command: str, results: dict[str, Any]) -> str:
    lines = header(
        f"LLM judge: users' comparisons asked together ({args.dataset}, loo)",
        command,
        f"EASE's top {TOP} of {results['users']} seeded test users re-ranked by the judge ({results['judge']}; "
        f"{args.aggregation}{' top-10' if args.aggregation == 'heap' else ', 1 pass'}) on {DEVICE}, as `pairrank "
        "rerank` does, once per setting of `batch_users` (1: one user at a time).",
    )
    lines += ["", "| batch_users | s per user | prompts per user | speed-up | same lists as batch_users 1 |"]
    lines += ["|---|---|---|---|---|"]
    rows = results["rows"]
    alone = rows[min(rows)]["seconds_per_user"]
    for batch_users, row in rows.items():
        same = "-" if row["same_lists"] is None else ("yes" if row["same_lists"] else "no")
        lines.append(
            f"| {batch_users} | {row['seconds_per_user']:.2f} | {row['calls_per_user']:.1f} | "
            f"{alone / row['seconds_per_user']:.2f}x | {same} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--users", type=int, default=48)
    parser.add_argument("--batch-users", default="1,4,16")
    parser.add_argument("--aggregation", default="sliding", choices=("sliding", "heap", "allpairs"))
    parser.add_argument("--judge", type=Path, default=None, help="an llm-judge run folder (default: zero-shot)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    default = ROOT / "benchmarks" / "results" / f"llm_gathering-{args.dataset}.md"
    command = (
        f".venv/bin/python benchmarks/llm_gathering.py --dataset {args.dataset} --users {args.users} "
        f"--batch-users {args.batch_users} --aggregation {args.aggregation}"
        + (f" --judge {args.judge}" if args.judge else "")
        + out_option(args.out, default, ROOT)
    )
    results = run(args)
    out = args.out or default
    out.write_text(markdown(args, command, results))
    (ROOT / "runs" / f"bench-llm-judge-{args.dataset}").mkdir(parents=True, exist_ok=True)
    (ROOT / "runs" / f"bench-llm-judge-{args.dataset}" / "gathering.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
