"""The pipeline's options: which retrievers, how many candidates, how the fusion learns.

`default.toml` beside this module documents the same defaults as a file to copy and edit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from pairrank.errors import ConfigError
from pairrank.models.config import BelowOne, Probability, Trial, config_from_dict, model_options
from pairrank.models.registry import model_class

DEFAULT_RETRIEVERS = ["twotower", "ease", "itemknn", "textknn"]


@model_options
class PipelineConfig:
    retrievers: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_RETRIEVERS))
    retriever_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # name -> its options
    candidates: PositiveInt = 200  # per retriever and user; the union of the retrievers' lists is ranked
    exact_search_limit: PositiveInt = 200_000  # vector retrievers: exact inner product up to this many items, then HNSW
    fusion: bool = True  # LightGBM lambdarank over the candidates' features; False: ranked in union order
    history_window: PositiveInt = 50  # latest history items the text- and attribute-similarity features read
    held_out_items: NonNegativeInt = 3  # per user: latest train items the fusion's retrievers refit without, as labels
    negatives: PositiveInt = 100  # per validation user: non-relevant candidates the fusion trains on
    withheld_items: BelowOne = 0.1  # share of items withheld to teach the cold fusion new items; 0: warm ones
    trees: PositiveInt = 500  # upper bound; cross-validation over validation users picks the count
    learning_rate: PositiveFloat = 0.05
    leaves: PositiveInt = 7
    min_child_samples: PositiveInt = 200
    seed: int = 42
    judge: Literal["none", "mono", "duo", "llm-judge"] = "none"  # re-ranking of the fused top (pairrank.judges)
    judge_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # options of the judge model
    allow_attributes: list[str] = dataclasses.field(default_factory=list)  # only items with one of these (any if empty)
    deny_attributes: list[str] = dataclasses.field(default_factory=list)  # never items with one of these
    mmr_lambda: Probability = 1.0  # MMR diversity: 1 keeps the ranking; lower trades relevance for variety
    mmr_pool: PositiveInt = 50  # MMR picks the top k from this many of the best

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        """The fusion's options (each trial also refits every retriever: slow)."""
        return {
            "candidates": trial.suggest_categorical("candidates", [100, 200, 400]),
            "leaves": trial.suggest_categorical("leaves", [3, 7, 15, 31]),
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 500, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "negatives": trial.suggest_int("negatives", 20, 400, log=True),
        }

    def __post_init__(self) -> None:
        if not self.retrievers:
            raise ConfigError("pipeline needs at least one retriever")
        if "pipeline" in self.retrievers:
            raise ConfigError("a pipeline cannot retrieve with another pipeline")
        if len(set(self.retrievers)) != len(self.retrievers):
            raise ConfigError(f"retrievers are listed twice: {self.retrievers}")
        stray = sorted(set(self.retriever_options) - set(self.retrievers))
        if stray:
            raise ConfigError(f"retriever_options for {stray}, which are not in retrievers {self.retrievers}")
        for name in self.retrievers:  # an unknown model or a bad option fails here, before any data is read
            config_from_dict(model_class(name).Config, self.retriever_options.get(name), owner=f"pipeline/{name}")
        if self.judge != "none":
            config_from_dict(model_class(self.judge).Config, self.judge_options, owner=f"pipeline/{self.judge}")
