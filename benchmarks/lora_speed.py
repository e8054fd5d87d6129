"""Seconds per LoRA fine-tuning step of the LLM judge with adapters in every block or in the last N only.

    .venv/bin/python benchmarks/lora_speed.py [--blocks all,16,8,4] [--steps 6] [--out FILE]

The default model (SmolLM2-135M-Instruct) with the default prompt, on ml-latest-small titles: seeded
histories of 5 items against seeded pairs, 8 pairs a step in both orders (the default batch), trained by
the same `train_llm_judge` as `pairrank train --model llm-judge`. The first step (warm-up) is not counted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from dev_datasets import ROOT, load
from machine import describe

from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_training import LoraOptions, add_adapters, train_llm_judge
from pairrank.judges.training import Pairs, TrainingOptions

BATCH = 8


def timed_steps(blocks: int | None, steps: int, titles: list[str]) -> tuple[float, int]:
    """Mean seconds per step after the first, and the number of trainable parameters."""
    judge = LLMJudge(CausalLM.load(), titles)
    add_adapters(judge.lm, LoraOptions(last_blocks=blocks))
    trainable = sum(p.numel() for p in judge.lm.model.parameters() if p.requires_grad)
    rng = np.random.default_rng(0)
    n = BATCH * steps
    histories = [judge.history_text(rng.choice(len(titles), 5, replace=False)) for _ in range(n)]
    pairs = Pairs(histories, rng.choice(len(titles), n), rng.choice(len(titles), n))
    options = TrainingOptions(epochs=1, learning_rate=1e-3, batch_size=BATCH, seed=0)
    warm = Pairs(histories[:BATCH], pairs.positives[:BATCH], pairs.negatives[:BATCH])
    train_llm_judge(judge, warm, options)
    started = time.perf_counter()
    train_llm_judge(judge, pairs, options)
    return (time.perf_counter() - started) / steps, trainable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", default="all,16,8,4")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lora_speed.md")
    args = parser.parse_args()
    titles = load("ml-latest-small").items["title"].astype(str).tolist()
    lines = [
        "# LoRA fine-tuning step of the LLM judge: adapters in every block or in the last N",
        "",
        f"Command: `.venv/bin/python benchmarks/lora_speed.py --blocks {args.blocks} --steps {args.steps}`  ",
        f"Machine: {describe()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"SmolLM2-135M-Instruct (30 blocks, float32), default prompt with 5 ml-latest-small titles of history, "
        f"{BATCH} pairs a step in both orders; mean of {args.steps} steps after a warm-up step.",
        "",
        "| adapters | trainable parameters | s per step | vs every block |",
        "|---|---|---|---|",
    ]
    baseline = None
    for value in args.blocks.split(","):
        blocks = None if value == "all" else int(value)
        seconds, trainable = timed_steps(blocks, args.steps, titles)
        baseline = baseline or seconds
        label = "every block" if blocks is None else f"last {blocks} blocks"
        lines.append(f"| {label} | {trainable:,} | {seconds:.2f} | {baseline / seconds:.2f}x |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
