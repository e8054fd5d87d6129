"""What the judge models share (`mono`, `duo`, `llm-judge`): a retriever whose top M a judge re-ranks.

The final run refits the retriever on train+valid and keeps the judge;
scoring takes the retriever's scores and lifts its top M, re-ranked by the
judge, above every other item; each user's latest items (what the judge
reads) are the model's state. Each judge's blend with the retriever's order
is chosen on the same kind of validation lists (`_validation_lists`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from pairrank.data.dataset import Dataset
from pairrank.models.base import Recommender, masked, top_k
from pairrank.models.config import config_from_dict
from pairrank.models.registry import model_class


class JudgedRanker(Recommender):
    """A retriever (`config.retriever`) and a judge (`reranker`, set by subclasses) over its top `config.top`."""

    uses_validation = True
    stage: ClassVar[str | None] = None  # the judge stage scoring runs (the cross-encoders' "duo")

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        retriever = model_class(self.config.retriever)
        self.retriever_config = config_from_dict(retriever.Config, self.config.retriever_options, owner=self.name)
        self.retriever: Recommender | None = None
        self.reranker: Any = None  # the judge: re-ranks a list (`rerank`) or each row's top items (`promote`)
        self.latest: np.ndarray | None = None  # [n_users, history_items] latest items, oldest first, -1 padded
        self.report: dict[str, Any] = {}
        self.latency: dict[str, float] = {}

    def pairs_retriever(self, train: Dataset) -> Recommender:
        """The retriever whose top M gives the training pairs their hard negatives (`negatives_from`): the fitted
        one, or ("unseen") a copy fit without each user's last `positions` train items, which ranks the training
        positives without having seen them, as the served retriever ranks the items it is asked about (one fit on
        all of train has learned each positive from its own user's row, and lists it far more often). Popularity-
        matched negatives need no retriever: the fitted one is returned unused."""
        if self.config.negatives_from in ("train", "popularity"):
            return self.retriever
        keep = ~train.latest_rows(self.config.positions, at_most_half=False)
        return model_class(self.config.retriever)(self.retriever_config).fit(train.subset(keep))

    def refit(self, data: Dataset, fresh: Callable[[Any], Recommender]) -> Recommender:
        """The final model: the retriever refit on `data` (train+valid); the judge trained here is kept."""
        final = type(self)(self.config)
        final.retriever_config = self.retriever.final_config()
        final.reranker, final.report = self.reranker, dict(self.report)
        return final.fit(data)

    def _validation_lists(self, valid: Dataset) -> tuple[dict[int, np.ndarray], list[np.ndarray]]:
        """The retriever's top M for seeded validation users whose valid item is in it, and its hits."""
        users = valid.active_users()
        candidates, _ = self.retriever.recommend(users, self.config.top)
        truth = valid.matrix
        lists, relevant = {}, []
        for user, items in zip(users, candidates):
            hits = np.isin(items, truth.indices[truth.indptr[user] : truth.indptr[user + 1]])
            if hits.any():
                lists[int(user)] = items[items >= 0]
                relevant.append(hits[items >= 0])
        chosen = np.random.default_rng(self.config.seed).permutation(len(lists))[: self.config.valid_users]
        keys = list(lists)
        return {keys[i]: lists[keys[i]] for i in chosen}, [relevant[i] for i in chosen]

    def _score(self, users: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        scores = self.retriever.score(users)
        top, values = top_k(masked(scores, self.history[users], None), self.config.top)
        top[~np.isfinite(values)] = -1
        retrieved = time.perf_counter()
        self.reranker.promote(scores, top, self.latest[users], stage=self.stage)
        self.latency = {
            "retrieve": (retrieved - started) / max(len(users), 1),
            "rerank": (time.perf_counter() - retrieved) / max(len(users), 1),
        }
        return scores

    def _state(self) -> dict[str, np.ndarray]:
        return {"latest": self.latest}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.latest = state["latest"]
