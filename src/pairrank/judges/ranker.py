"""A retriever followed by cross-encoder judges, as a model: `--model mono` and `--model duo`.

Fitting: the retriever fits on train; the judge learns from the train
sequences (each user's last items as positives, with the items before them
as history, against hard negatives from the retriever's top M); validation
users set how much the judge's order is trusted over the retriever's. The
final run refits the retriever on train+valid and keeps the judge. The
judge alone (`judge/`) is what `pairrank rerank --judge RUNDIR` loads.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pairrank.data.dataset import Dataset
from pairrank.errors import ConfigError, DataError
from pairrank.judges.config import JudgeConfig
from pairrank.judges.inputs import JudgeInputs
from pairrank.judges.judge import CrossEncoderReranker, DuoJudge, JudgeSettings, MonoJudge, blend
from pairrank.judges.network import CrossEncoderNet
from pairrank.judges.training import Pairs, TrainingOptions, choose_alpha, train_duo, train_mono
from pairrank.models.base import Recommender, masked, top_k
from pairrank.models.config import config_from_dict
from pairrank.models.registry import load_model, model_class
from pairrank.progress import progress_bar

JUDGE, RETRIEVER, ITEM_TEXT, REPORT = "judge", "retriever", "item_text.parquet", "judge_report.json"
# A model in memory after fitting scores with torch; loaded from its folder, with `config.backend`.


class MonoRanker(Recommender):
    name = "mono"
    Config = JudgeConfig
    uses_validation = True
    trains_duo: ClassVar[bool] = False

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        retriever = model_class(self.config.retriever)
        self.retriever_config = config_from_dict(retriever.Config, self.config.retriever_options, owner=self.name)
        self.retriever: Recommender | None = None
        self.reranker: CrossEncoderReranker | None = None
        self.item_text: list[str] | None = None
        self.latest: np.ndarray | None = None  # [n_users, history_items] latest items, oldest first, -1 padded
        self.report: dict[str, Any] = {}
        self.latency: dict[str, float] = {}
        self._judge_folder: Path | None = None  # where a loaded judge came from (its ONNX nets cannot save)

    # -- fitting ---------------------------------------------------------
    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if self.reranker is None and valid is None:
            raise ConfigError(f"{self.name} chooses its blend on validation users: fit(train, valid)")
        if train.item_text is None or not any(train.item_text):
            raise DataError(f"{self.name} reads item text, and this dataset has none")
        self.item_text = list(train.item_text)
        self.latest = train.sequences(self.config.history_items, -1)
        started = time.perf_counter()
        self.retriever = model_class(self.config.retriever)(self.retriever_config).fit(train, valid)
        self.report["retriever_fit_seconds"] = round(time.perf_counter() - started, 1)
        if self.reranker is None:
            self._fit_judge(train, valid)
        else:  # the final run: the judge reads the new catalogue's texts
            self.reranker = self._with_inputs(self.reranker.settings, self.reranker.mono.network, self._duo_network())

    def refit(self, data: Dataset, fresh: Callable[[Any], Recommender]) -> Recommender:
        """The final model: the retriever refit on `data` (train+valid); the judge trained here is kept."""
        final = type(self)(self.config)
        final.retriever_config = self.retriever.final_config()
        final.reranker, final.report = self.reranker, dict(self.report)
        return final.fit(data)

    def _fit_judge(self, train: Dataset, valid: Dataset) -> None:
        config = self.config
        options = TrainingOptions(config.epochs, config.learning_rate, config.batch_size, config.seed)
        network = CrossEncoderNet.from_backbone(config.backbone, config.layers)
        settings = JudgeSettings(config.item_tokens, config.history_items, config.top, config.duo_top)
        self.reranker = self._with_inputs(settings, network, None)
        pairs = self._pairs(train)
        started = time.perf_counter()
        losses = train_mono(network, self.reranker.inputs, pairs, options)
        self.report |= {
            "pairs": len(pairs),
            "mono_losses": losses,
            "mono_seconds": round(time.perf_counter() - started),
        }
        lists, relevant = self._validation_lists(valid)
        histories = [self.reranker.inputs.history(self.latest[u]) for u in lists]
        with progress_bar("mono judge: validation users", len(lists)) as bar:
            scores = []
            for history, items in zip(histories, lists.values()):
                scores.append(self.reranker.mono.score(history, items))
                bar.advance()
        settings.mono_alpha, ndcg = choose_alpha(scores, relevant)
        self.report |= {"valid_users": len(lists), "mono_alpha": settings.mono_alpha, "mono_valid_ndcg@10": ndcg}
        if self.trains_duo:
            self._fit_duo(pairs, options, histories, lists, relevant, scores)

    def _fit_duo(self, pairs, options, histories, lists, relevant, mono_scores) -> None:
        started = time.perf_counter()
        network = train_duo(self.reranker.mono.network, self.reranker.inputs, pairs, options)
        self.report["duo_seconds"] = round(time.perf_counter() - started)
        duo = DuoJudge(network, self.reranker.inputs)
        settings, top = self.reranker.settings, self.config.duo_top
        wins, duo_relevant = [], []
        with progress_bar("duo judge: validation users", len(lists)) as bar:
            for history, items, scores, hits in zip(histories, lists.values(), mono_scores, relevant):
                order = np.argsort(-blend(scores, settings.mono_alpha), kind="stable")[:top]
                if hits[order].any():
                    wins.append(duo.wins(history, np.asarray(items)[order]))
                    duo_relevant.append(hits[order])
                bar.advance()
        settings.duo_alpha, ndcg = choose_alpha(wins, duo_relevant)
        self.reranker.duo = duo
        self.report |= {"duo_valid_users": len(wins), "duo_alpha": settings.duo_alpha, "duo_valid_ndcg@10": ndcg}

    def _pairs(self, train: Dataset) -> Pairs:
        """(history, positive, hard negative) from each user's last `positions` train items."""
        config, rng = self.config, np.random.default_rng(self.config.seed)
        sequences = train.sequences(config.history_items + config.positions, -1)
        users = train.active_users()
        candidates, _ = self.retriever.recommend(users, config.top)
        histories, positives, negatives = [], [], []
        for user, pool in zip(users, candidates):
            pool = pool[pool >= 0]
            sequence = sequences[user]
            for cut in range(1, config.positions + 1):
                history = sequence[: sequence.size - cut]
                if sequence[-cut] < 0 or not (history >= 0).any() or not pool.size:
                    break
                for negative in rng.choice(pool, min(config.negatives, pool.size), replace=False):
                    histories.append(self.reranker.inputs.history(history))
                    positives.append(sequence[-cut])
                    negatives.append(negative)
        keep = rng.permutation(len(positives))[: config.max_pairs]
        return Pairs([histories[i] for i in keep], np.asarray(positives)[keep], np.asarray(negatives)[keep])

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

    def _with_inputs(self, settings: JudgeSettings, mono: CrossEncoderNet, duo: CrossEncoderNet | None):
        inputs = JudgeInputs(
            mono.tokenizer, self.item_text, item_tokens=settings.item_tokens, history_items=settings.history_items
        )
        return CrossEncoderReranker(settings, MonoJudge(mono, inputs), duo and DuoJudge(duo, inputs))

    def _duo_network(self) -> CrossEncoderNet | None:
        return self.reranker.duo.network if self.reranker.duo is not None else None

    # -- scoring ---------------------------------------------------------
    def _score(self, users: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        scores = self.retriever.score(users)
        top, values = top_k(masked(scores, self.history[users], None), self.config.top)
        top[~np.isfinite(values)] = -1
        retrieved = time.perf_counter()
        self.reranker.promote(scores, top, self.latest[users], stage="duo")
        self.latency = {
            "retrieve": (retrieved - started) / max(len(users), 1),
            "rerank": (time.perf_counter() - retrieved) / max(len(users), 1),
        }
        return scores

    # -- persistence -----------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {"latest": self.latest}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.latest = state["latest"]

    def _write(self, directory: Path, files: dict[str, str]) -> None:
        super()._write(directory, {**files, REPORT: json.dumps(self.report, indent=2, default=float)})
        self.retriever._write(_made(directory / RETRIEVER), {})
        if self._judge_folder is not None:
            shutil.copytree(self._judge_folder, directory / JUDGE)
        else:
            self.reranker.save(directory / JUDGE)
        pd.DataFrame({"text": self.item_text}).to_parquet(directory / ITEM_TEXT)

    @classmethod
    def load(cls, directory: str | Path) -> MonoRanker:
        directory = Path(directory)
        model = super().load(directory)
        model.retriever = load_model(directory / RETRIEVER)
        if not (directory / ITEM_TEXT).exists():
            raise DataError("missing item texts", directory / ITEM_TEXT)
        model.item_text = pd.read_parquet(directory / ITEM_TEXT)["text"].tolist()
        model.reranker = CrossEncoderReranker.load(directory / JUDGE, model.item_text, model.config.backend)
        model._judge_folder = directory / JUDGE
        model.report = json.loads((directory / REPORT).read_text()) if (directory / REPORT).exists() else {}
        return model


class DuoRanker(MonoRanker):
    name = "duo"
    trains_duo = True


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder
