"""TwoTower against the baselines and peers on ml-latest-small, plus its ablations and wall time.

    .venv/bin/python benchmarks/twotower.py [--parts side,ablation,wall,seeds] [--protocols loo,temporal80,cold_items]

side:     every model with its default config, early-stopped on valid, refit on train+valid, scored on test
          with PairRank's evaluator (full ranking; cold_items ranks the withheld candidates only).
ablation: TwoTower variants on the loo split, each scored by its best validation NDCG@10 (no test data used).
seeds:    the default TwoTower refit and tested with other seeds on loo and temporal80, beside EASE (deterministic):
          how much of a gap between them is seed noise.
wall:     `pairrank train --model twotower --final` + `pairrank recommend` as a user runs them, empty embedding
          cache included, timed end to end.
Writes benchmarks/results/twotower.md (and per-protocol reports under runs/bench-twotower/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe

from pairrank.data.importers import load_dataset
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split
from pairrank.experiments.benchmark import run_benchmark
from pairrank.experiments.training import train_model
from pairrank.models.registry import model_names

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "twotower.md"
PEERS = ["ease", "bprmf", "itemknn", "implicit-bpr", "implicit-als", "lightfm", "textknn", "mostpop"]
CLAIM_PEERS = ["ease", "bprmf", "itemknn", "implicit-bpr", "implicit-als"]  # the bar
COLD_MODELS = ["mostpop", "textknn", "twotower"]
SEEDS = (1, 2, 3)  # besides the default 42 of the side-by-side run
METRICS = ("ndcg@10", "recall@10", "map@10", "mrr@10", "ndcg@20", "recall@20", "coverage@10")
ABLATIONS = {  # the default: text+id, sampled softmax, popularity negatives, GRU user tower, weight average
    "default (text+id, softmax, popularity, gru, ema 0.98)": {},
    "no weight average (ema_decay 0)": {"ema_decay": 0.0},
    "text only (no item ids)": {"use_item_id": False},
    "id only (no text)": {"use_text": False},
    "loss: bpr (1 negative)": {"loss": "bpr", "num_negatives": 1},
    "loss: bpr (256 negatives)": {"loss": "bpr"},
    "negatives: uniform": {"negatives": "uniform"},
    "negatives: hard": {"negatives": "hard"},
    "user tower: attention": {"user_tower": "attention"},
    "user tower: hybrid (attention + running mean)": {"user_tower": "hybrid"},
    "user tower: pooling": {"user_tower": "pooling"},
    "learning rate 0.001 (instead of 0.012)": {"lr": 0.001},
}


def available(models: list[str]) -> list[str]:
    """The models that can run here (optional peers only when installed)."""
    return [m for m in models if m in model_names()]


def side_by_side(raw, protocols: list[str], work: Path) -> list[str]:
    lines = ["## Side by side (test)", ""]
    for protocol in protocols:
        split_dir = work / f"split-{protocol}"
        make_split(raw, protocol, split_dir)
        models = COLD_MODELS if protocol == "cold_items" else ["twotower", *available(PEERS)]
        rows = run_benchmark(split_dir, models, work / protocol)
        lines += [f"### {protocol}", "", "| model | " + " | ".join(METRICS) + " | train s | recommend s |"]
        lines.append("|---|" + "---|" * (len(METRICS) + 2))
        for r in sorted(rows, key=lambda r: -r["ndcg@10"]):
            cells = " | ".join(f"{r[m]:.4f}" for m in METRICS)
            lines.append(f"| {r['model']} | {cells} | {r['train_seconds']:.1f} | {r['recommend_seconds']:.1f} |")
        lines += ["", claim(protocol, {r["model"]: r for r in rows}), ""]
        print("\n".join(lines[-len(rows) - 5 :]), flush=True)
    return lines


def claim(protocol: str, rows: dict[str, dict]) -> str:
    ours = rows["twotower"]["ndcg@10"]
    if protocol == "cold_items":
        ratio = ours / rows["textknn"]["ndcg@10"]
        verdict = "met" if ratio >= 1.2 else "NOT met"
        return f"Claim (TwoTower >= 1.2x TextKNN): {ratio:.2f}x, {verdict}."
    best = max((m for m in CLAIM_PEERS if m in rows), key=lambda m: rows[m]["ndcg@10"])
    theirs = rows[best]["ndcg@10"]
    verdict = "met" if ours >= theirs else "NOT met"
    return f"Claim (TwoTower >= best of {', '.join(CLAIM_PEERS)}): {ours:.4f} vs {best} {theirs:.4f}, {verdict}."


def ablations(work: Path) -> list[str]:
    data = SplitData.from_split(Split.read(work / "split-loo"))
    lines = [
        "## Ablations (loo, best validation NDCG@10; each row changes one option of the default)",
        "",
        "| variant | options | valid ndcg@10 | best epoch | epochs run | train s |",
        "|---|---|---|---|---|---|",
    ]
    curves = []
    for label, options in ABLATIONS.items():
        started = time.perf_counter()
        model, info = train_model(data, "twotower", options)
        seconds = time.perf_counter() - started
        curve = info["curve"]
        lines.append(
            f"| {label} | `{options or '-'}` | {max(curve):.4f} | {model.best_epoch} | {len(curve)} | {seconds:.0f} |"
        )
        curves.append(f"- {label}: " + " ".join(f"{v:.4f}" for v in curve))
        print(lines[-1], flush=True)
    return lines + ["", "Learning curves (valid NDCG@10 per epoch):", "", *curves, ""]


def seed_spread(raw, protocols: list[str], work: Path) -> list[str]:
    lines = [
        "## Seeds (test NDCG@10; the default TwoTower refit on train+valid with other seeds, beside EASE)",
        "",
        "| protocol | EASE | " + " | ".join(f"seed {s}" for s in SEEDS) + " | mean | sd | seeds >= EASE |",
        "|---|---|" + "---|" * (len(SEEDS) + 3),
    ]
    for protocol in (p for p in protocols if p != "cold_items"):
        split_dir = work / f"split-{protocol}"
        make_split(raw, protocol, split_dir)
        ease = run_benchmark(split_dir, ["ease"], work / "seeds" / protocol)[0]["ndcg@10"]
        scores = np.array(
            [
                run_benchmark(
                    split_dir, ["twotower"], work / "seeds" / f"{protocol}-{seed}", configs={"twotower": {"seed": seed}}
                )[0]["ndcg@10"]
                for seed in SEEDS
            ]
        )
        cells = " | ".join(f"{v:.4f}" for v in scores)
        lines.append(
            f"| {protocol} | {ease:.4f} | {cells} | {scores.mean():.4f} | {scores.std(ddof=1):.4f} "
            f"| {(scores >= ease).sum()} of {len(SEEDS)} |"
        )
        print(lines[-1], flush=True)
    return lines + [""]


def wall_time(work: Path) -> list[str]:
    """The default TwoTower as a user runs it: train (with refit) then recommend, from an empty embedding cache."""
    pairrank = [sys.executable, "-m", "pairrank"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PAIRRANK_CACHE": cache, "PAIRRANK_QUIET": "1"}
        split, run = work / "split-loo", work / "wall-run"
        started = time.perf_counter()
        subprocess.run(
            [*pairrank, "train", "--split", split, "--model", "twotower", "--out", run, "--final"], check=True, env=env
        )
        trained = time.perf_counter()
        subprocess.run(
            [*pairrank, "recommend", "--run", run, "--split", split, "--out", work / "wall-recs.parquet"],
            check=True,
            env=env,
        )
        done = time.perf_counter()
    return [
        "## Wall time (default config, loo, 2 cores, empty embedding cache)",
        "",
        f"`pairrank train --model twotower --final`: {trained - started:.0f} s; "
        f"`pairrank recommend` (610 users x top-100): {done - trained:.0f} s; total {done - started:.0f} s "
        f"(target < 600 s).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="side,ablation,wall")
    parser.add_argument("--protocols", default="loo,temporal80,cold_items")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-twotower")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    parts = args.parts.split(",")
    raw = load_dataset(ROOT / "datasets" / "ml-latest-small", "movielens")
    args.work.mkdir(parents=True, exist_ok=True)
    make_split(raw, "loo", args.work / "split-loo")
    lines = [
        "# TwoTower on ml-latest-small",
        "",
        f"Command: `.venv/bin/python benchmarks/twotower.py --parts {args.parts} --protocols {args.protocols}"
        f"{'' if args.out.resolve() == DEFAULT_OUT else f' --out {args.out}'}`  ",
        f"Machine: {describe()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
    ]
    if "side" in parts:
        lines += side_by_side(raw, args.protocols.split(","), args.work)
    if "ablation" in parts:
        lines += ablations(args.work)
    if "wall" in parts:
        lines += wall_time(args.work)
    if "seeds" in parts:
        lines += seed_spread(raw, args.protocols.split(","), args.work)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
