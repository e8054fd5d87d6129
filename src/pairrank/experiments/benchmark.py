"""Benchmark: train, recommend and evaluate several models on one split."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.eval.evaluator import evaluate
from pairrank.eval.report import write_reports
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.training import model_config, train_model, write_run
from pairrank.progress import console

RECOMMEND_K = 100


def run_benchmark(
    split_dir: Path,
    models: list[str],
    out: Path,
    *,
    configs: dict[str, dict[str, Any]] | None = None,
    final: bool = True,
    keep_models: bool = False,
) -> list[dict[str, Any]]:
    """For each model: fit (refit on train+valid if `final`), recommend top-100 for
    test users, evaluate; writes results.json, results.md and report.html to `out`."""
    checked = {name: model_config(name, (configs or {}).get(name)) for name in models}  # before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    split = Split.read(split_dir)
    data = SplitData.from_split(split)
    seen = split.seen_frame()
    rows: list[dict[str, Any]] = []
    for name in models:
        console.print(f"[bold]{name}[/bold]: training on {split_dir} ({'train+valid' if final else 'train'})")
        model, info = train_model(data, name, checked[name], final=final)
        started = time.perf_counter()
        recs = recommend_for_test(model, data, RECOMMEND_K)
        recommend_seconds = time.perf_counter() - started
        recs.to_parquet(out / f"recs-{name}.parquet", index=False)
        if keep_models:
            write_run(model, info, out / "runs" / name)
        result = evaluate(
            split.test, recs, seen=seen, candidates=split.candidates, n_catalogue=len(data.items), on_seen="reject"
        )
        rows.append(
            {
                "model": name,
                **{k: round(float(v), 6) for k, v in result.means.items()},
                "ci95": {m: [round(ci.low, 6), round(ci.high, 6)] for m, ci in result.intervals.items()},
                "train_seconds": info["train_seconds"],
                "recommend_seconds": round(recommend_seconds, 2),
                "config": info["config"],
            }
        )
        console.print(f"  ndcg@10 {result.means['ndcg@10']:.4f}  ({info['train_seconds']:.1f} s to train)")
    summary = {"split": str(split_dir), "protocol": split.protocol, "final": final, "results": rows}
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    write_reports(summary, out)
    return rows
