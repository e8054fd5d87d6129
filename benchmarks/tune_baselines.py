"""Grid-search baseline hyperparameters on validation NDCG@10 of a development dataset.

    .venv/bin/python benchmarks/tune_baselines.py [--dataset ml-latest-small] [--protocols loo,temporal80]
        [--models itemknn,...] [--out FILE]

Fits on train, scores valid (train items excluded), and writes a Markdown
table (default benchmarks/results/tune_baselines.md). The chosen defaults in
the model configs come from these tables.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import tempfile
import time
from pathlib import Path

from dev_datasets import DATASETS, load
from machine import describe

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split
from pairrank.models.registry import model_class
from pairrank.models.validation import validation_ndcg

ROOT = Path(__file__).resolve().parents[1]
GRIDS: dict[str, dict[str, list]] = {
    "itemknn": {"k": [5, 10, 20, 50, 100], "shrink": [0.0, 10.0, 50.0]},
    "ease": {"l2": [50.0, 100.0, 250.0, 500.0]},
    "userknn": {"k": [10, 20, 50, 100, 200], "shrink": [0.0, 10.0, 50.0]},
    "bprmf": {"factors": [64, 128], "lr": [0.001, 0.002, 0.005]},
    "textknn": {"decay": [0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]},
    "implicit-als": {"factors": [64, 128], "regularization": [0.05, 1.0], "alpha": [1.0, 5.0]},
    "implicit-bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "lightfm": {"no_components": [64, 128], "learning_rate": [0.01, 0.05], "epochs": [20, 50]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--protocols", default="loo,temporal80")
    parser.add_argument("--models", default=",".join(GRIDS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tune_baselines.md")
    args = parser.parse_args()
    raw = load(args.dataset)
    lines = [
        f"# Baseline tuning on {args.dataset} (validation NDCG@10, fit on train)",
        "",
        f"Command: `.venv/bin/python benchmarks/tune_baselines.py --dataset {args.dataset} "
        f"--protocols {args.protocols} --models {args.models} --out {args.out}`",
        f"Machine: {platform.machine()}, {describe()}; {time.strftime('%Y-%m-%d')}",
        "",
        "| protocol | model | config | valid ndcg@10 | seconds |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in args.protocols.split(","):
            make_split(raw, protocol, Path(tmp) / protocol)
            data = SplitData.from_split(Split.read(Path(tmp) / protocol))
            train, valid = data.train(), data.valid()
            for name in args.models.split(","):
                grid = GRIDS[name]
                for values in itertools.product(*grid.values()):
                    config = dict(zip(grid, values))
                    started = time.perf_counter()
                    model = model_class(name)(config).fit(train, valid)
                    score = validation_ndcg(model, valid)
                    seconds = time.perf_counter() - started
                    line = f"| {protocol} | {name} | {config} | {score:.4f} | {seconds:.1f} |"
                    print(line, flush=True)
                    lines.append(line)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
