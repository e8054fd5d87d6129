"""How far a fusion of the pipeline's signals could go: a fusion cross-fitted on the test labels themselves.

    .venv/bin/python benchmarks/fusion_ceiling.py [--dataset ml-latest-small] [--variant orderless]
        [--protocol temporal80] [--signals all|none] [--rerank-top M] [--out FILE]

Fits the default pipeline (retrievers refit on train+valid), builds the feature rows of every test user's
candidates, and ranks each user's candidates by: EASE (its rank: EASE's own top 10, as every list holds
EASE's top N); the pipeline's fusion; and a fusion learned from the test items of the other users (5 folds
over users, the pipeline's LightGBM options, every candidate a negative), first with the pipeline's features,
then with one more collaborative score added (EASE at another L2 penalty, UserKNN, implicit's ALS, RP3beta,
PureSVD; each also ranks the candidates alone), then with all of them (`--signals none`: the pipeline's
features only). The cross-fitted fusion learns from the test's own labels, which no model can: where a user
has many test items it is a ceiling for fusing those signals, not a result (with `loo`'s one item a user it
has fewer labels than the pipeline's own fusion). NDCG@10 is the full-ranking figure of each top 10, with a
paired test against EASE. `--rerank-top M` keeps only EASE's top M of the candidates: what a re-ranker of
EASE's list (`pairrank rerank`) could do.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dev_datasets import DATASETS, VARIANTS, bench_name, bench_split
from pipeline import evaluated, score
from results_text import header, out_option, paired_text
from scipy.sparse.linalg import svds

from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.eval.stats import paired_test
from pairrank.experiments.training import train_model
from pairrank.models.registry import model_class
from pairrank.pipeline.features import feature_names
from pairrank.pipeline.fusion import Fusion
from pairrank.pipeline.model import Pipeline

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 5
BATCH = 256
K = 10


def model_scores(name: str, **options: float) -> Callable[[SplitData, np.ndarray], np.ndarray]:
    """Scores [users, items] of one of PairRank's models fitted on train+valid."""

    def scores(data: SplitData, users: np.ndarray) -> np.ndarray:
        return model_class(name)(options).fit(data.train_and_valid()).score(users)

    return scores


def rp3beta(data: SplitData, users: np.ndarray, beta: float = 0.5) -> np.ndarray:
    """RP3beta (Paudel et al. 2017): two-step random-walk probabilities item -> user -> item, divided by the
    target's popularity ** beta."""
    seen = data.train_and_valid().matrix.astype(np.float64)
    popularity = np.maximum(np.asarray(seen.sum(axis=0)).ravel(), 1)
    user_step = sp.diags(1 / np.maximum(np.asarray(seen.sum(axis=1)).ravel(), 1)) @ seen
    item_step = sp.diags(1 / popularity) @ seen.T.tocsr()
    walk = (item_step @ user_step).toarray() / popularity[None, :] ** beta
    np.fill_diagonal(walk, 0)
    return np.asarray(seen[users] @ walk)


def pure_svd(data: SplitData, users: np.ndarray, rank: int = 50) -> np.ndarray:
    """PureSVD (Cremonesi et al. 2010): the history projected on the top `rank` right singular vectors."""
    seen = data.train_and_valid().matrix.astype(np.float64)
    _, _, right = svds(seen, k=rank)
    return np.asarray(seen[users] @ right.T @ right)


SIGNALS: dict[str, Callable[[SplitData, np.ndarray], np.ndarray]] = {
    "EASE, L2 10": model_scores("ease", l2=10.0),
    "EASE, L2 1000": model_scores("ease", l2=1000.0),
    "UserKNN": model_scores("userknn"),
    "implicit ALS": model_scores("implicit-als"),
    "RP3beta (beta 0.5)": rp3beta,
    "PureSVD (rank 50)": pure_svd,
}


def candidate_rows(pipeline: Pipeline, data: SplitData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every test user's candidates: feature rows, user and item indices, and labels (1: a test item)."""
    test = data.dataset(data.split.test)
    users = test.active_users()
    truth = test.matrix
    features, user_of, item_of, labels = [], [], [], []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        candidates, outputs = pipeline.retrieve(batch, pipeline.history[batch], None)
        present = candidates >= 0
        relevant = np.stack([np.isin(row, truth[user].indices) for row, user in zip(candidates, batch, strict=True)])
        features.append(pipeline.features(batch, candidates, outputs)[present])
        user_of.append(np.repeat(batch, present.sum(axis=1)))
        item_of.append(candidates[present])
        labels.append(relevant[present])
    return np.concatenate(features), np.concatenate(user_of), np.concatenate(item_of), np.concatenate(labels)


def cross_fitted(
    features: np.ndarray, labels: np.ndarray, users: np.ndarray, names: list[str], options: dict[str, Any]
) -> np.ndarray:
    """Each user's candidates scored by a fusion learned from the other folds' users (as `Fusion.fit` learns)."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    groups = np.split(np.arange(len(users)), starts[1:])
    fold = np.random.default_rng(options["seed"]).permutation(len(groups)) % FOLDS
    predicted = np.zeros(len(users), dtype=np.float32)
    for held in range(FOLDS):
        learn = [g for g, f in zip(groups, fold, strict=True) if f != held]
        rows = np.concatenate(learn)
        sizes = np.array([len(g) for g in learn])
        fusion, _ = Fusion.fit(features[rows], labels[rows], sizes, names, **{**options, "negatives": len(users)})
        scored = np.concatenate([g for g, f in zip(groups, fold, strict=True) if f == held])
        predicted[scored] = fusion.predict(features[scored])
    return predicted


def top_frame(data: SplitData, users: np.ndarray, items: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Each user's top K candidates by `scores` as a PROTOCOL.md frame."""
    order = np.lexsort((-scores, users))
    frame = pd.DataFrame({"user": users[order], "item": items[order], "score": scores[order]})
    frame["rank"] = frame.groupby("user").cumcount() + 1
    frame = frame[frame["rank"] <= K]
    return pd.DataFrame(
        {
            USER: data.users.id_of(frame["user"].to_numpy()),
            ITEM: data.items.id_of(frame["item"].to_numpy()),
            "rank": frame["rank"].to_numpy(),
            "score": frame["score"].to_numpy(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small", choices=DATASETS)
    parser.add_argument("--variant", default="orderless", choices=VARIANTS)
    parser.add_argument("--protocol", default="temporal80")
    parser.add_argument("--signals", default="all", choices=["all", "none"])
    parser.add_argument("--rerank-top", type=int, default=0, help="only EASE's top M of the candidates (0: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name, data = bench_name(args.dataset, args.variant), bench_split(args.dataset, args.protocol, args.variant)
    started = time.perf_counter()
    pipeline, _ = train_model(data, "pipeline", {}, final=True)
    print(f"pipeline fitted in {time.perf_counter() - started:.0f} s", flush=True)
    ease, ease_users, _, _ = score(pipeline.retrievers["ease"], data)
    features, users, items, labels = candidate_rows(pipeline, data)
    names = feature_names(pipeline.config.retrievers)
    if args.rerank_top:
        keep = features[:, names.index("ease_rank")] <= args.rerank_top
        features, users, items, labels = features[keep], users[keep], items[keep], labels[keep]
    options = pipeline.fusion_options()
    rows: list[tuple[str, float, str]] = []

    def add(label: str, scores: np.ndarray) -> None:
        result = evaluated(data, top_frame(data, users, items, scores))
        ndcg, per_user = float(result.means["ndcg@10"]), result.per_user
        rows.append((label, ndcg, paired_text(paired_test(per_user, ease_users, "ndcg@10"))))
        print(f"{label}: ndcg@10 {ndcg:.4f} ({ndcg / ease['ndcg@10']:.3f}x EASE)", flush=True)

    add("EASE (its rank among the candidates)", -features[:, names.index("ease_rank")])
    add("the pipeline's fusion (learned from held-out train items)", pipeline.fusion.predict(features))
    add("cross-fitted on test labels: the pipeline's features", cross_fitted(features, labels, users, names, options))
    extras = {}
    test_users = np.unique(users)
    position = np.searchsorted(test_users, users)
    for label, signal in SIGNALS.items() if args.signals == "all" else []:
        extras[label] = signal(data, test_users)[position, items].astype(np.float32)
        add(f"  {label} alone", extras[label])
        widened = np.column_stack([features, extras[label]])
        add(f"  cross-fitted: + {label}", cross_fitted(widened, labels, users, [*names, "extra"], options))
    if extras:
        widened = np.column_stack([features, *extras.values()])
        extra_names = [f"extra_{i}" for i in range(len(extras))]
        add("cross-fitted: + all of them", cross_fitted(widened, labels, users, [*names, *extra_names], options))
    command = (
        f".venv/bin/python benchmarks/fusion_ceiling.py --dataset {args.dataset} --variant {args.variant} "
        f"--protocol {args.protocol}"
        + ("" if args.signals == "all" else f" --signals {args.signals}")
        + (f" --rerank-top {args.rerank_top}" if args.rerank_top else "")
        + out_option(args.out, None, ROOT)
    )
    notes = (
        f"Test NDCG@10, full ranking, every model fitted on train+valid; {len(test_users)} test users, "
        f"{int(labels.sum())} of their test items among the candidates. Rows marked cross-fitted learn from the "
        "test items of the other four fifths of the users, labels no model has: with many test items a user (a "
        "random fifth of each history) a ceiling for a fusion of those signals; with one (`loo`) fewer labels than "
        "the pipeline's fusion learns from, so not a ceiling. The signals alone rank only the candidates."
    )
    within = f"-ease{args.rerank_top}" if args.rerank_top else ""
    lines = [
        *header(
            f"Fusion ceiling on {name} ({args.protocol}{f', EASE top {args.rerank_top}' if args.rerank_top else ''})",
            command,
            notes,
        ),
        "",
        "| ranking | ndcg@10 | / EASE | vs EASE: difference [95% CI], p |",
        "|---|---|---|---|",
        *(f"| {label} | {ndcg:.4f} | {ndcg / ease['ndcg@10']:.3f}x | {paired} |" for label, ndcg, paired in rows),
    ]
    out = args.out or ROOT / "benchmarks" / "results" / f"fusion_ceiling-{name}-{args.protocol}{within}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
