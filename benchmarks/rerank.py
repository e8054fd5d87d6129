"""Cross-encoder re-ranking (mono, then duo) over EASE and the pipeline, on a development dataset.

    .venv/bin/python benchmarks/rerank.py [--dataset ml-latest-small] [--protocol loo]
        [--inputs ease,pipeline] [--judge-config FILE] [--pipeline-config FILE] [--judge RUNDIR]
        [--backend onnx|torch] [--users N] [--out FILE]

Trains one `duo` run (its mono and duo judges learn on train, their blend with the input order is chosen
on validation users; EASE refit on train+valid) and re-ranks the test recommendations of each input model
(refit on train+valid) exactly as `pairrank rerank` does: mono over the top 50, duo over mono's top 10
(the judge's `top` and `duo_top`).
Reports NDCG@10 and friends for the input order, + mono, + duo, a paired test of each against the input,
and the re-ranking seconds per user. `--users` re-ranks a seeded sample of test users (all by default).
`--judge` re-uses a trained `duo` run instead of training one. Each input model's test recommendations
are kept in runs/bench-rerank-DATASET/ and re-used by later runs on the same split.

`--pipeline-config FILE` trains a pipeline run with that config instead (its `judge` must be "duo"; the
judges train inside it as a `duo` run would) and adds its rows: the input's top 50 re-ranked by the
pipeline's fusion alone, then by its mono and duo judges over the fused order (`pairrank rerank --judge
PIPELINE_RUN --model fusion|mono|duo`). `--judge` takes such a pipeline run too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dev_datasets import DATASETS, bench_split
from results_text import header

from pairrank.data.schema import USER
from pairrank.data.split_data import SplitData
from pairrank.eval.evaluator import evaluate
from pairrank.eval.stats import paired_test
from pairrank.experiments.config_file import read_config
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.reranking import FUSION, PipelineReranker, load_judge, rerank_frame
from pairrank.experiments.training import train_model, write_run
from pairrank.models.folder import read_meta

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ndcg@10", "recall@10", "map@10", "ndcg@20", "recall@20")
K = 100


def scored(data: SplitData, recs: pd.DataFrame, users: np.ndarray) -> tuple[dict[str, float], pd.DataFrame]:
    split = data.split
    test = split.test[split.test[USER].astype(str).isin(users)]
    result = evaluate(test, recs, seen=split.seen_frame(), n_catalogue=len(data.items), on_seen="reject")
    return {m: float(v) for m, v in result.means.items()}, result.per_user


def input_recs(data: SplitData, name: str, path: Path) -> tuple[pd.DataFrame, float | None]:
    """The test recommendations of model `name` refit on train+valid (read back from `path` if kept there)."""
    if path.exists():
        return pd.read_parquet(path), None
    model, info = train_model(data, name, final=True)
    recs = recommend_for_test(model, data, K)
    path.parent.mkdir(parents=True, exist_ok=True)
    recs.to_parquet(path, index=False)
    return recs, info["train_seconds"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = ROOT / "runs" / f"bench-rerank-{args.dataset}"
    data = bench_split(args.dataset, args.protocol)
    if args.judge is None:
        name, config = ("pipeline", args.pipeline_config) if args.pipeline_config else ("duo", args.judge_config)
        started = time.perf_counter()
        judge_model, info = train_model(data, name, read_config(config), final=True)
        judge_dir = write_run(judge_model, info, work / f"{name}-{args.protocol}")
        judge_seconds = time.perf_counter() - started
    else:
        judge_dir = args.judge
        judge_seconds = json.loads((judge_dir / "run.json").read_text())["train_seconds"]
    is_pipeline = read_meta(judge_dir).model == "pipeline"
    report_file = judge_dir / ("pipeline.json" if is_pipeline else "judge_report.json")
    report = json.loads(report_file.read_text())
    pipeline_blend = report.get("judge_blend") if is_pipeline else None
    report = report["judge"] if is_pipeline else report
    judge = load_judge(judge_dir, data, args.backend, whole_pipeline=False)
    if is_pipeline:  # alone, the judges blend with the input order as they chose against their own retriever's
        judge.settings = dataclasses.replace(
            judge.settings, mono_alpha=report["mono_alpha"], duo_alpha=report["duo_alpha"]
        )
    pipeline = load_judge(judge_dir, data, args.backend) if is_pipeline else None
    if isinstance(pipeline, PipelineReranker) and pipeline.pipeline.config.judge != "duo":
        raise SystemExit(f"{judge_dir} is a pipeline with judge = {pipeline.pipeline.config.judge!r}, not 'duo'")
    users = pd.unique(data.split.test[USER].astype(str))
    if args.users:
        users = np.random.default_rng(0).choice(users, min(args.users, len(users)), replace=False)
    results: dict[str, Any] = {
        "judge": report,
        "judge_train_s": judge_seconds,
        "backend": args.backend,
        "top": judge.settings.top,
        "duo_top": judge.settings.duo_top,
        "pipeline": os.path.relpath(judge_dir.resolve(), ROOT) if pipeline is not None else None,
        "pipeline_blend": pipeline_blend,
        "inputs": {},
    }
    for name in args.inputs.split(","):
        recs, train_seconds = input_recs(data, name, work / f"recs-{name}-{args.protocol}.parquet")
        recs = recs[recs[USER].astype(str).isin(users)].reset_index(drop=True)
        rows, per_user, seconds = {}, {}, {}
        rows[name], per_user[name] = scored(data, recs, users)
        rerankers = [(judge, stage, f"{name} + {stage}") for stage in ("mono", "duo")]
        if pipeline is not None:
            rerankers += [(pipeline, FUSION, f"{name} + fusion")]
            rerankers += [(pipeline, stage, f"{name} + fusion + {stage}") for stage in ("mono", "duo")]
        for reranker, stage, label in rerankers:
            top = judge.settings.top
            reranked, timing = rerank_frame(reranker, data, recs, top=top, stage=stage, path=judge_dir)
            rows[label], per_user[label] = scored(data, reranked, users)
            seconds[label.removeprefix(f"{name} + ")] = timing["seconds_per_user"]
        tests = {
            label: paired_test(per_user[label], per_user[name], "ndcg@10").__dict__ for label in rows if label != name
        }
        results["inputs"][name] = {
            "rows": rows,
            "paired": tests,
            "rerank_s_per_user": seconds,
            "input_train_s": train_seconds,
            "users": len(users),
        }
        print(f"{name}: " + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in rows.items()), flush=True)
    return results


def markdown(args: argparse.Namespace, command: str, results: dict[str, Any]) -> str:
    report = results["judge"]
    lines = header(
        f"Cross-encoder re-ranking on {args.dataset} ({args.protocol})",
        command,
        "Test scores, full ranking, train+valid items excluded; input models refit on train+valid. The judges "
        "(one `duo` run"
        + (", trained inside the pipeline run" if results["pipeline"] else "")
        + ") learn on train; their blend weights are chosen on validation users.",
    ) + [
        "",
        f"Judge ({results['backend']} backend): {report['pairs']} training pairs; mono {report['mono_seconds']} s, "
        f"duo {report['duo_seconds']} s of fine-tuning on {report.get('device', 'cpu')}; "  # older judges: the CPU
        f"whole run {results['judge_train_s']:.0f} s. Blend weights (1 = judge alone): mono "
        f"{report['mono_alpha']}, duo {report['duo_alpha']}. Validation NDCG@10 among {report['valid_users']} users "
        f"whose item is in EASE's top {results['top']}: input {report['mono_valid_ndcg@10']['input']:.4f}, mono alone "
        f"{report['mono_valid_ndcg@10']['judge']:.4f}, blend {report['mono_valid_ndcg@10']['blend']:.4f}."
        + (
            f" Mono learned the verdicts of the LLM judge `{report['teacher']}` on its training pairs (distillation;"
            f" the teacher's verdicts took {report['teacher_seconds']} s); duo learned from the pairs themselves."
            if "teacher" in report
            else ""
        ),
    ]
    if results["pipeline"]:
        lines += [
            "",
            f"Pipeline run `{results['pipeline']}` (whole run, judges included, above): the `+ fusion` rows re-order "
            f"the input's top {results['top']} by its fusion (its retrievers' scores and ranks of those items, their "
            "rank in its union, popularity, text similarity), then its mono over the fused order and duo over "
            "mono's top "
            f"{results['duo_top']} (`pairrank rerank --judge PIPELINE_RUN --model fusion|mono|duo`)."
            + _blend_text(results["pipeline_blend"], results["top"]),
        ]
    for name, result in results["inputs"].items():
        lines += [
            "",
            f"## Input: {name} ({result['users']} test users)",
            "",
            "| ranking | " + " | ".join(METRICS) + " | vs input: difference [95% CI], p |",
            "|---|" + "---|" * (len(METRICS) + 1),
        ]
        for label, row in result["rows"].items():
            test = result["paired"].get(label)
            versus = (
                f"{test['mean_difference']:+.4f} [{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], "
                f"p {test['p_randomisation']:.3g}"
                if test
                else "-"
            )
            lines.append(f"| {label} | " + " | ".join(f"{row[m]:.4f}" for m in METRICS) + f" | {versus} |")
        s = result["rerank_s_per_user"]
        lines += [
            "",
            f"Re-ranking per user: mono (top {results['top']}) {1000 * s['mono']:.0f} ms, mono + duo (top "
            f"{results['duo_top']}) {1000 * s['duo']:.0f} ms"
            + (
                f"; the pipeline's fusion {1000 * s['fusion']:.0f} ms, with mono {1000 * s['fusion + mono']:.0f} ms, "
                f"with mono + duo {1000 * s['fusion + duo']:.0f} ms."
                if "fusion" in s
                else "."
            ),
        ]
    return "\n".join(lines) + "\n"


def _blend_text(blend: dict[str, Any] | None, top: int) -> str:
    if blend is None:  # pipeline runs before the pipeline chose its own blend
        return " The judges' blend weights were chosen against their own retriever's order (EASE), not the fusion's."
    mono, duo = blend["mono_valid_ndcg@10"], blend["duo_valid_ndcg@10"]
    return (
        f" Inside the pipeline the judges' blend weights were chosen again against {blend['against']}: mono "
        f"{blend['mono_alpha']}, duo {blend['duo_alpha']}, on {blend['valid_users']} validation users whose item is "
        f"in the fused top {top} (NDCG@10 fused order {mono['input']:.4f}, mono alone {mono['judge']:.4f}, blend "
        f"{mono['blend']:.4f}; duo on {blend['duo_valid_users']} users: input {duo['input']:.4f}, duo alone "
        f"{duo['judge']:.4f}, blend {duo['blend']:.4f})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--protocol", default="loo")
    parser.add_argument("--inputs", default="ease,pipeline")
    parser.add_argument("--judge-config", type=Path, default=None)
    parser.add_argument("--pipeline-config", type=Path, default=None, help="train a pipeline run (judge duo)")
    parser.add_argument("--judge", type=Path, default=None, help="a trained duo or pipeline run to re-use")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"rerank-{args.dataset}-{args.protocol}.md"
    command = (
        f".venv/bin/python benchmarks/rerank.py --dataset {args.dataset} --protocol {args.protocol} "
        f"--inputs {args.inputs}"
        + (f" --judge-config {args.judge_config}" if args.judge_config else "")
        + (f" --pipeline-config {args.pipeline_config}" if args.pipeline_config else "")
        + (f" --judge {args.judge}" if args.judge else "")
        + f" --backend {args.backend}"
        + (f" --users {args.users}" if args.users else "")
        + (f" --out {args.out}" if args.out else "")
    )
    results = run(args)
    (ROOT / "runs" / f"bench-rerank-{args.dataset}" / f"results-{args.protocol}.json").write_text(
        json.dumps(results, indent=2, default=str)
    )
    out.write_text(markdown(args, command, results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
