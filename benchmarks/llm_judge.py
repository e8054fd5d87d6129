"""The LLM judge re-ranking the top 20 of an input model's test recommendations, beside the input order.

    .venv/bin/python benchmarks/llm_judge.py [--dataset ml-latest-small] [--input ease] [--users 200]
        [--variants zero-shot-listwise,zero-shot,sliding,heap,allpairs,listwise] [--config FILE] [--out FILE]

On the `loo` split of the pipeline benchmark, the input model (refit on train+valid; its test
recommendations are kept in runs/bench-rerank-DATASET/, as rerank.py keeps them) ranks for `--users`
seeded test users, and each variant re-ranks their top 20 exactly as `pairrank rerank` does:
`zero-shot-listwise` and `zero-shot` (the list-wise judge, and the pair-wise one with one sliding pass,
without fine-tuning), the fine-tuned pair-wise judge (one LoRA run) with the `sliding` window (one pass),
`heap` top-10 or `allpairs`, and the fine-tuned `listwise` judge (one prompt per user). Each variant ranks
by the judge alone, then blended with the input order as `pairrank rerank` does (the blend chosen on
validation users for that aggregation). Variants run in the order given, each judge trained when first
needed, and the results are written after each. Reports NDCG@10 and Recall@10, a paired test of each
against the input order, the judge's prompts and seconds per user, and each fine-tuning's time. `--config`
adds `llm-judge` options to every judge trained.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dev_datasets import DATASETS, load
from rerank import input_recs, scored
from results_text import header, paired_text

from pairrank.data.schema import USER
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split
from pairrank.eval.stats import paired_test
from pairrank.experiments.config_file import read_config
from pairrank.experiments.reranking import rerank_frame
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.llm_reranker import LLMReranker

ROOT = Path(__file__).resolve().parents[1]
TOP = 20
JUDGES = {
    "zero-shot": {"finetune": False},
    "zero-shot list-wise": {"finetune": False, "mode": "listwise"},
    "pair-wise": {},
    "list-wise": {"mode": "listwise"},
}
VARIANTS = {  # key: (label, judge, aggregation options)
    "zero-shot-listwise": ("zero-shot, list-wise", "zero-shot list-wise", {}),
    "zero-shot": ("zero-shot, sliding (1 pass)", "zero-shot", {"aggregation": "sliding", "settle": 1}),
    "sliding": ("fine-tuned, sliding (1 pass)", "pair-wise", {"aggregation": "sliding", "settle": 1}),
    "heap": ("fine-tuned, heap top-10", "pair-wise", {"aggregation": "heap", "settle": 10}),
    "allpairs": ("fine-tuned, all pairs", "pair-wise", {"aggregation": "allpairs"}),
    "listwise": ("fine-tuned, list-wise", "list-wise", {}),
}


def run(args: argparse.Namespace, write: Callable[[dict[str, Any]], None]) -> None:
    """Re-rank with each variant in turn (training its judge first, once), writing the results after each."""
    split_dir = ROOT / "runs" / f"bench-pipeline-{args.dataset}" / "split-loo"
    if not (split_dir / "split.json").exists():
        make_split(load(args.dataset), "loo", split_dir)
    data = SplitData.from_split(Split.read(split_dir))
    kept = ROOT / "runs" / f"bench-rerank-{args.dataset}" / f"recs-{args.input}-loo.parquet"
    recs, _ = input_recs(data, args.input, kept)
    users = np.random.default_rng(0).choice(pd.unique(data.split.test[USER].astype(str)), args.users, replace=False)
    recs = recs[recs[USER].astype(str).isin(users)].reset_index(drop=True)
    rows, per_user = {}, {}
    rows[args.input], per_user[args.input] = scored(data, recs, users)
    results: dict[str, Any] = {"users": len(users), "rows": rows, "judges": {}, "cost": {}, "paired": {}}
    judges: dict[str, LLMRanker] = {}
    for key in args.variants.split(","):
        label, name, options = VARIANTS[key]
        if name not in judges:
            started = time.perf_counter()
            judges[name] = LLMRanker({**read_config(args.config), **JUDGES[name], "top": TOP})
            judges[name].fit(data.train(), data.valid())
            results["judges"][name] = judges[name].report | {"fit_seconds": round(time.perf_counter() - started)}
            print(f"{name}: trained in {time.perf_counter() - started:.0f} s", flush=True)
        ranker, trained = judges[name], judges[name].reranker
        aggregation, settle = options.get("aggregation", trained.aggregation), options.get("settle", trained.settle)
        fitted = trained.mode == "listwise" or (aggregation, settle) == (trained.aggregation, trained.settle)
        ranker.reranker = LLMReranker(
            trained.judge,
            mode=trained.mode,
            aggregation=aggregation,
            settle=settle,
            top=TOP,
            finetuned=trained.finetuned,
            alpha=trained.alpha,
        )
        if not fitted:  # the blend chosen at fitting was for another aggregation
            ranker.choose_blend(data.valid())
        alpha, blends = ranker.reranker.alpha, {f"{label}, judge alone": 1.0}
        if alpha < 1.0:
            blends[f"{label}, blended with the input order (alpha {alpha:.1f})"] = alpha
        remember_verdicts(ranker.reranker)
        for row, used in blends.items():
            ranker.reranker.alpha = used
            reranked, timing = rerank_frame(ranker.reranker, data, recs, top=TOP, path=split_dir)
            rows[row], per_user[row] = scored(data, reranked, users)
            results["cost"][row] = results["cost"].get(f"{label}, judge alone", timing)  # the blend re-uses them
            results["paired"][row] = paired_test(per_user[row], per_user[args.input], "ndcg@10").__dict__
            print(f"{row}: ndcg@10 {rows[row]['ndcg@10']:.4f}, {timing['seconds_per_user']:.1f} s per user", flush=True)
            write(results)


def remember_verdicts(reranker: LLMReranker) -> None:
    """Keep the judge's ranking of each (history, list), so that the blended re-ranking re-uses the verdicts the
    judge-alone one asked for (its cost is theirs)."""
    judged, kept = reranker.judged, {}

    def remembered(history: str, items: np.ndarray):
        key = (history, tuple(items))
        if key not in kept:
            kept[key] = judged(history, items)
        return kept[key]

    reranker.judged = remembered


def markdown(args: argparse.Namespace, command: str, results: dict[str, Any]) -> str:
    lines = header(
        f"LLM judge re-ranking {args.input}'s top {TOP} on {args.dataset} (loo)",
        command,
        f"Test scores of {results['users']} seeded test users, {args.input} refit on train+valid; each judge learns "
        "on train and re-ranks as `pairrank rerank` does, with the train+valid histories. Default model: "
        "SmolLM2-135M-Instruct (GGUF, de-quantised to float32), on CPU. Each variant ranks by the judge alone, then "
        "blended with the input order (the blend chosen on validation users; it re-uses the judge-alone verdicts, "
        "so its cost is theirs).",
    )
    lines += ["", "| ranking | ndcg@10 | recall@10 | vs input: NDCG@10 difference | prompts per user | s per user |"]
    lines.append("|---|---|---|---|---|---|")
    for label, row in results["rows"].items():
        cost, test = results["cost"].get(label), results["paired"].get(label)
        lines.append(
            f"| {label} | {row['ndcg@10']:.4f} | {row['recall@10']:.4f} | {paired_text(test) if test else '-'} | "
            + (f"{cost['calls_per_user']:.1f} | {cost['seconds_per_user']:.2f} |" if cost else "- | - |")
        )
    lines.append("")
    for name, report in results["judges"].items():
        tuned = (
            f"{report['pairs']} training examples, fine-tuning {report['finetune_seconds']} s, mean loss per epoch "
            + ", ".join(f"{loss:.4f}" for loss in report["losses"])
            if "pairs" in report
            else "no fine-tuning"
        )
        valid = report["valid_ndcg@10"]
        lines.append(
            f"- {name} judge: model load {report['load_seconds']} s; {tuned}; blend alpha {report['alpha']:.1f} chosen "
            f"on {report['valid_users']} validation users whose item is in the top {TOP} (NDCG@10 input "
            f"{valid['input']:.4f}, judge alone {valid['judge']:.4f}, blend {valid['blend']:.4f}); fit "
            f"{report['fit_seconds']} s."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--input", default="ease")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--config", type=Path, default=None, help="a TOML/JSON file of llm-judge options")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    out = args.out or ROOT / "benchmarks" / "results" / f"llm_judge-{args.dataset}.md"
    command = (
        f".venv/bin/python benchmarks/llm_judge.py --dataset {args.dataset} --input {args.input} "
        f"--users {args.users} --variants {args.variants}"
        + (f" --config {args.config}" if args.config else "")
        + (f" --out {args.out}" if args.out else "")
    )
    work = ROOT / "runs" / f"bench-llm-judge-{args.dataset}"
    work.mkdir(parents=True, exist_ok=True)

    def write(results: dict[str, Any]) -> None:
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
        out.write_text(markdown(args, command, results))
        print(f"wrote {out}", flush=True)

    run(args, write)


if __name__ == "__main__":
    main()
