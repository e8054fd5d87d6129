"""A retriever followed by cross-encoder judges, as a model: `--model mono` and `--model duo`.

Fitting: the retriever fits on train; the judge learns from the train
sequences (each user's last items as positives, with the items before them
as history, against hard negatives from the retriever's top M); validation
users set how much the judge's order is trusted over the retriever's. With a
`teacher` (an llm-judge run), mono learns the teacher's verdicts on the same
pairs instead of "the positive wins" (distillation). The
final run refits the retriever on train+valid and keeps the judge. The
judge alone (`judge/`) is what `pairrank rerank --judge RUNDIR` loads.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from pairrank.data.dataset import Dataset
from pairrank.errors import ConfigError, DataError
from pairrank.judges.config import JudgeConfig
from pairrank.judges.distill import load_teacher, teacher_targets
from pairrank.judges.inputs import JudgeInputs
from pairrank.judges.judge import CrossEncoderReranker, DuoJudge, JudgeSettings, MonoJudge
from pairrank.judges.judged import JudgedRanker
from pairrank.judges.network import CrossEncoderNet
from pairrank.judges.training import Pairs, TrainingOptions, choose_blends, sample_pairs, train_duo, train_mono
from pairrank.models.registry import load_model, model_class

JUDGE, RETRIEVER, ITEM_TEXT, REPORT = "judge", "retriever", "item_text.parquet", "judge_report.json"
# A model in memory after fitting scores with torch; loaded from its folder, with `config.backend`.


class MonoRanker(JudgedRanker):
    name = "mono"
    Config = JudgeConfig
    stage = "duo"  # scoring runs duo where a duo judge was trained (mono alone otherwise)
    trains_duo: ClassVar[bool] = False

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.item_text: list[str] | None = None
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

    def _fit_judge(self, train: Dataset, valid: Dataset) -> None:
        config = self.config
        options = TrainingOptions(config.epochs, config.learning_rate, config.batch_size, config.seed)
        network = CrossEncoderNet.from_backbone(config.backbone, config.layers)
        settings = JudgeSettings(config.item_tokens, config.history_items, config.top, config.duo_top)
        self.reranker = self._with_inputs(settings, network, None)
        pairs = self._pairs(train)
        targets = None
        if config.teacher is not None:
            started = time.perf_counter()
            teacher = load_teacher(Path(config.teacher), train.item_titles, train.item_attributes)
            targets = teacher_targets(teacher, pairs)
            self.report |= {"teacher": config.teacher, "teacher_seconds": round(time.perf_counter() - started)}
        started = time.perf_counter()
        losses = train_mono(network, self.reranker.inputs, pairs, options, targets)
        self.report |= {
            "pairs": len(pairs),
            "mono_losses": losses,
            "mono_seconds": round(time.perf_counter() - started),
            "device": str(network.device),
        }
        if self.trains_duo:
            started = time.perf_counter()
            duo = train_duo(network, self.reranker.inputs, pairs, options)
            self.report["duo_seconds"] = round(time.perf_counter() - started)
            self.reranker.duo = DuoJudge(duo, self.reranker.inputs)
        lists, relevant = self._validation_lists(valid)
        histories = [self.reranker.inputs.history(self.latest[u]) for u in lists]
        self.report |= choose_blends(self.reranker, histories, list(lists.values()), relevant)

    def _pairs(self, train: Dataset) -> Pairs:
        config = self.config
        return sample_pairs(
            train,
            self.pairs_retriever(train),
            self.reranker.inputs.history,
            history_items=config.history_items,
            positions=config.positions,
            negatives=config.negatives,
            top=config.top,
            max_pairs=config.max_pairs,
            seed=config.seed,
            listed_only=config.positives == "listed",
            popularity_matched=config.negatives_from == "popularity",
        )

    def _with_inputs(self, settings: JudgeSettings, mono: CrossEncoderNet, duo: CrossEncoderNet | None):
        inputs = JudgeInputs(
            mono.tokenizer, self.item_text, item_tokens=settings.item_tokens, history_items=settings.history_items
        )
        return CrossEncoderReranker(settings, MonoJudge(mono, inputs), duo and DuoJudge(duo, inputs))

    def _duo_network(self) -> CrossEncoderNet | None:
        return self.reranker.duo.network if self.reranker.duo is not None else None

    # -- persistence -----------------------------------------------------
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
