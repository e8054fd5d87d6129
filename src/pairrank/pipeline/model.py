"""The pipeline as a model: retrieve candidates with several models, then rank them with a learned fusion.

Fitting with validation: the retrievers fit on train; the fusion learns from
labels the retrievers it reads never saw: the validation items, and each
user's latest train items held out of a second fit of the retrievers
(`held_out_rows`). The final run (`refit`) refits the retrievers on
train+valid and keeps the fusion. Items nobody interacted with (cold items)
are ranked by a second fusion that reads only the features such an item has
(its text and the text-capable retrievers), below every warm candidate; it
learns from items withheld from training (`withheld_rows`), as a new item
is. Optionally the judges (`judge`: the cross-encoders or the LLM judge)
re-rank the fused top, and post-processing keeps to allowed attributes and
trades relevance for variety (MMR).
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pairrank.data.dataset import Dataset
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import make_encoder
from pairrank.encoders.sentence import DEFAULT_MODEL
from pairrank.errors import ConfigError, DataError
from pairrank.judges.config import JudgeConfig
from pairrank.judges.judge import CrossEncoderReranker
from pairrank.judges.llm_reranker import LLMReranker
from pairrank.models.base import Recommender, top_k
from pairrank.models.config import config_from_dict, replace_options
from pairrank.models.registry import load_model, model_class
from pairrank.pipeline.config import PipelineConfig
from pairrank.pipeline.features import (
    ItemStats,
    attribute_vectors,
    candidate_features,
    cold_feature_names,
    feature_names,
)
from pairrank.pipeline.fusion import Fusion
from pairrank.pipeline.judge_blend import LabelledRows, blend_with_fusion
from pairrank.pipeline.postprocess import attribute_mask, mmr
from pairrank.pipeline.retrieve import Retriever, RetrieverOutput, ranks_in, union
from pairrank.progress import progress_bar

BATCH = 256  # users per retrieval and feature batch
RECENT_WINDOW = 5  # an item's recent popularity counts the users who have it among their latest 5
RETRIEVERS = "retrievers"  # sub-folder of the model folder holding each retriever's own folder
REPORT = "pipeline.json"
JUDGE, ITEM_TEXT = "judge", "item_text.parquet"  # the judges' folder, and the item texts they read


class Pipeline(Recommender):
    name = "pipeline"
    Config = PipelineConfig
    supports_cold_items = True
    uses_validation = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.retriever_configs: dict[str, Any] = {
            name: config_from_dict(model_class(name).Config, self.config.retriever_options.get(name), owner=name)
            for name in self.config.retrievers
        }
        self.retrievers: dict[str, Recommender] = {}
        self.fusion: Fusion | None = None
        self.cold_fusion: Fusion | None = None
        self.stats: ItemStats | None = None
        self.recent: np.ndarray | None = None  # [n_users, history_window] latest items, oldest first, -1 padded
        self.report: dict[str, Any] = {}  # what fitting measured: candidate recall, trees, feature gains
        self.latency: dict[str, float] = {}  # seconds per user of each stage in the last ranking call
        self.reranker: CrossEncoderReranker | LLMReranker | None = None  # the judges, with `judge` other than "none"
        self.item_text: list[str] | None = None  # what the judges read
        self._judge_folder: Path | None = None  # where a loaded judge came from (its ONNX nets cannot save)
        self._retrieval: list[Retriever] | None = None
        self._mask: tuple[tuple, np.ndarray | None] | None = None  # (allow, deny) and the item mask they give

    # -- fitting ---------------------------------------------------------
    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if self.config.fusion and valid is None and self.fusion is None:
            raise ConfigError("pipeline learns its fusion from validation items: fit(train, valid), or fusion = false")
        self.retrievers, fit_seconds = {}, {}
        for name, config in self.retriever_configs.items():
            started = time.perf_counter()
            self.retrievers[name] = model_class(name)(config).fit(train, valid)
            fit_seconds[name] = round(time.perf_counter() - started, 1)
        self.report["retriever_fit_seconds"] = fit_seconds
        self._retrieval = None
        self._describe(train)
        labelled = None
        if self.config.fusion and valid is not None:
            labelled = self._fit_fusion(train, valid)
        if self.config.judge != "none":
            self._fit_judge(train, valid, labelled)

    def _fit_judge(self, train: Dataset, valid: Dataset | None, labelled: LabelledRows | None) -> None:
        """The judges, trained once on the selection run (as `--model mono|duo` would, with their own
        retriever) and kept for the final run, where they read the final run's histories. The cross-encoders'
        blend weights are then chosen again against the fused order (`judge_blend`)."""
        self.item_text = list(train.item_text or [])
        if self.reranker is None:
            if valid is None:
                raise ConfigError("pipeline trains its judge on validation users: fit(train, valid), or judge = none")
            judge = model_class(self.config.judge)(self.config.judge_options).fit(train, valid)
            self.reranker, self.report["judge"] = judge.reranker, judge.report
            if isinstance(self.reranker, CrossEncoderReranker) and labelled is not None:
                options = judge.config
                self.report["judge_blend"] = blend_with_fusion(
                    self, self.reranker, valid, labelled, valid_users=options.valid_users, seed=options.seed
                )

    def refit(self, data: Dataset, fresh: Callable[[Any], Recommender]) -> Recommender:
        """The final model: retrievers refit on `data` (train+valid) with their selected configs; the fusion
        learned on validation is kept."""
        final = Pipeline(self.config)
        final.retriever_configs = {name: model.final_config() for name, model in self.retrievers.items()}
        final.fusion, final.cold_fusion, final.report = self.fusion, self.cold_fusion, dict(self.report)
        final.reranker = self.reranker
        return final.fit(data)

    def _describe(self, train: Dataset) -> None:
        """Item statistics and each user's latest items, as the features read them."""
        textknn = self.retrievers.get("textknn")
        vectors = textknn.item_vectors() if textknn is not None else None
        if vectors is None:
            vectors = EmbeddingCache(make_encoder("torch", DEFAULT_MODEL)).encode(train.item_text, show_progress=True)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        latest = train.sequences(RECENT_WINDOW, -1)
        recent_popularity = np.bincount(latest[latest >= 0], minlength=train.n_items)
        attributes = attribute_vectors(train.item_attributes, train.n_items)
        self.stats = ItemStats(
            vectors.astype(np.float32), train.item_popularity.astype(np.float32), recent_popularity, attributes
        )
        self.recent = train.sequences(self.config.history_window, -1)

    def _fit_fusion(self, train: Dataset, valid: Dataset) -> LabelledRows:
        """Both fusions; returns the rows the warm one learned from."""
        started = time.perf_counter()
        if self.config.held_out_items > 0:
            features, labels, sizes, recall = self.held_out_rows(train, valid)
            learned_on = f"validation items and up to {self.config.held_out_items} held-out train items per user"
            label_users = train.subset(train.latest_rows(self.config.held_out_items)).joined(valid).active_users()
        else:
            features, labels, sizes, recall = self.validation_rows(valid)
            learned_on = "validation items"
            label_users = valid.active_users()
        learned = LabelledRows(features, labels, sizes, label_users)
        labelled = {
            "learned_on": learned_on,
            "labels": int((labels > 0).sum()),  # relevant candidates among the rows learned from
            "label_seconds": round(time.perf_counter() - started, 1),  # with held-out items: the retrievers' refit
        }
        names = feature_names(self.config.retrievers)
        self.fusion, warm = Fusion.fit(features, labels, sizes, names, **self.fusion_options())
        self.report |= {
            f"label_recall@{self.config.candidates}": {k: round(float(np.mean(v)), 4) for k, v in recall.items()},
            "fusion": warm | labelled | {"feature_gain": _rounded(self.fusion.importance())},
        }
        cold_names = cold_feature_names(self.config.retrievers, set(self._cold_capable()))
        learned_on = "warm validation items"
        if self.config.withheld_items > 0 and self._cold_capable():
            features, labels, sizes, recall = self.withheld_rows(train, valid)
            names = feature_names(self._cold_capable())
            learned_on = f"{self.config.withheld_items:.0%} of the items, withheld"
            self.report[f"withheld_recall@{self.config.candidates}"] = {
                k: round(float(np.mean(v)), 4) for k, v in recall.items()
            }
        columns = [names.index(n) for n in cold_names]
        self.cold_fusion, cold = Fusion.fit(features[:, columns], labels, sizes, cold_names, **self.fusion_options())
        self.report["cold_fusion"] = cold | {
            "learned_on": learned_on,
            "feature_gain": _rounded(self.cold_fusion.importance()),
        }
        return learned

    def with_fusion(self, fusion: Fusion) -> Pipeline:
        """A copy of this fitted pipeline ranking by `fusion`, without judges or MMR."""
        copied = copy.copy(self)
        copied.config = replace_options(self.config, {"judge": "none", "mmr_lambda": 1.0})
        copied.fusion, copied.reranker, copied.latency = fusion, None, {}
        return copied

    def _cold_capable(self) -> list[str]:
        return [n for n in self.config.retrievers if model_class(n).supports_cold_items]

    def held_out_rows(
        self, train: Dataset, valid: Dataset
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[float]]]:
        """What the fusion learns from: more labels than one validation item per user. Each user's latest
        `held_out_items` train items (at most half of the user's) leave train, the retrievers refit without
        them, and those items and the validation items are the labels (`validation_rows` of that run)."""
        held = train.latest_rows(self.config.held_out_items)
        probe = Pipeline(self.config, fusion=False, judge="none")
        probe.retriever_configs = self.retriever_configs
        probe.fit(train.subset(~held), valid)
        return probe.validation_rows(train.subset(held).joined(valid))

    def withheld_rows(
        self, train: Dataset, valid: Dataset
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[float]]]:
        """What the cold fusion learns from: the `cold_items` protocol in miniature. A share of the items
        (`withheld_items`) leaves train and valid, the cold-capable retrievers refit without them, and each
        user's train interactions with them are the labels, ranked among the withheld items only. Returns
        `validation_rows` of that run (columns: `feature_names` of the cold-capable retrievers)."""
        catalogue = np.flatnonzero(train.item_popularity > 0)
        chosen = np.random.default_rng(self.config.seed).choice(
            catalogue, max(1, int(len(catalogue) * self.config.withheld_items)), replace=False
        )
        withheld = np.zeros(train.n_items, dtype=bool)
        withheld[chosen] = True
        cold = self._cold_capable()
        probe = Pipeline(self.config, retrievers=cold, retriever_options={}, fusion=False, judge="none")
        probe.retriever_configs = {name: self.retriever_configs[name] for name in cold}
        probe.fit(train.subset(~withheld[train.item_index]), valid.subset(~withheld[valid.item_index]))
        return probe.validation_rows(train.subset(withheld[train.item_index]), allowed=withheld)

    def validation_rows(
        self, valid: Dataset, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[float]]]:
        """What the fusion learns from: every validation user's candidates (only `allowed` items, if given)
        as feature rows (`feature_names`), their labels (1: a validation item), the rows per user, and each
        list's recall per user."""
        users = valid.active_users()
        rows, labels, sizes = [], [], []
        recall = {name: [] for name in [*self.config.retrievers, "union"]}
        truth = valid.matrix
        with progress_bar("pipeline: candidates for validation users", len(users)) as bar:
            for start in range(0, len(users), BATCH):
                batch = users[start : start + BATCH]
                candidates, outputs = self.retrieve(batch, self.history[batch], allowed)
                features = self.features(batch, candidates, outputs)
                relevant = truth[batch]
                hits = _hits(candidates, relevant)
                n_relevant = np.diff(relevant.indptr)
                for name, output in outputs.items():
                    recall[name] += list(_hits(output.items, relevant).sum(axis=1) / n_relevant)
                recall["union"] += list(hits.sum(axis=1) / n_relevant)
                present = candidates >= 0
                rows.append(features[present])
                labels.append(hits[present])
                sizes += list(present.sum(axis=1))
                bar.advance(len(batch))
        return np.concatenate(rows), np.concatenate(labels).astype(np.int32), np.asarray(sizes), recall

    def fusion_options(self) -> dict[str, Any]:
        """The LightGBM options of `Fusion.fit`, from the config."""
        return dict(
            trees=self.config.trees,
            learning_rate=self.config.learning_rate,
            leaves=self.config.leaves,
            min_child_samples=self.config.min_child_samples,
            seed=self.config.seed,
            negatives=self.config.negatives,
        )

    # -- ranking ---------------------------------------------------------
    def _retrievers(self) -> list[Retriever]:
        if self._retrieval is None:
            limit = self.config.exact_search_limit
            self._retrieval = [Retriever(name, model, limit) for name, model in self.retrievers.items()]
        return self._retrieval

    def retrieve(
        self, users: np.ndarray, blocked: sp.csr_matrix, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, RetrieverOutput]]:
        """Candidates [b, m] for user indices (none in their `blocked` rows, only `allowed` items if given)
        and each retriever's output."""
        started = time.perf_counter()
        outputs = {r.name: r.retrieve(users, self.config.candidates, blocked, allowed) for r in self._retrievers()}
        candidates = union([o.items for o in outputs.values()])
        self._clock("retrieve", time.perf_counter() - started)
        return candidates, outputs

    def features(
        self,
        users: np.ndarray,
        candidates: np.ndarray,
        outputs: dict[str, RetrieverOutput],
        union_ranks: np.ndarray | None = None,
    ) -> np.ndarray:
        """The candidates' features [b, m, f] (`feature_names`); `union_ranks` as in `candidate_features`."""
        started = time.perf_counter()
        vectors = {r.name: r.item_vectors for r in self._retrievers()}
        length = np.diff(self.history.indptr)[users] if len(users) else np.zeros(0)
        features = candidate_features(candidates, outputs, vectors, self.stats, self.recent[users], length, union_ranks)
        self._clock("features", time.perf_counter() - started)
        return features

    def _ranked(
        self,
        users: np.ndarray,
        blocked: sp.csr_matrix,
        allowed: np.ndarray | None,
        listed: np.ndarray | None = None,
        stage: str | None = None,
    ) -> np.ndarray:
        """Scores [b, n_items]: the fused score of each candidate, -inf for every other item. `listed` [b, m]
        (-1 padded) makes those items the candidates, each with its rank in the retrievers' union (that
        union's length + 1 if absent); the judges run at `stage` (default the config's `judge`)."""
        candidates, outputs = self.retrieve(users, blocked, allowed)
        union_ranks = None
        if listed is not None:
            candidates, union_ranks = listed, _union_ranks(candidates, listed)
        if not self.config.fusion:
            scores = np.broadcast_to(-np.arange(candidates.shape[1], dtype=np.float32), candidates.shape)
        else:
            flat = self.features(users, candidates, outputs, union_ranks)
            started = time.perf_counter()
            flat = flat.reshape(-1, flat.shape[2])
            warm = self.fusion.predict(flat)
            columns = [self.fusion.feature_names.index(n) for n in self.cold_fusion.feature_names]
            cold = self.cold_fusion.predict(flat[:, columns])
            is_cold = self.stats.cold[np.maximum(candidates, 0)]
            scores = _distinct(_below_warm(np.where(is_cold.reshape(-1), cold, warm).reshape(is_cold.shape), is_cold))
            self._clock("fusion", time.perf_counter() - started)
        out = np.full((len(users), len(self.items)), -np.inf, dtype=np.float32)
        present = candidates >= 0
        out[np.nonzero(present)[0], candidates[present]] = scores[present]
        stage = self.config.judge if stage is None else stage
        if self.reranker is not None and stage != "none":
            self._judge(users, out, stage)
        return out

    def _judge(self, users: np.ndarray, scores: np.ndarray, stage: str) -> None:
        """Re-rank each row's fused top M with the judges, in place: they move above every other item."""
        started = time.perf_counter()
        top, values = top_k(scores, self.reranker.top)
        top[~np.isfinite(values)] = -1
        self.reranker.promote(scores, top, self.recent[users], stage=stage)
        self._clock("judge", time.perf_counter() - started)

    def rank_lists(
        self,
        users: np.ndarray,
        lists: np.ndarray,
        *,
        stage: str | None = None,
        done: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Each user's list (a row of `lists` [b, m]: item indices, -1 padded) re-ordered by the fusion, then
        by the judges at `stage` ("mono", "duo" or "none"; default the config's `judge`). Retrieval runs as in
        `recommend`, so each listed item's retriever scores and ranks, and its union rank, mean what the fusion
        learned. `done(n)` after each batch of n users."""
        self._check_fitted()
        users, lists = np.asarray(users, dtype=np.int64), np.asarray(lists, dtype=np.int64)
        self.latency = {}
        ordered = np.full_like(lists, -1)
        for start in range(0, len(users), BATCH):
            rows = slice(start, start + BATCH)
            batch, listed = users[rows], lists[rows]
            scores = self._ranked(batch, self.history[batch], None, listed, stage)
            values = np.where(listed >= 0, np.take_along_axis(scores, np.maximum(listed, 0), axis=1), -np.inf)
            ordered[rows] = np.take_along_axis(listed, np.argsort(-values, axis=1, kind="stable"), axis=1)
            if done is not None:
                done(len(batch))
        self.latency = {part: seconds / max(len(users), 1) for part, seconds in self.latency.items()}
        return ordered

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._ranked(users, self.history[users], None)

    def recommend(
        self,
        users: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
        batch_size: int = BATCH,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As `Recommender.recommend`; retrieval itself keeps to `candidates` and the allowed attributes, so a
        restricted ranking (new items only, say) still gets a full candidate list. With `mmr_lambda` < 1 the
        top k are re-picked for diversity (scores stay the ranking's, so they need not fall down the list)."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        self.latency = {}
        allowed = None
        if candidates is not None:
            allowed = np.zeros(len(self.items), dtype=bool)
            allowed[np.asarray(candidates, dtype=np.int64)] = True
        by_attribute = self._attribute_mask()
        if by_attribute is not None:
            allowed = by_attribute if allowed is None else allowed & by_attribute
        seen = exclude if exclude is not None else self.history
        empty = sp.csr_matrix((len(self.users), len(self.items)), dtype=np.float32)
        blocked = seen if exclude_seen else empty

        def score_batch(rows: slice) -> tuple[np.ndarray, sp.csr_matrix]:
            return self._ranked(users[rows], blocked[users[rows]], allowed), blocked[users[rows]]

        diverse = self.config.mmr_lambda < 1
        kept = None if allowed is None else np.flatnonzero(allowed)
        result = self._rank(len(users), max(k, self.config.mmr_pool) if diverse else k, score_batch, kept, batch_size)
        if diverse:
            started = time.perf_counter()
            result = mmr(*result, self.stats.text_vectors, self.config.mmr_lambda, k)
            self._clock("mmr", time.perf_counter() - started)
        self.latency = {stage: seconds / max(len(users), 1) for stage, seconds in self.latency.items()}
        return result

    def _attribute_mask(self) -> np.ndarray | None:
        """The items the allow/deny lists keep, built once per pair of lists."""
        lists = (tuple(self.config.allow_attributes), tuple(self.config.deny_attributes))
        if self._mask is None or self._mask[0] != lists:
            try:
                self._mask = lists, attribute_mask(self.item_attributes, *lists)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        return self._mask[1]

    def user_history(self, user: int) -> np.ndarray:
        """The latest items (up to `history_window`) the text features read, oldest first."""
        return self.recent[user][self.recent[user] >= 0]

    def support(self, history: np.ndarray, items: np.ndarray) -> np.ndarray:
        """[len(history), len(items)]: the text similarity of each history item to each item, which the
        fusion reads (`models.explain`)."""
        vectors = self.stats.text_vectors
        return vectors[history] @ vectors[items].T

    def _clock(self, stage: str, seconds: float) -> None:
        self.latency[stage] = self.latency.get(stage, 0.0) + seconds

    # -- persistence -----------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "text_vectors": self.stats.text_vectors,
            "popularity": self.stats.popularity,
            "recent_popularity": self.stats.recent_popularity,
            "recent": self.recent,
        }

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        attributes = attribute_vectors(self.item_attributes, len(self.items))
        self.stats = ItemStats(state["text_vectors"], state["popularity"], state["recent_popularity"], attributes)
        self.recent = state["recent"]

    def _write(self, directory: Path, files: dict[str, str]) -> None:
        own = {REPORT: json.dumps(self.report, indent=2)}
        if self.fusion is not None:
            own |= {"fusion.txt": self.fusion.to_text(), "cold_fusion.txt": self.cold_fusion.to_text()}
        super()._write(directory, {**files, **own})
        for name, model in self.retrievers.items():
            (directory / RETRIEVERS / name).mkdir(parents=True)
            model._write(directory / RETRIEVERS / name, {})
        if self.reranker is not None:
            pd.DataFrame({"text": self.item_text}).to_parquet(directory / ITEM_TEXT)
            if self._judge_folder is not None:
                shutil.copytree(self._judge_folder, directory / JUDGE)
            else:
                self.reranker.save(directory / JUDGE)

    @classmethod
    def load(cls, directory: str | Path) -> Pipeline:
        directory = Path(directory)
        model = super().load(directory)
        model.retrievers = {name: load_model(directory / RETRIEVERS / name) for name in model.config.retrievers}
        model.report = json.loads(_read_text(directory / REPORT))
        if model.config.fusion:
            model.fusion = Fusion.from_text(_read_text(directory / "fusion.txt"))
            model.cold_fusion = Fusion.from_text(_read_text(directory / "cold_fusion.txt"))
        if model.config.judge != "none":
            if not (directory / ITEM_TEXT).exists():
                raise DataError("missing item texts", directory / ITEM_TEXT)
            model.item_text = pd.read_parquet(directory / ITEM_TEXT)["text"].tolist()
            if model.config.judge == "llm-judge":
                model.reranker = LLMReranker.load(directory / JUDGE, model.item_titles, model.item_attributes)
            else:
                backend = config_from_dict(JudgeConfig, model.config.judge_options).backend
                model.reranker = CrossEncoderReranker.load(directory / JUDGE, model.item_text, backend)
            model._judge_folder = directory / JUDGE
        return model


def _hits(candidates: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """[b, n] bool: candidate j of row i is among row i's relevant items."""
    hits = np.zeros(candidates.shape, dtype=bool)
    for row in range(len(candidates)):
        hits[row] = np.isin(candidates[row], relevant.indices[relevant.indptr[row] : relevant.indptr[row + 1]])
    return hits & (candidates >= 0)


def _union_ranks(union: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """[b, m] float32: the 1-based rank of each listed item in its row of `union` [b, n] (-1 padded); the
    row's union length + 1 for an item not in it."""
    ranks = ranks_in(union, listed)
    lengths = (union >= 0).sum(axis=1, keepdims=True) + 1
    return np.where(np.isnan(ranks), lengths, ranks).astype(np.float32)


def _below_warm(scores: np.ndarray, is_cold: np.ndarray) -> np.ndarray:
    """Each row's cold candidates shifted below its warm ones, keeping the scores' scale (a large constant
    offset would round float32 scores to a coarse grid)."""
    lowest_warm = np.where(is_cold, np.inf, scores).min(axis=1)
    highest_cold = np.where(is_cold, scores, -np.inf).max(axis=1)
    shift = np.maximum(highest_cold - lowest_warm + 1.0, 0.0)  # 0 in a row without warm or without cold items
    return scores - is_cold * shift[:, None]


def _distinct(scores: np.ndarray) -> np.ndarray:
    """[b, n] candidate scores (union order) with ties broken by that order, the order the fusion's training
    saw tied rows in; unequal scores keep their order (each row moves by less than its smallest gap)."""
    values = scores.astype(np.float64)
    gaps = np.diff(np.sort(values, axis=1), axis=1)
    smallest = np.where(gaps > 0, gaps, np.inf).min(axis=1, initial=np.inf)
    step = np.where(np.isfinite(smallest), smallest, 1.0) / (values.shape[1] + 1)
    return (values - step[:, None] * np.arange(values.shape[1])).astype(np.float32)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in sorted(values.items(), key=lambda kv: -kv[1])}


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError("missing pipeline file", path)
    return path.read_text()
