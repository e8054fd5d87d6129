"""Model names (as used by the CLI) to classes."""

from __future__ import annotations

from pairrank.errors import ConfigError
from pairrank.models.base import Recommender
from pairrank.models.bprmf import BPRMF
from pairrank.models.ease import EASE
from pairrank.models.itemknn import ItemKNN
from pairrank.models.mostpop import MostPop
from pairrank.models.peers import ImplicitALS, ImplicitBPR, LightFMWARP
from pairrank.models.textknn import TextKNN
from pairrank.models.twotower import TwoTowerRanker

MODELS: dict[str, type[Recommender]] = {
    m.name: m for m in (MostPop, ItemKNN, EASE, BPRMF, TextKNN, TwoTowerRanker, ImplicitALS, ImplicitBPR, LightFMWARP)
}
BASELINES = ("mostpop", "itemknn", "ease", "bprmf", "textknn")


def model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
