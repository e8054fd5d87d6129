"""TwoTower's negatives side by side: uniform against popularity-weighted sampling (the default since this run).

    .venv/bin/python benchmarks/twotower_negatives.py [--datasets ml-latest-small,amazon-scientific]
        [--protocols loo,temporal80,cold_items] [--out FILE]

The exploration in results/twotower.md found popularity negatives ahead on ml-latest-small (most of all on
new items); this reruns the choice on both development datasets, on the pipeline benchmark's splits, with
everything else at its default (early-stopped on valid, refit on train+valid), and a paired test of
popularity against uniform. It decided TwoTower's `negatives` default. Writes
benchmarks/results/twotower_negatives.md unless --out names another file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dev_datasets import DATASETS, bench_split
from pipeline import score
from results_text import header, out_option, paired_text

from pairrank.eval.stats import paired_test
from pairrank.experiments.training import train_model

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("uniform", "popularity")


def run(dataset: str, protocol: str) -> list[str]:
    data = bench_split(dataset, protocol)
    lines = [
        f"## {dataset}, {protocol}",
        "",
        "| negatives | ndcg@10 | recall@10 | coverage@10 | best epoch | train s |",
        "|---|---|---|---|---|---|",
    ]
    per_user = {}
    for kind in KINDS:
        model, info = train_model(data, "twotower", {"negatives": kind}, final=True)
        metrics, per_user[kind], _, _ = score(model, data)
        lines.append(
            f"| {kind} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | {metrics['coverage@10']:.4f} | "
            f"{info['best_epoch']} | {info['train_seconds']:.0f} |"
        )
        print(f"{dataset} {protocol} {kind}: ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    test = paired_test(per_user["popularity"], per_user["uniform"], "ndcg@10")
    lines += [
        "",
        f"Popularity - uniform: NDCG@10 {paired_text(test)}.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--protocols", default="loo,temporal80,cold_items")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "twotower_negatives.md")
    args = parser.parse_args()
    command = (
        f".venv/bin/python benchmarks/twotower_negatives.py --datasets {args.datasets} --protocols {args.protocols}"
        + out_option(args.out, parser.get_default("out"), ROOT)
    )
    top = header(
        "TwoTower negatives: uniform against popularity",
        command,
        "Test scores, full ranking (candidates only on cold_items), train+valid items excluded; each model "
        "early-stopped on valid and refit on train+valid with that epoch count.",
    )
    body: list[str] = [""]
    for dataset in args.datasets.split(","):
        for protocol in args.protocols.split(","):
            body += run(dataset, protocol)
            args.out.write_text("\n".join(top + body))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
