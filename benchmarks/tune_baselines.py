"""Grid-search baseline hyperparameters on ml-latest-small validation NDCG@10.

    .venv/bin/python benchmarks/tune_baselines.py [--protocols loo,temporal80]

Fits on train, scores valid (train items excluded), and writes
benchmarks/results/tune_baselines.md. The chosen defaults in the model
configs come from this table.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import tempfile
import time
from pathlib import Path

from pairrank.data.importers import load_dataset
from pairrank.data.split_io import Split, make_split
from pairrank.models.registry import model_class
from pairrank.models.validation import validation_ndcg
from pairrank.pipeline.runs import SplitData

ROOT = Path(__file__).resolve().parents[1]
GRIDS: dict[str, dict[str, list]] = {
    "itemknn": {"k": [5, 10, 20, 50, 100], "shrink": [0.0, 10.0, 50.0]},
    "ease": {"l2": [50.0, 100.0, 250.0, 500.0]},
    "bprmf": {"factors": [64, 128], "lr": [0.001, 0.002, 0.005]},
    "textknn": {"recent": [0, 1, 3, 5, 10]},
    "implicit-als": {"factors": [64, 128], "regularization": [0.05, 1.0], "alpha": [1.0, 5.0]},
    "implicit-bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "lightfm": {"no_components": [64, 128], "learning_rate": [0.01, 0.05], "epochs": [20, 50]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocols", default="loo,temporal80")
    parser.add_argument("--models", default=",".join(GRIDS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tune_baselines.md")
    args = parser.parse_args()
    raw = load_dataset(ROOT / "datasets" / "ml-latest-small", "movielens")
    lines = [
        "# Baseline tuning on ml-latest-small (validation NDCG@10, fit on train)",
        "",
        f"Command: `.venv/bin/python benchmarks/tune_baselines.py --protocols {args.protocols} --models {args.models}`",
        f"Machine: {platform.machine()}, {__import__('os').cpu_count()} cores; {time.strftime('%Y-%m-%d')}",
        "",
        "| protocol | model | config | valid ndcg@10 | seconds |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for protocol in args.protocols.split(","):
            make_split(raw, protocol, Path(tmp) / protocol)
            data = SplitData.from_split(Split.read(Path(tmp) / protocol))
            train, valid = data.dataset(data.split.train), data.dataset(data.split.valid)
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
