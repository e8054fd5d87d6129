"""The multi-stage pipeline beside every single model, with its ablation, on the development datasets.

    .venv/bin/python benchmarks/pipeline.py [--dataset ml-latest-small] [--variant full|orderless]
        [--protocols loo,temporal80,cold_items] [--config FILE] [--out FILE]

One pipeline run per protocol (default config, fusion learned on valid, retrievers refit on
train+valid) gives the pipeline's row, the union of its candidates without fusion, and each of its
retrievers alone (they are the refit single models: TwoTower, EASE, ItemKNN, TextKNN). The other
baselines and peers are trained beside it. Reports NDCG@10 and friends on test, each candidate
list's recall@N on test, each stage's latency per user, and a paired test of the pipeline against
the best single model. `--variant orderless` drops the timestamps (each user's history gets
PROTOCOL.md's seeded random order) and keeps only the item title as text.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dev_datasets import DATASETS, bench_name, bench_split
from results_text import header, out_option, paired_text

from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.eval.evaluator import evaluate
from pairrank.eval.result import EvaluationResult
from pairrank.eval.stats import paired_test
from pairrank.experiments.config_file import read_config
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.training import train_model
from pairrank.models.config import replace_options
from pairrank.models.registry import model_class, model_names
from pairrank.pipeline.model import Pipeline
from pairrank.pipeline.retrieve import VectorModel
from pairrank.pipeline.vector_index import recall_against_exact

ROOT = Path(__file__).resolve().parents[1]
# single models outside the pipeline
OTHERS = ["mostpop", "userknn", "bprmf", "implicit-als", "implicit-bpr", "lightfm", "sasrec"]
METRICS = ("ndcg@10", "recall@10", "map@10", "ndcg@20", "recall@20", "coverage@10")
K = 100
MMR_LAMBDAS = (1.0, 0.9, 0.7, 0.5)


def candidate_recall(model: Pipeline, data: SplitData) -> dict[str, float]:
    """Mean share of each test user's items found by each retriever's list and by their union."""
    split = data.split
    users = model.users.index(pd.unique(split.test[USER].astype(str)), missing="ignore")
    users = users[users >= 0]
    truth = data.dataset(split.test).matrix
    allowed = None
    if split.candidates is not None:
        allowed = np.zeros(len(model.items), dtype=bool)
        allowed[model.items.index(split.candidates.astype(str))] = True
    found: dict[str, list[float]] = {}
    for start in range(0, len(users), 256):
        batch = users[start : start + 256]
        candidates, outputs = model.retrieve(batch, model.history[batch], allowed)
        relevant = truth[batch]
        n_relevant = np.diff(relevant.indptr)
        lists = {**{name: output.items for name, output in outputs.items()}, "union": candidates}
        for name, items in lists.items():
            hits = [np.isin(_row(relevant, r), items[r]).sum() for r in range(len(batch))]
            found.setdefault(name, []).extend(np.asarray(hits) / n_relevant)
    return {name: float(np.mean(values)) for name, values in found.items()}


def _row(matrix: Any, row: int) -> np.ndarray:
    return matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]


def with_options(pipeline: Pipeline, **options: Any) -> Pipeline:
    """The fitted pipeline with other ranking options (the fusion, MMR), nothing refit."""
    changed = copy.copy(pipeline)
    changed.config = replace_options(pipeline.config, options)
    return changed


def intra_list_similarity(pipeline: Pipeline, recs: pd.DataFrame) -> float:
    """Mean text cosine between the items of each list (lower: more varied lists)."""
    vectors = pipeline.stats.text_vectors
    values = []
    for _, rows in recs.groupby(USER):
        items = pipeline.items.index(rows[ITEM].astype(str).to_numpy())
        similarity = vectors[items] @ vectors[items].T
        values.append(similarity[np.triu_indices(len(items), 1)].mean() if len(items) > 1 else 1.0)
    return float(np.mean(values))


def score(model: Any, data: SplitData) -> tuple[dict[str, float], pd.DataFrame, float, pd.DataFrame]:
    """Test metrics, per-user metrics, recommend seconds and the top-K lists of one fitted model."""
    started = time.perf_counter()
    recs = recommend_for_test(model, data, K)
    seconds = time.perf_counter() - started
    result = evaluated(data, recs)
    return {m: float(v) for m, v in result.means.items()}, result.per_user, seconds, recs


def evaluated(data: SplitData, recs: pd.DataFrame) -> EvaluationResult:
    """`recs` (PROTOCOL.md frame) scored on the split's test items, full ranking."""
    split = data.split
    return evaluate(
        split.test,
        recs,
        seen=split.seen_frame(),
        candidates=split.candidates,
        n_catalogue=len(data.items),
        on_seen="reject",
    )


def run_protocol(dataset: str, variant: str, protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    data = bench_split(dataset, protocol, variant)
    started = time.perf_counter()
    pipeline, info = train_model(data, "pipeline", options, final=True)
    train_seconds = time.perf_counter() - started
    rows: dict[str, dict[str, Any]] = {}
    per_user: dict[str, pd.DataFrame] = {}
    metrics, per_user["pipeline"], seconds, _ = score(pipeline, data)
    latency = {stage: round(1000 * s, 2) for stage, s in pipeline.latency.items()}
    rows["pipeline"] = {**metrics, "train_s": train_seconds, "recommend_s": seconds, "kind": "pipeline"}
    metrics, per_user["union"], seconds, _ = score(with_options(pipeline, fusion=False), data)
    rows["union (no fusion)"] = {**metrics, "train_s": None, "recommend_s": seconds, "kind": "ablation"}
    diversity = {}
    for lam in MMR_LAMBDAS:
        diverse = with_options(pipeline, mmr_lambda=lam, mmr_pool=K)
        metrics, _, _, recs = score(diverse, data)
        top10 = recs[recs["rank"] <= 10]  # greedy MMR: its first 10 picks are its top 10
        diversity[lam] = {**metrics, "intra_list_similarity@10": intra_list_similarity(pipeline, top10)}
    cold = protocol == "cold_items"
    for name, retriever in pipeline.retrievers.items():
        if cold and not retriever.supports_cold_items:
            continue
        metrics, per_user[name], seconds, _ = score(retriever, data)
        fit = pipeline.report["retriever_fit_seconds"][name]
        rows[name] = {**metrics, "train_s": fit, "recommend_s": seconds, "kind": "single"}
    for name in OTHERS:
        if name not in model_names() or (cold and not model_class(name).supports_cold_items and name != "mostpop"):
            continue
        model, other = train_model(data, name, final=True)
        metrics, per_user[name], seconds, _ = score(model, data)
        rows[name] = {**metrics, "train_s": other["train_seconds"], "recommend_s": seconds, "kind": "single"}
    singles = [n for n, r in rows.items() if r["kind"] == "single"]
    best = max(singles, key=lambda n: rows[n]["ndcg@10"])
    test = paired_test(per_user["pipeline"], per_user[best], "ndcg@10")
    vector_models = {n: m for n, m in pipeline.retrievers.items() if isinstance(m, VectorModel)}
    hnsw = {
        name: recall_against_exact(model.item_vectors(), model.user_vectors(np.arange(len(pipeline.users))), 100)
        for name, model in vector_models.items()
    }
    return {
        "protocol": protocol,
        "rows": rows,
        "hnsw_recall@100": hnsw,
        "best_single": best,
        "ratio": rows["pipeline"]["ndcg@10"] / max(rows[best]["ndcg@10"], 1e-12),
        "paired": test.__dict__,
        "recall": candidate_recall(pipeline, data),
        "latency_ms_per_user": latency,
        "report": pipeline.report,
        "diversity": diversity,
        "candidates": pipeline.config.candidates,
    }


def fusion_line(report: dict[str, Any]) -> str:
    """What the fusion learned from, and how well (`Pipeline.held_out_rows`)."""
    fusion = report["fusion"]
    key = next((k for k in report if k.startswith(("label_recall@", "valid_recall@"))), None)
    recall = ", ".join(f"{name} {value:.3f}" for name, value in report[key].items()) if key else ""
    return (
        f"Fusion (learned on {fusion.get('learned_on', 'validation items')}): {fusion['trees']} trees, "
        f"cross-validated NDCG@10 {fusion['cv_ndcg@10']} (among each user's relevant items and 100 sampled others) "
        f"on {fusion['groups']} users"
        + (f", {fusion['labels']} relevant candidates ({fusion['label_seconds']} s)" if "labels" in fusion else "")
        + (f"; candidate recall@{key.split('@')[1]} of those labels: {recall}" if key else "")
        + "; largest gains: "
        + ", ".join(f"{k} {v:.2f}" for k, v in list(fusion["feature_gain"].items())[:6])
    )


def cold_fusion_line(report: dict[str, Any]) -> str:
    """What the fusion of new items learned from, and how well (`Pipeline.withheld_rows`)."""
    cold = report["cold_fusion"]
    key = next((k for k in report if k.startswith("withheld_recall@")), None)
    withheld = ", ".join(f"{name} {value:.3f}" for name, value in report[key].items()) if key else ""
    return (
        f"Cold fusion (new items; learned on {cold.get('learned_on', 'warm validation items')}): {cold['trees']} "
        f"trees, cross-validated NDCG@10 {cold['cv_ndcg@10']} on {cold['groups']} users"
        + (f"; candidate {key.removeprefix('withheld_')} among the withheld items: {withheld}" if key else "")
        + "; largest gains: "
        + ", ".join(f"{k} {v:.2f}" for k, v in list(cold["feature_gain"].items())[:6])
    )


def markdown(dataset: str, variant: str, command: str, results: list[dict[str, Any]]) -> str:
    lines = header(
        f"Pipeline on {dataset} ({variant})",
        command,
        "Test scores, full ranking (candidates only on cold_items), train+valid items excluded; every model "
        "refit on train+valid. The retriever rows are the pipeline's own refit retrievers.",
    )
    for r in results:
        n = r["candidates"]
        lines += [
            "",
            f"## {r['protocol']}",
            "",
            "| model | " + " | ".join(METRICS) + " | train s | recommend s |",
            "|---|" + "---|" * (len(METRICS) + 2),
        ]
        for name, row in sorted(r["rows"].items(), key=lambda kv: -kv[1]["ndcg@10"]):
            train = "-" if row["train_s"] is None else f"{row['train_s']:.1f}"
            label = f"**{name}**" if name == "pipeline" else name
            cells = " | ".join(f"{row[m]:.4f}" for m in METRICS)
            lines.append(f"| {label} | {cells} | {train} | {row['recommend_s']:.1f} |")
        lines += [
            "",
            f"Pipeline / best single model ({r['best_single']}): **{r['ratio']:.3f}x** NDCG@10; paired difference "
            f"{paired_text(r['paired'])}.",
            "",
            f"Candidate recall@{n} per retriever on test (the union is the ceiling of the fusion): "
            + ", ".join(f"{k} {v:.3f}" for k, v in r["recall"].items()),
            "",
            "HNSW recall@100 against exact search (every user's vector, the same item vectors): "
            + (", ".join(f"{k} {v:.3f}" for k, v in r["hnsw_recall@100"].items()) or "no vector retriever"),
            "",
            "Latency per user while recommending for the test users (ms): "
            + ", ".join(f"{k} {v}" for k, v in r["latency_ms_per_user"].items()),
            "",
            "MMR diversity over the same ranking (`mmr_lambda`; 1 = off): "
            + ", ".join(
                f"{lam}: NDCG@10 {d['ndcg@10']:.4f}, coverage@10 {d['coverage@10']:.4f}, intra-list text similarity "
                f"{d['intra_list_similarity@10']:.3f}"
                for lam, d in r.get("diversity", {}).items()
            ),
            "",
            fusion_line(r["report"]),
            "",
            cold_fusion_line(r["report"]),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--variant", default="full", choices=["full", "orderless"])
    parser.add_argument("--protocols", default="loo,temporal80,cold_items")
    parser.add_argument("--config", type=Path, default=None, help="pipeline options (JSON or TOML)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name = bench_name(args.dataset, args.variant)
    work = ROOT / "runs" / f"bench-pipeline-{name}"
    default_out = ROOT / "benchmarks" / "results" / f"pipeline-{name}.md"
    out = args.out or default_out
    command = f".venv/bin/python benchmarks/pipeline.py --dataset {args.dataset} --variant {args.variant} " + (
        f"--protocols {args.protocols}"
        + (f" --config {args.config}" if args.config else "")
        + out_option(args.out, default_out, ROOT)
    )
    options = read_config(args.config)
    results = []
    for protocol in args.protocols.split(","):
        results.append(run_protocol(args.dataset, args.variant, protocol, options))
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
        out.write_text(markdown(name, args.variant, command, results))
        print(f"{protocol}: pipeline {results[-1]['ratio']:.3f}x {results[-1]['best_single']}", flush=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
