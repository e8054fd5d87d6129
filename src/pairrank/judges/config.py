"""The cross-encoder judges' options: backbone, inputs, pair-wise training and re-ranking depth."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import PositiveFloat, PositiveInt

from pairrank.errors import ConfigError
from pairrank.judges.backend import JudgeBackend
from pairrank.models.config import Trial, config_from_dict, model_options
from pairrank.models.registry import model_class


@model_options
class JudgeConfig:
    backbone: str = "all-MiniLM-L6-v2"  # the packaged weights, or a local Hugging Face folder
    layers: PositiveInt | None = 3  # keep the backbone's first N transformer layers (faster); None: all
    retriever: str = "ease"  # proposes the candidates to re-rank and the hard negatives to train on
    retriever_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    top: PositiveInt = 50  # mono re-scores the retriever's top M
    duo_top: PositiveInt = 10  # duo compares every pair of mono's top m, in both orders
    history_items: PositiveInt = 3  # latest history items the judge reads, newest first
    item_tokens: PositiveInt = 16  # tokens kept of each item's text
    positions: PositiveInt = 8  # training cuts per user, from the end of the train sequence
    negatives: PositiveInt = 2  # hard negatives per positive, drawn from the retriever's top M
    # "listed": only positives in the retriever's top M themselves (the lists the judges re-rank); "all": every one
    positives: Literal["all", "listed"] = "listed"
    # "unseen": hard negatives (and listed positives) from a copy of the retriever fit without each user's last
    # `positions` train items, as at serving time; "train": from the retriever fit on all of train; "popularity":
    # items next to the positive in train popularity order, not from a retriever (positives "all" only)
    negatives_from: Literal["train", "unseen", "popularity"] = "unseen"
    max_pairs: PositiveInt = 6000  # training pairs per epoch at most (seeded sample)
    epochs: PositiveInt = 1
    learning_rate: PositiveFloat = 1e-4
    batch_size: PositiveInt = 16  # pairs per step
    valid_users: PositiveInt = 300  # validation users (seeded) that choose the blend with the retriever's order
    seed: int = 42
    teacher: str | None = None  # an llm-judge run folder: mono learns its verdicts on the pairs (distillation)
    # a loaded judge runs on ONNX Runtime (int8) or torch; "auto": int8 where the CPU has int8 dot-product
    # instructions, else torch (and torch on a GPU)
    backend: JudgeBackend = "auto"

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True),
            "negatives": trial.suggest_int("negatives", 1, 4),
            "history_items": trial.suggest_int("history_items", 2, 8),
        }

    def __post_init__(self) -> None:
        if self.retriever in ("mono", "duo", "llm-judge", "pipeline"):
            raise ConfigError(f"a judge's retriever must be a single model, not {self.retriever!r}")
        if self.teacher is not None and not Path(self.teacher).is_dir():
            raise ConfigError(f"teacher {self.teacher}: no such run folder")
        if self.duo_top > self.top:
            raise ConfigError(f"duo_top ({self.duo_top}) cannot exceed top ({self.top})")
        check_pair_drawing(self.retriever, self.positives, self.negatives_from)
        config_from_dict(model_class(self.retriever).Config, self.retriever_options, owner=f"judge/{self.retriever}")


def check_pair_drawing(retriever: str, positives: str, negatives_from: str) -> None:
    """Listed positives and an unseen retriever rank the history before each positive: the retriever must score
    histories given now; listed positives need negatives from that retriever's list."""
    if positives == "listed" and negatives_from == "popularity":
        raise ConfigError(
            'positives = "listed" keeps positives from the retriever\'s list, whose negatives come from that list: '
            'with negatives_from = "popularity", set positives = "all"'
        )
    if (positives == "listed" or negatives_from == "unseen") and not model_class(retriever).scores_histories:
        raise ConfigError(
            f'positives = "listed" and negatives_from = "unseen" need a retriever that scores histories given now, '
            f'not {retriever!r}: choose another retriever, or set positives = "all" and negatives_from = "train"'
        )
