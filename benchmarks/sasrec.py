"""SASRec, the id-only sequential peer, beside EASE on both development datasets, with the pipeline's figure.

    .venv/bin/python benchmarks/sasrec.py [--datasets ml-latest-small,amazon-scientific] [--protocols loo]
        [--variants default,dropout-0.5,lr-0.001,bpr] [--out FILE]

On the pipeline benchmark's own splits (`runs/bench-pipeline-DATASET/split-PROTOCOL`, made if missing),
each SASRec variant is early-stopped on valid NDCG@10 (the `valid` column: what chooses the defaults),
refit on train+valid and scored on test with full ranking, beside EASE, with a paired test of each
variant against EASE. The pipeline's and TwoTower's test NDCG@10 on the same split are read from
`benchmarks/results/pipeline-DATASET[-PROTOCOL].md` for reference. Writes benchmarks/results/sasrec.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dev_datasets import DATASETS, bench_split
from pipeline import score
from results_text import header, out_option, paired_text, recorded_line

from pairrank.eval.stats import paired_test
from pairrank.experiments.training import train_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "dropout-0.5": {"dropout": 0.5},
    "lr-0.001": {"lr": 0.001},
    "bpr": {"loss": "bpr"},
}


def run(dataset: str, protocol: str, variants: list[str]) -> list[str]:
    data = bench_split(dataset, protocol)
    lines = [
        f"## {dataset}, {protocol}",
        "",
        "| model | options | valid ndcg@10 | epochs | ndcg@10 | recall@10 | ndcg@20 | train s | vs EASE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ease, ease_info = train_model(data, "ease", final=True)
    ease_metrics, ease_users, _, _ = score(ease, data)
    for variant in variants:
        options = VARIANTS[variant]
        model, info = train_model(data, "sasrec", options, final=True)
        metrics, per_user, _, _ = score(model, data)
        versus = paired_text(paired_test(per_user, ease_users, "ndcg@10"))
        lines.append(
            f"| sasrec {variant} | `{options}` | {max(info['curve']):.4f} | {info['best_epoch']} | "
            f"{metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | {metrics['ndcg@20']:.4f} | "
            f"{info['train_seconds']:.0f} | {versus} |"
        )
        print(f"{dataset} {protocol} sasrec {variant}: ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    lines.append(
        f"| ease | `{{}}` | - | - | {ease_metrics['ndcg@10']:.4f} | {ease_metrics['recall@10']:.4f} | "
        f"{ease_metrics['ndcg@20']:.4f} | {ease_info['train_seconds']:.0f} | - |"
    )
    return lines + ["", recorded_line(dataset, protocol), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--protocols", default="loo")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"from {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=RESULTS / "sasrec.md")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    command = (
        f".venv/bin/python benchmarks/sasrec.py --datasets {args.datasets} --protocols {args.protocols} "
        f"--variants {args.variants}" + out_option(args.out, parser.get_default("out"), ROOT)
    )
    top = header(
        "SASRec beside EASE",
        command,
        "Test scores, full ranking, train+valid items excluded; each model early-stopped on valid and refit on "
        "train+valid (`epochs`: the early-stopped count). `vs EASE`: SASRec - EASE, paired over test users.",
    )
    body: list[str] = [""]
    for dataset in args.datasets.split(","):
        for protocol in args.protocols.split(","):
            body += run(dataset, protocol, variants)
            args.out.write_text("\n".join(top + body))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
