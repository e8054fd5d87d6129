"""One RecBole general model on a PairRank split: its top-K recommendations for the test users, as PROTOCOL.md files.

    .venv-recbole/bin/python benchmarks/recbole_recs.py --split DIR --model NAME [--options JSON-LIST] --work DIR

Runs in RecBole's own environment (`make recbole`: RecBole 1.2.1 needs numpy < 2, scipy < 1.12 and pandas < 2.2,
older than PairRank's), so it imports nothing of PairRank and speaks to it through files only. As PairRank's
benchmarks do: each option set is early-stopped on the split's valid items (RecBole's own full-ranking NDCG@10,
train items excluded), the best is refit on train+valid for its epoch count, and it ranks the whole catalogue for
each test user with the user's train+valid items excluded. Writes WORK/recs.csv (`user_id,item_id,rank,score`, the
top `--k`) and WORK/info.json (each option set's best epoch, validation NDCG@10 and seconds; the chosen set).
RecBole's checkpoints are pickles, so none is written or read: the refit model is scored in memory.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

# RecBole 1.2.1 assigns these aliases, which numpy removed in 2.0, whenever it reads a config.
for alias, kind in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
    if not hasattr(np, alias):
        setattr(np, alias, kind)

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.data.interaction import Interaction  # noqa: E402
from recbole.utils import get_model, get_trainer, init_seed  # noqa: E402

DATASET = "split"  # the atomic files' stem
PARTS = ("train", "valid", "test")


def write_atomic(split: Path, folder: Path, refit: bool) -> None:
    """The split as RecBole's pre-split atomic files (FOLDER/split.{train,valid,test}.inter); `refit` puts the
    valid interactions into train as well."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {part: pd.read_csv(split / f"{part}.csv", dtype={"user_id": str, "item_id": str}) for part in PARTS}
    if refit:
        frames["train"] = pd.concat([frames["train"], frames["valid"]], ignore_index=True)
    for part, frame in frames.items():
        columns = {"user_id": "user_id:token", "item_id": "item_id:token"}
        if "timestamp" in frame:
            columns["timestamp"] = "timestamp:float"
        frame[list(columns)].rename(columns=columns).to_csv(folder / f"{DATASET}.{part}.inter", sep="\t", index=False)


def recbole_config(model: str, data_path: Path, options: dict[str, Any], epochs: int, seed: int) -> Config:
    settings = {
        "data_path": str(data_path),
        "benchmark_filename": list(PARTS),
        "load_col": {"inter": ["user_id", "item_id"]},
        "eval_args": {"split": None, "order": "RO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Recall"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "epochs": epochs,
        "stopping_step": 10,
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "worker": 0,
        "use_gpu": torch.cuda.is_available(),
        "checkpoint_dir": str(data_path / "checkpoints"),
        **options,
    }
    return Config(model=model, dataset=DATASET, config_dict=settings)


def fitted(model: str, data_path: Path, options: dict[str, Any], epochs: int, seed: int, validate: bool):
    """The model trained on the atomic files in DATA_PATH/split, its dataset, and each epoch's valid NDCG@10
    (early-stopped when `validate`, else `epochs` epochs without validation)."""
    config = recbole_config(model, data_path, options, epochs, seed)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, _ = data_preparation(config, dataset)
    network = get_model(config["model"])(config, train.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, network)
    valid_scores: dict[int, float] = {}
    started = time.perf_counter()

    def record(epoch: int, score: float) -> None:
        valid_scores[epoch] = float(score)
        print(
            f"{model} {json.dumps(options)}: epoch {epoch} valid ndcg@10 {score:.4f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    trainer.fit(train, valid if validate else None, saved=False, callback_fn=record)
    return network.eval(), train.dataset, valid_scores


def top_k(network, dataset, split: Path, k: int, batch_users: int = 256) -> pd.DataFrame:
    """Each test user's top `k` items over the whole catalogue, their train+valid items excluded."""
    seen = pd.concat(
        [pd.read_csv(split / f"{part}.csv", dtype={"user_id": str, "item_id": str}) for part in ("train", "valid")]
    )
    test_users = pd.read_csv(split / "test.csv", dtype={"user_id": str})["user_id"].drop_duplicates().to_numpy()
    user_field, item_field = dataset.uid_field, dataset.iid_field
    n_items = dataset.item_num  # internal id 0 is RecBole's padding item
    user_ids = dataset.token2id(user_field, test_users)
    test_row = np.full(dataset.user_num, -1)
    test_row[user_ids] = np.arange(len(user_ids))
    seen_rows = test_row[dataset.token2id(user_field, seen["user_id"].to_numpy())]  # -1: not a test user
    seen_items = dataset.token2id(item_field, seen["item_id"].to_numpy())
    frames = []
    with torch.no_grad():
        for start in range(0, len(user_ids), batch_users):
            batch = user_ids[start : start + batch_users]
            scores = network.full_sort_predict(Interaction({user_field: torch.as_tensor(batch)}))
            scores = scores.view(len(batch), n_items).cpu().numpy().astype(np.float64)
            scores[:, 0] = -np.inf
            in_batch = (seen_rows >= start) & (seen_rows < start + len(batch))
            scores[seen_rows[in_batch] - start, seen_items[in_batch]] = -np.inf
            best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            for row, user in enumerate(batch):
                keep = best[row][np.isfinite(scores[row, best[row]])]
                frames.append(
                    pd.DataFrame(
                        {
                            "user_id": dataset.id2token(user_field, [user])[0],
                            "item_id": dataset.id2token(item_field, keep),
                            "rank": np.arange(1, len(keep) + 1),
                            "score": scores[row, keep],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="a PairRank split folder (train/valid/test.csv)")
    parser.add_argument("--model", required=True, help="a RecBole general model: LightGCN, MultiVAE, RecVAE, ...")
    parser.add_argument(
        "--options", default="[{}]", help="a JSON list of RecBole option sets; the best on valid is refit"
    )
    parser.add_argument("--work", type=Path, required=True, help="folder for the atomic files and the results")
    parser.add_argument("--epochs", type=int, default=300, help="at most this many epochs (early stopping: 10)")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    grid = json.loads(args.options)
    if not isinstance(grid, list) or not all(isinstance(options, dict) for options in grid):
        parser.error(f"--options must be a JSON list of objects, not {args.options}")

    write_atomic(args.split, args.work / "select" / DATASET, refit=False)
    trials = []
    for options in grid:
        started = time.perf_counter()
        _, _, scores = fitted(args.model, args.work / "select", options, args.epochs, args.seed, validate=True)
        best_epoch = max(scores, key=scores.get)
        trials.append(
            {
                "options": options,
                "best_epoch": best_epoch,
                "epochs_run": len(scores),
                "valid_ndcg@10": scores[best_epoch],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    chosen = max(trials, key=lambda trial: trial["valid_ndcg@10"])
    print(f"{args.model}: chose {json.dumps(chosen['options'])} (valid ndcg@10 {chosen['valid_ndcg@10']:.4f})")

    started = time.perf_counter()
    print(f"{args.model}: refit on train+valid for {chosen['best_epoch'] + 1} epochs", flush=True)
    write_atomic(args.split, args.work / "final" / DATASET, refit=True)
    network, dataset, _ = fitted(
        args.model, args.work / "final", chosen["options"], chosen["best_epoch"] + 1, args.seed, validate=False
    )
    refit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    recs = top_k(network, dataset, args.split, args.k)
    recommend_seconds = time.perf_counter() - started
    recs.to_csv(args.work / "recs.csv", index=False)
    info = {
        "model": args.model,
        "chosen": chosen,
        "trials": trials,
        "refit_seconds": round(refit_seconds, 1),
        "recommend_seconds": round(recommend_seconds, 1),
    }
    (args.work / "info.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
