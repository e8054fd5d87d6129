"""TwoTower's user tower on histories without order: the causal GRU against the order-free running mean.

    .venv/bin/python benchmarks/user_tower.py [--datasets ml-latest-small,amazon-scientific] [--protocol loo]

On the order-less, title-only variant of each development dataset (PROTOCOL.md's seeded random order per
user, `benchmarks/pipeline.py --variant orderless`), TwoTower with `user_tower = "gru"` and `"pooling"`
(early-stopped on valid, refit on train+valid) and EASE for reference, scored on test with a paired test
of pooling against gru. It decides what `user_tower = "auto"` picks when the data has no timestamps.
Writes benchmarks/results/user_tower.md.
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
MODELS = {
    "twotower gru": ("twotower", {"user_tower": "gru"}),
    "twotower pooling": ("twotower", {"user_tower": "pooling"}),
}


def run(dataset: str, protocol: str) -> list[str]:
    data = bench_split(dataset, protocol, "orderless")
    lines = [
        f"## {dataset}, orderless, {protocol}",
        "",
        "| model | ndcg@10 | recall@10 | train s |",
        "|---|---|---|---|",
    ]
    per_user = {}
    for label, (name, options) in {**MODELS, "ease": ("ease", {})}.items():
        model, info = train_model(data, name, options, final=True)
        metrics, per_user[label], _, _ = score(model, data)
        lines.append(
            f"| {label} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | {info['train_seconds']:.0f} |"
        )
        print(f"{dataset} {label}: ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    test = paired_test(per_user["twotower pooling"], per_user["twotower gru"], "ndcg@10")
    lines += [
        "",
        f"Pooling - gru: NDCG@10 {paired_text(test)}.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--protocol", default="loo")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "user_tower.md")
    args = parser.parse_args()
    command = f".venv/bin/python benchmarks/user_tower.py --datasets {args.datasets} --protocol {args.protocol}"
    command += out_option(args.out, parser.get_default("out"), ROOT)
    top = header(
        "TwoTower user tower on order-less histories",
        command,
        "Test scores, full ranking, train+valid items excluded; each model refit on train+valid.",
    )
    body: list[str] = [""]
    for dataset in args.datasets.split(","):
        body += run(dataset, args.protocol)
        args.out.write_text("\n".join(top + body))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
