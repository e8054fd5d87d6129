"""The pipeline's fusion refit under other options on the same labelled rows, beside EASE.

    .venv/bin/python benchmarks/fusion_settings.py [--dataset ml-latest-small] [--variant orderless]
        [--protocol temporal80] [--out FILE]

Fits the default pipeline once (as `benchmarks/pipeline.py` does: fusion learned on held-out labels,
retrievers refit on train+valid), gathers the rows its fusion learns from a second time (the same seeded
probe fit), then refits only the fusion with each option set below and scores the final pipeline on test,
with a paired test against its own EASE. The `default` row re-learns the default fusion: it must match the
pipeline's own score, which checks that the rows are the ones the pipeline learned from.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

from dev_datasets import DATASETS, VARIANTS, bench_name, bench_split
from pipeline import score
from results_text import header, out_option, paired_text

from pairrank.eval.stats import paired_test
from pairrank.experiments.training import train_model
from pairrank.pipeline.features import feature_names
from pairrank.pipeline.fusion import Fusion
from pairrank.pipeline.model import Pipeline

ROOT = Path(__file__).resolve().parents[1]
TRIALS: dict[str, dict[str, Any]] = {
    "default": {},
    "negatives 300": {"negatives": 300},
    "negatives 1000 (every candidate)": {"negatives": 1000},
    "leaves 31, min_child_samples 50": {"leaves": 31, "min_child_samples": 50},
    "negatives 1000, leaves 31, min_child_samples 50": {"negatives": 1000, "leaves": 31, "min_child_samples": 50},
    "learning_rate 0.02, up to 2000 trees": {"learning_rate": 0.02, "trees": 2000},
    "learning_rate 0.02, up to 2000 trees, negatives 1000": {"learning_rate": 0.02, "trees": 2000, "negatives": 1000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--variant", default="orderless", choices=VARIANTS)
    parser.add_argument("--protocol", default="temporal80")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name, data = bench_name(args.dataset, args.variant), bench_split(args.dataset, args.protocol, args.variant)
    started = time.perf_counter()
    pipeline, _ = train_model(data, "pipeline", {}, final=True)
    print(f"pipeline fitted in {time.perf_counter() - started:.0f} s", flush=True)
    own, own_users, _, _ = score(pipeline, data)
    ease, ease_users, _, _ = score(pipeline.retrievers["ease"], data)
    features, labels, sizes, _ = Pipeline(pipeline.config).held_out_rows(data.train(), data.valid())
    names = feature_names(pipeline.config.retrievers)
    rows = []
    for label, changes in TRIALS.items():
        fusion, report = Fusion.fit(features, labels, sizes, names, **{**pipeline.fusion_options(), **changes})
        refit = copy.copy(pipeline)
        refit.fusion = fusion
        metrics, per_user, _, _ = score(refit, data)
        test = paired_test(per_user, ease_users, "ndcg@10")
        rows.append((label, metrics["ndcg@10"], metrics["ndcg@10"] / ease["ndcg@10"], report, paired_text(test)))
        print(f"{label}: ndcg@10 {metrics['ndcg@10']:.4f} ({rows[-1][2]:.3f}x EASE)", flush=True)
    command = (
        f".venv/bin/python benchmarks/fusion_settings.py --dataset {args.dataset} --variant {args.variant} "
        f"--protocol {args.protocol}" + out_option(args.out, None, ROOT)
    )
    notes = (
        f"Test NDCG@10, full ranking, every retriever refit on train+valid. The pipeline as fitted: "
        f"{own['ndcg@10']:.4f}; its EASE alone: {ease['ndcg@10']:.4f}. Each row refits only the fusion "
        f"({len(sizes)} labelled users, {int((labels > 0).sum())} relevant candidates) with the options named."
    )
    lines = [
        *header(f"Fusion settings on {name} ({args.protocol})", command, notes),
        "",
        "| fusion | ndcg@10 | / EASE | trees | cross-validated NDCG@10 | vs EASE: difference [95% CI], p |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {ndcg:.4f} | {ratio:.3f}x | {report['trees']} | {report['cv_ndcg@10']:.4f} | {paired} |"
            for label, ndcg, ratio, report, paired in rows
        ),
        "",
        "The cross-validated NDCG@10 is among each labelled user's relevant candidates and the sampled negatives,",
        "so it is comparable only between rows with the same `negatives`.",
    ]
    out = args.out or ROOT / "benchmarks" / "results" / f"fusion_settings-{name}-{args.protocol}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
