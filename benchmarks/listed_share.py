"""How many of the judges' training positives does the retriever list? EASE fit on all of train against a copy
fit without each user's latest train items, beside the share of validation items it lists.

    .venv/bin/python benchmarks/listed_share.py [--dataset ml-latest-small] [--out FILE]

On the `loo` split of the pipeline benchmark. A positive is the item `cut` places from the end of a user's train
sequence (cut 1 to `positions`), listed when EASE puts it in its top M for the history before it, among the items
that are not the user's later ones (`judges.training.retrieved_before`, as the judges' pairs are drawn). `train`:
EASE fit on all of train, which has learned each positive from its own user's row (the old drawing, `negatives_from
= "train"`); `unseen`: EASE fit without each user's last `positions` train items (`negatives_from = "unseen"`). The
yardstick is what a re-ranker meets at serving: the share of validation items that EASE fit on train lists in its
top M for the whole train history.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from dev_datasets import DATASETS, ROOT, bench_split
from results_text import header, out_option

from pairrank.data.dataset import Dataset
from pairrank.judges.training import retrieved_before
from pairrank.models.base import Recommender
from pairrank.models.registry import model_class

POSITIONS = (2, 8)  # the LLM judge's and the cross-encoders' default training cuts per user
TOPS = (20, 50)  # the LLM judge's and the cross-encoders' default lists


def ease_fit(train: Dataset, fit_on: str, positions: int) -> Recommender:
    """EASE fit on all of train, or without each user's last `positions` train items (`unseen`)."""
    keep = ~train.latest_rows(positions, at_most_half=False) if fit_on == "unseen" else np.ones(len(train), bool)
    return model_class("ease")().fit(train.subset(keep))


def listed_share(train: Dataset, ease: Recommender, positions: int, top: int) -> tuple[float, int]:
    """The share of positives (the last `positions` train items of every user) that `ease` lists, and their count."""
    users = train.active_users()
    lengths = np.array([sequence.size for sequence in train.user_sequences(users)])
    listed = []
    for cut in range(1, positions + 1):
        _, found = retrieved_before(train, ease, users, cut, top)
        listed.append(found[lengths > cut])
    every = np.concatenate(listed)
    return float(every.mean()), every.size


def valid_share(ease: Recommender, valid: Dataset, top: int) -> tuple[float, int]:
    """The share of validation items that `ease` (fit on train) lists in its top `top` for the whole history."""
    users = valid.active_users()
    ranked, _ = ease.recommend(users, top)
    truth = valid.matrix
    found = [
        bool(np.isin(truth.indices[truth.indptr[u] : truth.indptr[u + 1]], row).any()) for u, row in zip(users, ranked)
    ]
    return float(np.mean(found)), len(found)


def run(args: argparse.Namespace) -> str:
    data = bench_split(args.dataset, "loo")
    train, valid = data.train(), data.valid()
    fits = {("train", 0): ease_fit(train, "train", 0)}
    fits |= {("unseen", positions): ease_fit(train, "unseen", positions) for positions in POSITIONS}
    rows = []
    for top in TOPS:
        share, count = valid_share(fits["train", 0], valid, top)
        rows.append(f"| validation items (EASE fit on train) | - | {top} | {count} | {share:.1%} |")
        for positions in POSITIONS:
            for fit_on in ("train", "unseen"):
                ease = fits[fit_on, positions if fit_on == "unseen" else 0]
                share, count = listed_share(train, ease, positions, top)
                rows.append(
                    f"| training positives, EASE fit on {fit_on} | {positions} | {top} | {count} | {share:.1%} |"
                )
        print("\n".join(rows[-5:]), flush=True)
    command = (
        f".venv/bin/python benchmarks/listed_share.py --dataset {args.dataset}"
        f"{out_option(args.out, default_out(args.dataset), ROOT)}"
    )
    notes = (
        "The `loo` split of the pipeline benchmark. Positives: each user's last `positions` train items, each "
        "against EASE's top M for the history before it; `train`: EASE fit on all of train; `unseen`: EASE fit "
        "without each user's last `positions` train items. Validation items: EASE fit on train, the whole train "
        "history, as a served retriever meets the test items."
    )
    lines = header(
        f"Listed positives: how often EASE lists the judges' training positives on {args.dataset}", command, notes
    )
    lines += ["", "| items | positions | top M | items counted | share listed |", "|---|---|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def default_out(dataset: str) -> Path:
    return ROOT / "benchmarks" / "results" / f"listed_share-{dataset}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=DATASETS, default="ml-latest-small")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.out = args.out or default_out(args.dataset)
    args.out.write_text(run(args))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
