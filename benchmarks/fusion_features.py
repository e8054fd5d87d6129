"""Which feature groups the pipeline's fusion learns from, on validation users of both development datasets.

    .venv/bin/python benchmarks/fusion_features.py [--datasets ml-latest-small,amazon-scientific]
        [--protocol loo] [--seeds 3]

Fits the default pipeline's retrievers on train once per dataset, builds the validation users' candidate
features once, then cross-validates the fusion (as `Fusion.fit` does: 5 folds over users, early stopping)
with all features and with each group left out, over several seeds (the seed draws the sampled negatives,
the folds and LightGBM's feature sampling). No test data is read. Writes
benchmarks/results/fusion_features.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from dev_datasets import DATASETS, bench_split
from results_text import header, out_option

from pairrank.pipeline.features import feature_names
from pairrank.pipeline.fusion import Fusion
from pairrank.pipeline.model import Pipeline

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {  # feature name prefixes (or names) of each group
    "attribute overlap": ("attribute_",),
    "text similarity": ("text_",),
    "popularity": ("popularity", "recent_popularity"),
    "history length": ("history_length",),
}


def cross_validated(features, labels, sizes, names, keep, options, seeds) -> list[float]:
    columns = [names.index(n) for n in keep]
    return [
        Fusion.fit(features[:, columns], labels, sizes, keep, **(options | {"seed": seed}))[1]["cv_ndcg@10"]
        for seed in seeds
    ]


def run(dataset: str, protocol: str, seeds: range) -> list[str]:
    data = bench_split(dataset, protocol)
    pipeline = Pipeline({"fusion": False}).fit(data.train(), data.valid())
    pipeline.config = Pipeline().config  # the default fusion, on the fitted retrievers
    features, labels, sizes, _ = pipeline.validation_rows(data.valid())
    names = feature_names(pipeline.config.retrievers)
    options = pipeline.fusion_options()
    lines = [
        f"## {dataset}, {protocol} ({int((np.add.reduceat(labels, np.r_[0, np.cumsum(sizes)[:-1]]) > 0).sum())} "
        "validation users with a relevant candidate)",
        "",
        "| features | cv NDCG@10, mean over seeds | sd | difference to all |",
        "|---|---|---|---|",
    ]
    everything = cross_validated(features, labels, sizes, names, names, options, seeds)
    lines.append(f"| all | {np.mean(everything):.4f} | {np.std(everything):.4f} | - |")
    for group, prefixes in GROUPS.items():
        keep = [n for n in names if not n.startswith(prefixes)]
        scores = cross_validated(features, labels, sizes, names, keep, options, seeds)
        change = np.mean(scores) - np.mean(everything)
        lines.append(f"| without {group} | {np.mean(scores):.4f} | {np.std(scores):.4f} | {change:+.4f} |")
        print(f"{dataset}: without {group} {np.mean(scores):.4f} (all {np.mean(everything):.4f})", flush=True)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--protocol", default="loo")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fusion_features.md")
    args = parser.parse_args()
    command = (
        f".venv/bin/python benchmarks/fusion_features.py --datasets {args.datasets} --protocol {args.protocol} "
        f"--seeds {args.seeds}"
    )
    command += out_option(args.out, parser.get_default("out"), ROOT)
    top = header(
        "Fusion feature groups, cross-validated on validation users",
        command,
        "Default pipeline; retrievers fit on train; the fusion's 5-fold cross-validated NDCG@10 over validation "
        "users (each user's relevant candidates and 100 sampled others), early-stopped, one run per seed.",
    ) + [""]
    body: list[str] = []
    for dataset in args.datasets.split(","):
        body += run(dataset, args.protocol, range(args.seeds))
        args.out.write_text("\n".join(top + body))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
