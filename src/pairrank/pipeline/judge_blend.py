"""The pipeline's cross-encoder judges blended with the fused order they re-rank.

A judge's blend weight (`alpha`) says how far its order is trusted over the
order it re-ranks. Trained alone, the judges choose it against their own
retriever's order (EASE); inside the pipeline they re-rank the fused order,
which is stronger, so the pipeline chooses the weights again against that
order. Validation users are ranked by fusions cross-fitted over users (each
fold by a fusion learned from the other folds' labels), so that the fused
order there is as good as on users the fusion never learned from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pairrank.data.dataset import Dataset
from pairrank.data.idmap import IdMap
from pairrank.judges.judge import CrossEncoderReranker
from pairrank.judges.training import choose_blends
from pairrank.pipeline.fusion import Fusion

FOLDS = 5


class FusedRanking(Protocol):
    """What the blend needs of the pipeline."""

    users: IdMap
    fusion: Fusion
    recent: np.ndarray  # [n_users, w] each user's latest items, -1 padded

    def fusion_options(self) -> dict[str, Any]: ...

    def with_fusion(self, fusion: Fusion) -> FusedRanking:
        """A copy ranking by `fusion`, with no judges and no post-processing reorder."""

    def recommend(self, users: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class LabelledRows:
    """What the fusion learned from: feature rows grouped by user (`sizes`: rows per group, in order), their
    labels, and each group's user."""

    features: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    users: np.ndarray


def fused_validation_lists(
    pipeline: FusedRanking, valid: Dataset, labelled: LabelledRows, top: int, seed: int
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The validation users whose validation item is in their fused top `top`, those lists and their hits
    (bool per position). Each user is ranked by a fusion learned without that user's labels: users fall into
    `FOLDS` folds, and each fold's fusion learns from the other folds' groups."""
    fold = np.random.default_rng(seed).permutation(len(pipeline.users)) % FOLDS
    group_fold = fold[labelled.users]
    row_fold = np.repeat(group_fold, labelled.sizes)
    users, truth = valid.active_users(), valid.matrix
    found_users, lists, relevant = [], [], []
    for held_out in range(FOLDS):
        rows = row_fold != held_out
        fusion, _ = Fusion.fit(
            labelled.features[rows],
            labelled.labels[rows],
            labelled.sizes[group_fold != held_out],
            pipeline.fusion.feature_names,
            **pipeline.fusion_options(),
        )
        members = users[fold[users] == held_out]
        ranked, _ = pipeline.with_fusion(fusion).recommend(members, top)
        for user, items in zip(members, ranked):
            hits = np.isin(items, truth.indices[truth.indptr[user] : truth.indptr[user + 1]])
            if hits.any():
                found_users.append(user)
                lists.append(items[items >= 0])
                relevant.append(hits[items >= 0])
    return np.asarray(found_users, dtype=np.int64), lists, relevant


def blend_with_fusion(
    pipeline: FusedRanking,
    reranker: CrossEncoderReranker,
    valid: Dataset,
    labelled: LabelledRows,
    *,
    valid_users: int,
    seed: int,
) -> dict[str, Any]:
    """Choose the judges' blend weights (`choose_blends`, in place) on up to `valid_users` seeded validation
    users, against their cross-fitted fused order. Returns what validation measured."""
    users, lists, relevant = fused_validation_lists(pipeline, valid, labelled, reranker.top, seed)
    chosen = np.random.default_rng(seed).permutation(len(users))[:valid_users]
    texts = [reranker.inputs.history(pipeline.recent[users[i]]) for i in chosen]
    report = choose_blends(reranker, texts, [lists[i] for i in chosen], [relevant[i] for i in chosen])
    return {"against": f"the fused order, the fusion cross-fitted over {FOLDS} folds of users", **report}
