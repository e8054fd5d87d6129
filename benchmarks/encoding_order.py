"""SentenceEncoder's batching on both development datasets: catalogue order in batches of 128 (before)
against longest first in batches of 32 (the default), wall time and agreement of the vectors.

    .venv/bin/python benchmarks/encoding_order.py [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from dev_datasets import DATASETS, ROOT, load
from machine import describe

from pairrank.data.item_text import item_texts
from pairrank.encoders.sentence import SentenceEncoder

OLD_CHUNK, OLD_BATCH = 512, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encoding_order.md")
    args = parser.parse_args()
    lines = [
        "# Encoding order and batch size (sentence-transformers, all-MiniLM-L6-v2)",
        "",
        "Command: `.venv/bin/python benchmarks/encoding_order.py`  ",
        f"Machine: {describe()}; {time.strftime('%Y-%m-%d')}",
        "",
        "| dataset | texts | catalogue order, batch 128 (s) | longest first, batch 32 (s) | min cosine between them |",
        "|---|---|---|---|---|",
    ]
    for name in DATASETS:
        texts = item_texts(load(name).items).tolist()
        encoder = SentenceEncoder()
        model = encoder._load()
        started = time.perf_counter()
        before = np.concatenate(
            [
                model.encode(texts[start : start + OLD_CHUNK], batch_size=OLD_BATCH, normalize_embeddings=True)
                for start in range(0, len(texts), OLD_CHUNK)
            ]
        )
        before_seconds = time.perf_counter() - started
        started = time.perf_counter()
        now = encoder.encode(texts)
        now_seconds = time.perf_counter() - started
        line = (
            f"| {name} | {len(texts)} | {before_seconds:.1f} | {now_seconds:.1f} | {(before * now).sum(1).min():.6f} |"
        )
        print(line, flush=True)
        lines.append(line)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
