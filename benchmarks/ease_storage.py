"""EASE's model folder: int8 weights (the default) against float32, size on disk and test NDCG@10.

    .venv/bin/python benchmarks/ease_storage.py [--protocols loo,temporal80] [--out FILE]

On both development datasets: refit on train+valid with each storage, save
the run folder, and score test with full ranking. Writes
benchmarks/results/ease_storage.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dev_datasets import DATASETS, ROOT, load
from machine import describe

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split
from pairrank.eval.evaluator import evaluate
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.training import train_model, write_run


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocols", default="loo,temporal80")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-ease-storage")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ease_storage.md")
    args = parser.parse_args()
    lines = [
        "# EASE storage: int8 against float32 weights",
        "",
        f"Command: `.venv/bin/python benchmarks/ease_storage.py --protocols {args.protocols}`  ",
        f"Machine: {describe()}; {time.strftime('%Y-%m-%d')}  ",
        "Refit on train+valid (l2 = 100), test NDCG@10 with full ranking; size is the whole run folder.",
        "",
        "| dataset | protocol | items | float32 MB | int8 MB | int8 / float32 | float32 ndcg@10 | int8 ndcg@10 "
        "| change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in DATASETS:
        raw = load(dataset)
        for protocol in args.protocols.split(","):
            split_dir = args.work / dataset / f"split-{protocol}"
            make_split(raw, protocol, split_dir)
            data = SplitData.from_split(Split.read(split_dir))
            sizes, scores = {}, {}
            for storage in ("float32", "int8"):
                model, info = train_model(data, "ease", {"storage": storage}, final=True)
                folder = write_run(model, info, args.work / dataset / f"{protocol}-{storage}")
                sizes[storage] = folder_megabytes(folder)
                recs = recommend_for_test(model, data, 100)
                result = evaluate(data.split.test, recs, seen=data.split.seen_frame(), n_catalogue=len(data.items))
                scores[storage] = result.means["ndcg@10"]
            change = 100 * (scores["int8"] / scores["float32"] - 1)
            line = (
                f"| {dataset} | {protocol} | {len(data.items)} | {sizes['float32']:.1f} | {sizes['int8']:.1f} | "
                f"{sizes['int8'] / sizes['float32']:.3f} | {scores['float32']:.4f} | {scores['int8']:.4f} | "
                f"{change:+.2f}% |"
            )
            print(line, flush=True)
            lines.append(line)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
