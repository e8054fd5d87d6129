"""The LLM judge re-ranking the top 20 of an input model's test recommendations, beside the input order.

    .venv/bin/python benchmarks/llm_judge.py [--dataset ml-latest-small] [--input ease] [--users 200]
        [--variants zero-shot-listwise,zero-shot,sliding,heap,allpairs,listwise,server]
        [--sample-variants server] [--sample-users 50] [--blend-users N] [--config FILE]
        [--kept-judge RUNDIR] [--precision auto|float32|bfloat16] [--out FILE]

On the `loo` split of the pipeline benchmark, the input model (refit on train+valid; its test
recommendations are kept in runs/bench-rerank-DATASET/, as rerank.py keeps them) ranks for `--users`
seeded test users, and each variant re-ranks their top 20 exactly as `pairrank rerank` does:
`zero-shot-listwise` and `zero-shot` (the list-wise judge, and the pair-wise one with one sliding pass,
without fine-tuning), the fine-tuned pair-wise judge (one LoRA run) with the `sliding` window (one pass),
`heap` top-10 or `allpairs`, the fine-tuned `listwise` judge (one prompt per user), and `server` (the
zero-shot pair-wise judge asking llama.cpp's server, started here on loopback with the same GGUF; its calls
and tokens are counted). Variants named in `--sample-variants` (the costly ones) re-rank only the first
`--sample-users` of the users, tested against the input order on those users. Each variant ranks by the
judge alone, then blended with the input order as `pairrank rerank` does (the blend chosen on validation
users for that aggregation; `--blend-users` caps those users where a variant re-chooses the blend of a judge
trained with another aggregation, as all pairs asks 380 prompts a user). Variants run in the order given,
each judge trained when first needed, and the results are written after each. Reports NDCG@10 and
Recall@10, a paired test of each against the input order, the judge's prompts and seconds per user, and
each fine-tuning's time. `--config` adds `llm-judge` options to every judge trained. `--kept-judge` re-ranks
with the fine-tuned pair-wise judge of an `llm-judge` run folder (one kept by an earlier run, say) instead of
training one, and `--precision` scores in that dtype instead of the judge's own (its blend kept as chosen).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from dev_datasets import DATASETS, bench_split
from rerank import input_recs, scored
from results_text import header, paired_text

from pairrank.data.schema import USER
from pairrank.data.split_data import SplitData
from pairrank.eval.stats import paired_test
from pairrank.experiments.config_file import read_config
from pairrank.experiments.reranking import rerank_frame
from pairrank.judges.backend import PRECISIONS
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.llm_reranker import LLMReranker

ROOT = Path(__file__).resolve().parents[1]
TOP = 20
DEVICE = "the GPU" if torch.cuda.is_available() else "CPU"  # where the judge runs
JUDGES = {
    "zero-shot": {"finetune": False},
    "zero-shot list-wise": {"finetune": False, "mode": "listwise"},
    "pair-wise": {},
    "list-wise": {"mode": "listwise"},
    "server": {"finetune": False},  # and the server's address, once it has started (Bench.server_url)
}
VARIANTS = {  # key: (label, judge, aggregation options)
    "zero-shot-listwise": ("zero-shot, list-wise", "zero-shot list-wise", {}),
    "zero-shot": ("zero-shot, sliding (1 pass)", "zero-shot", {"aggregation": "sliding", "settle": 1}),
    "sliding": ("fine-tuned, sliding (1 pass)", "pair-wise", {"aggregation": "sliding", "settle": 1}),
    "heap": ("fine-tuned, heap top-10", "pair-wise", {"aggregation": "heap", "settle": 10}),
    "allpairs": ("fine-tuned, all pairs", "pair-wise", {"aggregation": "allpairs"}),
    "listwise": ("fine-tuned, list-wise", "list-wise", {}),
    "server": (
        "zero-shot through llama.cpp's server, sliding (1 pass)",
        "server",
        {"aggregation": "sliding", "settle": 1},
    ),
}


@dataclass
class Bench:
    """The split, the input's recommendations and users, and the results written after each variant."""

    args: argparse.Namespace
    data: SplitData
    write: Callable[[dict[str, Any]], None]
    results: dict[str, Any]
    per_user: dict[str, pd.DataFrame] = field(default_factory=dict)
    judges: dict[str, LLMRanker] = field(default_factory=dict)
    server_url: str | None = None  # llama.cpp's server, while the server variant runs


def run(args: argparse.Namespace, write: Callable[[dict[str, Any]], None]) -> None:
    """Re-rank with each variant in turn (training its judge first, once), writing the results after each."""
    data = bench_split(args.dataset, "loo")
    kept = ROOT / "runs" / f"bench-rerank-{args.dataset}" / f"recs-{args.input}-loo.parquet"
    recs, _ = input_recs(data, args.input, kept)
    users = np.random.default_rng(0).choice(pd.unique(data.split.test[USER].astype(str)), args.users, replace=False)
    recs = recs[recs[USER].astype(str).isin(users)].reset_index(drop=True)
    results: dict[str, Any] = {"users": len(users), "rows": {}, "judges": {}, "cost": {}, "paired": {}}
    bench = Bench(args, data, write, results)
    score_input(bench, args.input, recs, users)
    sampled = args.sample_variants.split(",") if args.sample_variants else []
    few = users[: args.sample_users]
    few_recs = recs[recs[USER].astype(str).isin(few)].reset_index(drop=True)
    for key in args.variants.split(","):
        if key not in sampled:
            rerank_with(bench, key, recs, users, args.input)
            continue
        baseline = f"{args.input} on the first {len(few)} of these users"
        score_input(bench, baseline, few_recs, few)
        with ExitStack() as stack:
            if key == "server":
                bench.server_url = stack.enter_context(llm_server()) + "/v1"
            rerank_with(bench, key, few_recs, few, baseline)


def score_input(bench: Bench, label: str, recs: pd.DataFrame, users: np.ndarray) -> None:
    bench.results["rows"][label], bench.per_user[label] = scored(bench.data, recs, users)


def rerank_with(bench: Bench, key: str, recs: pd.DataFrame, users: np.ndarray, baseline: str) -> None:
    """Re-rank `recs` with one variant (training its judge if no earlier variant did), alone and blended; each row
    is tested against `baseline`, the input order on the same users."""
    label, name, options = VARIANTS[key]
    data, results = bench.data, bench.results
    if name not in bench.judges:
        bench.judges[name] = trained_judge(bench, name)
        results["judges"][name] = dict(bench.judges[name].report)
    ranker, trained = bench.judges[name], bench.judges[name].reranker
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
        precision=bench.args.precision or trained.precision,
    )
    if not fitted:  # the blend chosen at fitting was for another aggregation
        if bench.args.blend_users:
            ranker.config = dataclasses.replace(ranker.config, valid_users=bench.args.blend_users)
        ranker.choose_blend(data.valid())
        chosen = {option: ranker.report[option] for option in ("valid_users", "alpha", "valid_ndcg@10")}
        results.setdefault("reblends", {})[label] = chosen
    lm = getattr(trained.judge, "lm", None)  # a local model (a server judge has none)
    if lm is not None:
        results["judges"][name]["scored_in"] = str(next(lm.scoring_model().parameters()).dtype).removeprefix("torch.")
    alpha, blends = ranker.reranker.alpha, {f"{label}, judge alone": 1.0}
    if 0.0 < alpha < 1.0:  # at 0 the blend is the input order
        blends[f"{label}, blended with the input order (alpha {alpha:.1f})"] = alpha
    remember_verdicts(ranker.reranker)
    counters = getattr(trained.judge, "counters", None)  # a server judge's calls and tokens
    if counters:
        results["judges"][name]["valid_counters"] = dict(counters)
        counters.update(dict.fromkeys(counters, 0))
    for row, used in blends.items():
        ranker.reranker.alpha = used
        reranked, timing = rerank_frame(ranker.reranker, data, recs, top=TOP, path=data.split.path)
        if counters:
            timing |= {f"server_{counter}_per_user": value / len(users) for counter, value in counters.items()}
        results["rows"][row], bench.per_user[row] = scored(data, reranked, users)
        results["cost"][row] = results["cost"].get(f"{label}, judge alone", timing)  # the blend re-uses them
        results["paired"][row] = paired_test(bench.per_user[row], bench.per_user[baseline], "ndcg@10").__dict__
        print(
            f"{row}: ndcg@10 {results['rows'][row]['ndcg@10']:.4f}, {timing['seconds_per_user']:.1f} s per user",
            flush=True,
        )
        bench.write(results)


def trained_judge(bench: Bench, name: str) -> LLMRanker:
    """The judge `name`, trained on the split, or read back from runs/bench-llm-judge-DATASET/judges/ where an
    earlier run kept one with the same options and the same judges' code (`src/pairrank/judges/`: a change there,
    such as how training pairs are drawn, trains anew); a server judge, which has nothing to train, is not kept."""
    if name == "pair-wise" and bench.args.kept_judge is not None:
        print(f"{name}: read from {bench.args.kept_judge}", flush=True)
        return LLMRanker.load(bench.args.kept_judge)
    options = {**read_config(bench.args.config), **JUDGES[name], "top": TOP}
    if name == "server":
        options["server"] = {"base_url": bench.server_url, "api_key_env": None}
    hasher = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for source in sorted((ROOT / "src" / "pairrank" / "judges").glob("*.py")):
        hasher.update(source.read_bytes())
    digest = hasher.hexdigest()[:12]
    kept = ROOT / "runs" / f"bench-llm-judge-{bench.args.dataset}" / "judges" / f"{name.replace(' ', '-')}-{digest}"
    if name != "server" and (kept / "config.json").exists():
        print(f"{name}: read back from {kept}", flush=True)
        return LLMRanker.load(kept)
    started = time.perf_counter()
    judge = LLMRanker(options).fit(bench.data.train(), bench.data.valid())
    judge.report["fit_seconds"] = round(time.perf_counter() - started)
    print(f"{name}: trained in {judge.report['fit_seconds']} s", flush=True)
    if name != "server":
        judge.save(kept)
    return judge


@contextmanager
def llm_server() -> Iterator[str]:
    """llama.cpp's server (tools/llm_server.py) with the default GGUF on loopback, stopped on leaving."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "llm_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        address = process.stdout.readline().strip()
        if not address.startswith("http://127.0.0.1:"):
            raise SystemExit("llama.cpp's server did not start (is xllamacpp installed? make install does it)")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def remember_verdicts(reranker: LLMReranker) -> None:
    """Keep the judge's ranking of each (history, list), so that the blended re-ranking re-uses the verdicts the
    judge-alone one asked for (its cost is theirs)."""
    judged, kept = reranker.judged, {}

    def remembered(history: str, items: np.ndarray, judge=None):
        key = (history, tuple(items))
        if key not in kept:
            kept[key] = judged(history, items, judge)
        return kept[key]

    reranker.judged = remembered


def markdown(args: argparse.Namespace, command: str, results: dict[str, Any]) -> str:
    lines = header(
        f"LLM judge re-ranking {args.input}'s top {TOP} on {args.dataset} (loo)",
        command,
        f"Test scores of {results['users']} seeded test users, {args.input} refit on train+valid; each judge learns "
        "on train and re-ranks as `pairrank rerank` does, with the train+valid histories. Default model: "
        f"SmolLM2-135M-Instruct (GGUF, de-quantised to float32), on {DEVICE}. Each variant ranks by the judge "
        "alone, then blended with the input order (the blend chosen on validation users; it re-uses the "
        "judge-alone verdicts, so its cost is theirs).",
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
    for label, cost in results["cost"].items():
        if "server_calls_per_user" in cost and label.endswith("judge alone"):
            lines.append(
                f"- {label}: per user {cost['server_calls_per_user']:.1f} server calls "
                f"({cost['server_cached_per_user']:.1f} answered from the verdict cache), "
                f"{cost['server_prompt_tokens_per_user']:.0f} prompt tokens, "
                f"{cost['server_completion_tokens_per_user']:.1f} completion tokens."
            )
    for label, chosen in results.get("reblends", {}).items():
        valid = chosen["valid_ndcg@10"]
        lines.append(
            f"- {label}: the blend, re-chosen for this aggregation, alpha {chosen['alpha']:.1f} on "
            f"{chosen['valid_users']} validation users (NDCG@10 input {valid['input']:.4f}, judge alone "
            f"{valid['judge']:.4f}, blend {valid['blend']:.4f})."
        )
    for name, report in results["judges"].items():
        tuned = (
            f"{report['pairs']} training examples, fine-tuning {report['finetune_seconds']} s, mean loss per epoch "
            + ", ".join(f"{loss:.4f}" for loss in report["losses"])
            if "pairs" in report
            else "no fine-tuning"
        )
        valid = report["valid_ndcg@10"]
        load = f"model load {report['load_seconds']} s; " if "load_seconds" in report else ""
        unblended = " (the input order itself: no blended row)" if report["alpha"] == 0 else ""
        if "valid_counters" in report:
            calls = report["valid_counters"]
            tuned += f"; {calls['calls']} server calls and {calls['prompt_tokens']} prompt tokens on validation users"
        scored_in = f"; scored in {report['scored_in']}" if "scored_in" in report else ""
        lines.append(
            f"- {name} judge: {load}{tuned}{scored_in}; blend alpha {report['alpha']:.1f}{unblended} chosen "
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
    parser.add_argument("--sample-variants", default="server", help="variants run on the first --sample-users only")
    parser.add_argument("--sample-users", type=int, default=50)
    parser.add_argument(
        "--blend-users", type=int, default=None, help="validation users when a variant re-chooses its judge's blend"
    )
    parser.add_argument("--config", type=Path, default=None, help="a TOML/JSON file of llm-judge options")
    parser.add_argument("--kept-judge", type=Path, default=None, help="an llm-judge run folder: its pair-wise judge")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="score in this dtype, not the judge's")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    sampled = set(args.sample_variants.split(",")) & set(args.variants.split(",")) if args.sample_variants else set()
    out = args.out or ROOT / "benchmarks" / "results" / f"llm_judge-{args.dataset}.md"
    command = (
        f".venv/bin/python benchmarks/llm_judge.py --dataset {args.dataset} --input {args.input} "
        f"--users {args.users} --variants {args.variants}"
        + (f" --sample-variants {args.sample_variants} --sample-users {args.sample_users}" if sampled else "")
        + (f" --blend-users {args.blend_users}" if args.blend_users else "")
        + (f" --config {args.config}" if args.config else "")
        + (f" --kept-judge {args.kept_judge}" if args.kept_judge else "")
        + (f" --precision {args.precision}" if args.precision else "")
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
