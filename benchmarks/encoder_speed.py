"""Items/s encoding 10,000 MovieLens item texts: sentence-transformers (torch)
vs ONNX Runtime fp32 vs ONNX Runtime int8, plus each ONNX variant's mean
cosine to the torch vectors.

Texts are built as the project does (title, genres and tags of
ml-latest-small, cycled from 9,742 movies to 10,000) and given to every
backend in the same order: "catalogue" order, where each backend sorts by
length only inside each 512-text chunk (SentenceEncoder via
sentence-transformers' own sort by characters, OnnxEncoder by tokens), and
"sorted", where the whole list is sorted by length first, for all
backends, so batches carry little padding. Only encoding is timed, after one warm-up batch; the ONNX export
(into a fresh temporary cache) is timed separately. "cpu use" is this
process's CPU time over wall time x cores: well under 100 % means another
process was competing for the cores. Writes benchmarks/results/encoder_speed.md.

Run: PYTHONPATH=src .venv/bin/python benchmarks/encoder_speed.py [--batch-sizes 128 32] [--orders catalogue sorted]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PAIRRANK_QUIET", "1")

import numpy as np  # noqa: E402
from machine import describe as describe_machine  # benchmarks/machine.py (scripts run from here)

from pairrank.data.importers import load_dataset  # noqa: E402
from pairrank.data.item_text import item_texts  # noqa: E402
from pairrank.encoders.cache import TextEncoder  # noqa: E402
from pairrank.encoders.onnx import OnnxEncoder, export_model  # noqa: E402
from pairrank.encoders.sentence import DEFAULT_MODEL, SentenceEncoder  # noqa: E402

N_TEXTS = 10_000
ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "encoder_speed.md"
PACKAGES = ("torch", "sentence-transformers", "transformers", "onnxruntime", "onnx", "tokenizers", "numpy")


def movielens_texts() -> list[str]:
    raw = load_dataset(ROOT / "datasets" / "ml-latest-small", "movielens")
    return list(itertools.islice(itertools.cycle(item_texts(raw.items).tolist()), N_TEXTS))


def timed(encoder: TextEncoder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float, float]:
    """Vectors, wall seconds and CPU use (0-1) of encoding `texts`, after one warm-up batch."""
    encoder.encode(texts[:batch_size])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    vectors = encoder.encode(texts)
    wall = time.perf_counter() - wall0
    return vectors, wall, (time.process_time() - cpu0) / (wall * len(os.sched_getaffinity(0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    parser.add_argument("--orders", nargs="+", choices=["catalogue", "sorted"], default=["catalogue", "sorted"])
    args = parser.parse_args()
    catalogue = movielens_texts()
    orders = {"catalogue": catalogue, "sorted": sorted(catalogue, key=len, reverse=True)}
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        folder = OnnxEncoder(cache_dir=Path(cache)).folder
        start = time.perf_counter()
        export_model(DEFAULT_MODEL, folder)
        export_s = time.perf_counter() - start
        print(f"export (fp32 + fused + int8): {export_s:.1f} s", flush=True)
        for order, batch_size in itertools.product(args.orders, args.batch_sizes):
            texts = orders[order]
            encoders = {
                "sentence-transformers (torch)": SentenceEncoder(batch_size=batch_size),
                "ONNX Runtime fp32": OnnxEncoder(quantize=False, batch_size=batch_size, cache_dir=Path(cache)),
                "ONNX Runtime int8": OnnxEncoder(quantize=True, batch_size=batch_size, cache_dir=Path(cache)),
            }
            reference, torch_s = None, None
            for name, encoder in encoders.items():
                vectors, seconds, cpu = timed(encoder, texts, batch_size)
                if reference is None:  # the torch encoder comes first
                    reference, torch_s = vectors, seconds
                cos = (vectors * reference).sum(axis=1)
                rows.append((name, order, batch_size, len(texts) / seconds, seconds, torch_s / seconds, cos, cpu))
                print(f"{name}, {order}, batch {batch_size}: {len(texts) / seconds:.0f} items/s, cos {cos.mean():.4f}")
    write_results(rows, export_s, load_before, os.getloadavg())


def write_results(rows: list[tuple], export_s: float, before, after) -> None:
    command = "PYTHONPATH=src .venv/bin/python benchmarks/encoder_speed.py " + " ".join(sys.argv[1:])
    lines = [
        "# Text encoder speed: torch vs ONNX Runtime",
        "",
        f"- command: `{command.strip()}`",
        f"- machine: {describe_machine()}",
        f"- date: {dt.date.today().isoformat()}; load average (1, 5, 15 min) before: "
        f"{', '.join(f'{x:.2f}' for x in before)}; after: {', '.join(f'{x:.2f}' for x in after)}",
        f"- versions: {', '.join(f'{p} {version(p)}' for p in PACKAGES)}",
        f"- data: {N_TEXTS:,} ml-latest-small item texts (title. genres. tags; 9,742 movies cycled), the same "
        "order for every backend. catalogue: as loaded, each backend sorts by length within each 512-text "
        "chunk; sorted: the whole list sorted by length first",
        f"- model: packaged {DEFAULT_MODEL}; ONNX export (torch.onnx, mean pooling + L2 norm in the graph, "
        "onnxruntime BERT fusion) + dynamic int8 quantisation (per-channel, MatMul + Attention; embeddings "
        f"stay fp32) took {export_s:.1f} s, once: cached afterwards",
        "- timing: encoding only, after one warm-up batch; cpu use = process CPU time / (wall x cores), "
        "well under 100 % would mean another process competed",
        "",
        "| backend | order | batch | items/s | seconds | speed-up vs torch | mean cosine vs torch | min cosine "
        "| cpu use |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, order, batch, rate, seconds, speedup, cos, cpu in rows:
        lines.append(
            f"| {name} | {order} | {batch} | {rate:.0f} | {seconds:.1f} | {speedup:.2f}x | {cos.mean():.4f} | "
            f"{cos.min():.4f} | {cpu:.0%} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
