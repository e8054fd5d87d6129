"""The main job on the bundled MovieLens sample: import, split, train the language-model ranker beside
the baselines, evaluate, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pairrank.data.importers import load_dataset
from pairrank.data.schema import TIMESTAMP, USER
from pairrank.data.split_io import Split, make_split
from pairrank.experiments.benchmark import run_benchmark
from pairrank.progress import console

DEMO_MODELS = ["mostpop", "itemknn", "ease", "textknn", "twotower"]
# TwoTower's default trains up to 40 epochs; the demo caps it so the whole job fits a few minutes on 2 cores.
DEMO_CONFIGS: dict[str, dict[str, Any]] = {"twotower": {"epochs": 12, "patience": 4}}
SHOWN_MODEL = "twotower"


@dataclass
class DemoRun:
    split_dir: Path
    benchmark_dir: Path

    @property
    def shown_run(self) -> Path:
        """The run folder of the model whose recommendations the demo shows."""
        return self.benchmark_dir / "runs" / SHOWN_MODEL

    def shown_user(self) -> tuple[str, list[str]]:
        """A user with a mid-length history (the first whose train+valid count is the median or more) and
        that history, oldest first: what the shown model was refit on."""
        seen = Split.read(self.split_dir).seen_frame()
        if TIMESTAMP in seen:
            seen = seen.sort_values(TIMESTAMP, kind="stable")
        histories = seen.groupby(seen[USER].astype(str))["item_id"]
        counts = histories.size()
        user = str(counts[counts >= counts.median()].index[0])
        return user, histories.get_group(user).astype(str).tolist()


def run_demo(data: Path, out: Path, protocol: str) -> DemoRun:
    """Split `data` (MovieLens layout) with `protocol`, then benchmark the demo models, keeping their runs."""
    raw = load_dataset(data, "movielens")
    split_dir = Path(out) / f"split-{protocol}"
    summary = make_split(raw, protocol, split_dir)
    console.print(
        f"split {data} with {protocol}: {summary['train_interactions']} train, "
        f"{summary['valid_interactions']} valid, {summary['test_interactions']} test"
    )
    benchmark_dir = Path(out) / "benchmark"
    run_benchmark(split_dir, DEMO_MODELS, benchmark_dir, configs=DEMO_CONFIGS, keep_models=True)
    return DemoRun(split_dir, benchmark_dir)
