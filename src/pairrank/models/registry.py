"""Model names, as the CLI and model folders spell them, to classes.

A class is imported only when it is asked for, so listing the models (for
`--help`, say) loads neither torch nor an optional peer library. A model
whose optional package is not installed is left out of the lists, and
asking for it is one `ConfigError` saying what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pairrank.errors import ConfigError
from pairrank.models.folder import read_meta

if TYPE_CHECKING:
    from pairrank.models.base import Recommender


@dataclass(frozen=True)
class ModelEntry:
    name: str
    location: str  # "module:Class"
    baseline: bool = False  # trained by `pairrank demo` and the baselines benchmark
    requires: tuple[str, ...] = ()  # optional packages (import names) the model needs

    @property
    def available(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package in self.requires)

    def load_class(self) -> type[Recommender]:
        module, name = self.location.split(":")
        return getattr(importlib.import_module(module), name)


ENTRIES = (
    ModelEntry("mostpop", "pairrank.models.mostpop:MostPop", baseline=True),
    ModelEntry("itemknn", "pairrank.models.itemknn:ItemKNN", baseline=True),
    ModelEntry("ease", "pairrank.models.ease:EASE", baseline=True),
    ModelEntry("userknn", "pairrank.models.userknn:UserKNN", baseline=True),
    ModelEntry("bprmf", "pairrank.models.bprmf:BPRMF", baseline=True),
    ModelEntry("textknn", "pairrank.models.textknn:TextKNN", baseline=True),
    ModelEntry("twotower", "pairrank.models.twotower:TwoTowerRanker"),
    ModelEntry("sasrec", "pairrank.models.sasrec:SASRec"),
    ModelEntry("mono", "pairrank.judges.ranker:MonoRanker"),
    ModelEntry("duo", "pairrank.judges.ranker:DuoRanker"),
    ModelEntry("llm-judge", "pairrank.judges.llm_ranker:LLMRanker"),
    ModelEntry("pipeline", "pairrank.pipeline.model:Pipeline", requires=("faiss", "lightgbm")),
    ModelEntry("implicit-als", "pairrank.models.peers:ImplicitALS", requires=("implicit",)),
    ModelEntry("implicit-bpr", "pairrank.models.peers:ImplicitBPR", requires=("implicit",)),
    ModelEntry("lightfm", "pairrank.models.peers:LightFMWARP", requires=("lightfm",)),
)
_BY_NAME = {entry.name: entry for entry in ENTRIES}


def model_names() -> list[str]:
    """The models that can run here (optional peers only when their package is installed)."""
    return [entry.name for entry in ENTRIES if entry.available]


def baseline_names() -> list[str]:
    return [entry.name for entry in ENTRIES if entry.baseline and entry.available]


def history_models() -> list[str]:
    """The installed models that recommend for a history given at request time (imports them all)."""
    return [name for name in model_names() if model_class(name).scores_histories]


def model_class(name: str) -> type[Recommender]:
    """The class registered as `name`; unknown or not installed is a `ConfigError`."""
    entry = _BY_NAME.get(name)
    if entry is None:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")
    if not entry.available:
        missing = ", ".join(p for p in entry.requires if importlib.util.find_spec(p) is None)
        raise ConfigError(f"model {name!r} needs the package(s) {missing}, not installed here: pip install {missing}")
    return entry.load_class()


def load_model(directory: str | Path) -> Recommender:
    """Read any model folder written by `Recommender.save`."""
    return model_class(read_meta(directory).model).load(directory)
