"""What the LLM judge could learn from items' attributes, and what its training pairs teach instead.

    .venv/bin/python benchmarks/attribute_overlap.py [--dataset ml-latest-small] [--input ease] [--users 200]
        [--out FILE]

On the `loo` split of the pipeline benchmark:
1. The input model's test top 20 (refit on train+valid, kept in runs/bench-rerank-DATASET/ as rerank.py keeps
   it) re-ranked by each candidate's attribute overlap with the user's latest 5 train+valid items (the mean
   Jaccard similarity of their attribute sets: genres, tags, categories; ties keep the input's order), on every
   test user and on the `--users` seeded ones that benchmarks/llm_judge.py re-ranks; a paired test of each against
   the input order.
2. The LLM judge's training pairs (each user's last 8 train items as positives, two negatives each) drawn three
   ways (`negatives_from`: "train", EASE's top 20 from a fit on all of train; "unseen", from a fit without those
   items; "popularity", the positive's neighbours in train popularity order), each with every positive and with
   listed positives only where that applies: the share of pairs whose positive is the less popular item, and the
   share that attribute overlap with the pair's history (its latest 5 items) orders right (ties count half).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from dev_datasets import DATASETS, bench_split
from rerank import input_recs, scored
from results_text import header, out_option, paired_text

from pairrank.data.item_text import attribute_set
from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.eval.stats import paired_test
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.training import Pairs, sample_pairs
from pairrank.models.registry import model_class

ROOT = Path(__file__).resolve().parents[1]
TOP, LATEST, POSITIONS = 20, 5, 8
DRAWINGS = (("train", "all"), ("unseen", "all"), ("unseen", "listed"), ("popularity", "all"))


def attribute_sets(data: SplitData) -> list[frozenset[str]]:
    if not data.item_attributes:
        raise SystemExit(f"{data.dataset} has no item attributes (genres, tags, categories)")
    return [attribute_set(text) for text in data.item_attributes]


def overlap(item: int, history: np.ndarray, sets: list[frozenset[str]]) -> float:
    """Mean Jaccard similarity of the item's attribute set to each of the history's items' (-1 padding ignored)."""
    shown = history[history >= 0][-LATEST:]
    if not shown.size:
        return 0.0
    own = sets[item]
    return float(np.mean([len(own & sets[other]) / max(1, len(own | sets[other])) for other in shown]))


def reranked_by_overlap(data: SplitData, recs: pd.DataFrame, sets: list[frozenset[str]]) -> pd.DataFrame:
    """The top TOP of each user's list re-ordered by overlap with their latest train+valid items (stable)."""
    seen = data.train_and_valid()
    latest = seen.sequences(LATEST, -1)
    top = recs[recs["rank"] <= TOP].copy()
    users = data.users.index(top[USER].astype(str))
    items = data.items.index(top[ITEM].astype(str))
    top["overlap"] = [overlap(item, latest[user], sets) for item, user in zip(items, users)]
    top = top.sort_values([USER, "overlap", "rank"], ascending=[True, False, True], kind="stable")
    top["rank"] = top.groupby(USER).cumcount() + 1
    return top.drop(columns="overlap")


def pair_shares(data: SplitData, sets: list[frozenset[str]], seed: int) -> dict[str, dict[str, float]]:
    """For each drawing of the judge's training pairs: how many, the share whose positive is less popular, and the
    share attribute overlap orders right."""
    train = data.train()
    popularity = train.item_popularity
    fitted = model_class("ease")().fit(train)
    shares = {}
    for negatives_from, positives in DRAWINGS:
        ranker = LLMRanker({"negatives_from": negatives_from, "positives": positives, "positions": POSITIONS})
        ranker.retriever = fitted
        pairs: Pairs = sample_pairs(
            train,
            ranker.pairs_retriever(train),
            lambda history: "",
            history_items=LATEST,
            positions=POSITIONS,
            negatives=2,
            top=TOP,
            max_pairs=1_000_000,
            seed=seed,
            listed_only=positives == "listed",
            popularity_matched=negatives_from == "popularity",
        )
        positive, negative = popularity[pairs.positives], popularity[pairs.negatives]
        ours = np.array([overlap(p, h, sets) for p, h in zip(pairs.positives, pairs.history_items)])
        theirs = np.array([overlap(n, h, sets) for n, h in zip(pairs.negatives, pairs.history_items)])
        shares[f'negatives_from = "{negatives_from}", positives = "{positives}"'] = {
            "pairs": len(pairs),
            "less_popular_wins": float(np.mean(positive < negative) + 0.5 * np.mean(positive == negative)),
            "overlap_right": float(np.mean(ours > theirs) + 0.5 * np.mean(ours == theirs)),
        }
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--input", default="ease")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    default = ROOT / "benchmarks" / "results" / f"attribute_overlap-{args.dataset}.md"
    out = args.out or default
    data = bench_split(args.dataset, "loo")
    sets = attribute_sets(data)
    recs, _ = input_recs(
        data, args.input, ROOT / "runs" / f"bench-rerank-{args.dataset}" / f"recs-{args.input}-loo.parquet"
    )
    everyone = pd.unique(data.split.test[USER].astype(str))
    seeded = np.random.default_rng(0).choice(everyone, args.users, replace=False)
    by_overlap = reranked_by_overlap(data, recs, sets)
    command = (
        f".venv/bin/python benchmarks/attribute_overlap.py --dataset {args.dataset} --input {args.input} "
        f"--users {args.users}{out_option(out, default, ROOT)}"
    )
    lines = header(
        f"Attribute overlap with the latest {LATEST} items on {args.dataset} (loo)",
        command,
        f"Overlap: the mean Jaccard similarity of a candidate's attribute set (genres, tags, categories) to each of "
        f"the user's latest {LATEST} items'. Re-ranking: {args.input}'s test top {TOP} ({args.input} refit on "
        f"train+valid) ordered by overlap with the latest train+valid items, ties in {args.input}'s order.",
    )
    lines += ["", "| users | ranking | ndcg@10 | recall@10 | vs input: NDCG@10 difference |", "|---|---|---|---|---|"]
    for label, users in ((f"all {len(everyone)} test users", everyone), (f"{args.users} seeded", seeded)):
        base, base_users = scored(data, recs[recs[USER].astype(str).isin(users)], users)
        ours, our_users = scored(data, by_overlap[by_overlap[USER].astype(str).isin(users)], users)
        test = paired_test(our_users, base_users, "ndcg@10")
        lines.append(f"| {label} | {args.input} | {base['ndcg@10']:.4f} | {base['recall@10']:.4f} | - |")
        lines.append(
            f"| {label} | by overlap | {ours['ndcg@10']:.4f} | {ours['recall@10']:.4f} | {paired_text(test)} |"
        )
    lines += [
        "",
        f"The LLM judge's training pairs (each user's last {POSITIONS} train items, 2 negatives each; "
        f"all of them, not the judge's seeded sample):",
        "",
        "| drawing | pairs | positive less popular | overlap orders right |",
        "|---|---|---|---|",
    ]
    for drawing, share in pair_shares(data, sets, seed=42).items():
        lines.append(
            f"| {drawing} | {share['pairs']} | {share['less_popular_wins']:.3f} | {share['overlap_right']:.3f} |"
        )
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
