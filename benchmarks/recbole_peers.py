"""RecBole's general recommenders beside PairRank's EASE and pipeline, on the benchmarks' shared splits.

    make recbole   # once: RecBole 1.2.1 in an environment of its own, .venv-recbole
    .venv/bin/python benchmarks/recbole_peers.py [--datasets ml-latest-small,amazon-scientific] [--protocols loo]
        [--variant full|orderless] [--models LightGCN,MultiVAE,RecVAE,EASE] [--out FILE]

Each RecBole model runs in .venv-recbole (`benchmarks/recbole_recs.py`, which speaks to PairRank through the split's
CSV files and a recommendations file, PROTOCOL.md): each option set of GRID is early-stopped on the split's valid
items, the one with the best valid NDCG@10 is refit on train+valid for its epoch count, and its top 100 for each
test user is scored here by PairRank's evaluator (full ranking, train+valid items excluded), with a paired test
against PairRank's EASE refit on train+valid. The pipeline's and TwoTower's test NDCG@10 on the same split are read
from `benchmarks/results/pipeline-NAME[-PROTOCOL].md`. A model's finished run (its folder under
runs/bench-recbole-NAME/) is read back, not repeated. Writes benchmarks/results/recbole_peers-DATASETS[-orderless]-
PROTOCOLS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from dev_datasets import DATASETS, VARIANTS, bench_name, bench_split
from pipeline import evaluated, score
from results_text import header, out_option, paired_text, recorded_line

from pairrank.data.split_data import SplitData
from pairrank.eval.recs import read_recommendations
from pairrank.eval.stats import paired_test
from pairrank.experiments.training import train_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RECBOLE_PYTHON = ROOT / ".venv-recbole" / "bin" / "python"
# RecBole's option sets per model, chosen among on valid: its defaults, but LightGCN also at a 10x learning rate (at
# RecBole's 0.001 it was still climbing when early stopping ended it on ml-latest-small), the autoencoders train on 64
# users a batch (RecBole's 2,048 is one step an epoch on ml-latest-small), and EASE's L2 weight is swept over the
# grid that chose PairRank's EASE default (benchmarks/tune_baselines.py: 50 to 500) and below it, where
# amazon-scientific's best lies.
GRID: dict[str, list[dict[str, Any]]] = {
    "LightGCN": [{}, {"learning_rate": 0.01}],
    "MultiVAE": [{"train_batch_size": 64}],
    "RecVAE": [{"train_batch_size": 64}],
    "EASE": [{"reg_weight": weight} for weight in (10.0, 25.0, 50.0, 100.0, 250.0, 500.0)],
}


def recbole_run(data: SplitData, model: str, work: Path) -> dict[str, Any]:
    """RecBole's `model` trained and recommending in its own environment; its info.json. A finished run of the same
    option sets in WORK is read back instead (an interrupted benchmark goes on where it stopped)."""
    done = work / "info.json"
    if done.exists() and (work / "recs.csv").exists():
        info = json.loads(done.read_text())
        if [trial["options"] for trial in info["trials"]] == GRID[model]:
            print(f"{model}: the finished run in {work} is read back", flush=True)
            return info
    command = [str(RECBOLE_PYTHON), str(ROOT / "benchmarks" / "recbole_recs.py"), "--split", str(data.split.path)]
    command += ["--model", model, "--options", json.dumps(GRID[model]), "--work", str(work)]
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(command, check=True, cwd=work)  # RecBole writes a log_tensorboard folder in its working folder
    return json.loads((work / "info.json").read_text())


def run(dataset: str, variant: str, protocol: str, models: list[str]) -> list[str]:
    name = bench_name(dataset, variant)
    data = bench_split(dataset, protocol, variant)
    lines = [
        f"## {name}, {protocol}",
        "",
        "| model | options (chosen on valid) | valid ndcg@10 | epochs | ndcg@10 | recall@10 | ndcg@20 | coverage@10 | "
        "train s | vs PairRank's EASE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    started = time.perf_counter()
    ease, _ = train_model(data, "ease", final=True)
    ease_seconds = time.perf_counter() - started
    ease_metrics, ease_users, _, _ = score(ease, data)
    tried = []
    for model in models:
        work = ROOT / "runs" / f"bench-recbole-{name}" / f"{protocol}-{model}"
        info = recbole_run(data, model, work)
        tried.append(
            f"{model} "
            + ", ".join(
                f"`{json.dumps(trial['options'])}` {trial['valid_ndcg@10']:.4f} "
                f"({trial['epochs_run']} epoch{'s' if trial['epochs_run'] > 1 else ''})"
                for trial in info["trials"]
            )
        )
        result = evaluated(data, read_recommendations(work / "recs.csv"))
        metrics = {metric: float(value) for metric, value in result.means.items()}
        chosen = info["chosen"]
        train_seconds = sum(trial["seconds"] for trial in info["trials"]) + info["refit_seconds"]
        versus = paired_text(paired_test(result.per_user, ease_users, "ndcg@10"))
        lines.append(
            f"| RecBole {model} | `{json.dumps(chosen['options'])}` | {chosen['valid_ndcg@10']:.4f} | "
            f"{chosen['best_epoch'] + 1} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | "
            f"{metrics['ndcg@20']:.4f} | {metrics['coverage@10']:.4f} | {train_seconds:.0f} | {versus} |"
        )
        print(f"{name} {protocol} RecBole {model}: ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    lines.append(
        f"| PairRank ease | default | - | - | {ease_metrics['ndcg@10']:.4f} | {ease_metrics['recall@10']:.4f} | "
        f"{ease_metrics['ndcg@20']:.4f} | {ease_metrics['coverage@10']:.4f} | {ease_seconds:.0f} | - |"
    )
    return lines + [
        "",
        "Valid NDCG@10 of each option set: " + "; ".join(tried) + ".",
        "",
        recorded_line(name, protocol),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--protocols", default="loo")
    parser.add_argument("--variant", default="full", choices=VARIANTS)
    parser.add_argument("--models", default=",".join(GRID), help=f"from {', '.join(GRID)}")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = sorted(set(models) - set(GRID))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(GRID)}")
    if not RECBOLE_PYTHON.exists():
        raise SystemExit(f"{RECBOLE_PYTHON} is missing: run `make recbole` first")
    variant = "" if args.variant == "full" else f"-{args.variant}"
    default_out = (
        RESULTS / f"recbole_peers-{args.datasets.replace(',', '-')}{variant}-{args.protocols.replace(',', '-')}.md"
    )
    out = args.out or default_out
    command = (
        f".venv/bin/python benchmarks/recbole_peers.py --datasets {args.datasets} --protocols {args.protocols} "
        f"--variant {args.variant} --models {args.models}" + out_option(out, default_out, ROOT)
    )
    top = header(
        "RecBole's general recommenders beside PairRank",
        command,
        "Test scores by PairRank's evaluator, full ranking, train+valid items excluded. Each RecBole model (1.2.1, "
        "in `.venv-recbole`) is early-stopped on valid by RecBole's own full-ranking NDCG@10 for each option set, "
        "the best set is refit on train+valid for its epoch count (`epochs`), and its top 100 is read back as a "
        "recommendations file; `train s` covers every option set and the refit. `vs PairRank's EASE`: the model - "
        "EASE, paired over test users.",
    )
    body: list[str] = [""]
    for dataset in args.datasets.split(","):
        for protocol in args.protocols.split(","):
            body += run(dataset, args.variant, protocol, models)
            out.write_text("\n".join(top + body))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
