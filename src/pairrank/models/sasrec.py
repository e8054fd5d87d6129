"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over learned item-id embeddings.

The sequential, id-only peer that the language-model rankers are measured
against. It is the two-tower network with the text path switched off: items
are id embeddings shared by input and output, users the state of a causal
Transformer over their latest items. Trained on next-item targets at every
position with full softmax cross-entropy over the catalogue (the "SASRec +
CE" of Klenitskiy & Vasilev, RecSys 2023, who found it beats the paper's
binary cross-entropy with one negative), or with BPR against one uniform negative
per position, the paper's pair-wise form. It cannot score items never seen
in training.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from pairrank.errors import ConfigError
from pairrank.models.config import BelowOne, Trial, model_options
from pairrank.models.twotower import TwoTowerConfig, TwoTowerRanker


@model_options
class SASRecConfig:
    dim: PositiveInt = 64
    layers: PositiveInt = 2
    heads: PositiveInt = 1
    max_history: PositiveInt = 50  # the paper's length for Amazon data
    dropout: BelowOne = 0.2
    # softmax: full cross-entropy over every item | bpr: one uniform negative per position
    loss: Literal["softmax", "bpr"] = "softmax"
    lr: PositiveFloat = 0.003  # above the paper's 0.001, for fewer epochs on CPU (not swept)
    weight_decay: NonNegativeFloat = 0.0
    ema_decay: BelowOne = 0.0  # validate and serve an exponential moving average of the weights; 0: off
    batch_size: PositiveInt = 32  # history windows per batch
    epochs: PositiveInt = 200  # upper bound; early stopping on valid NDCG@10 picks the best
    patience: PositiveInt = 10
    seed: int = 42

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "layers": trial.suggest_int("layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "max_history": trial.suggest_categorical("max_history", [20, 50, 100, 200]),
        }


class SASRec(TwoTowerRanker):
    name = "sasrec"
    Config = SASRecConfig
    supports_cold_items = False
    adds_items = False

    @cached_property
    def tower(self) -> TwoTowerConfig:
        """SASRec's options as the two-tower network's: no text, ids only, the attention user tower."""
        c = self.config
        pairwise = c.loss == "bpr"
        return TwoTowerConfig(
            use_text=False,
            use_item_id=True,
            id_dropout=0.0,
            user_tower="attention",
            dim=c.dim,
            layers=c.layers,
            heads=c.heads,
            max_history=c.max_history,
            dropout=c.dropout,
            loss=c.loss,
            negatives="uniform" if pairwise else "all",
            num_negatives=1,
            lr=c.lr,
            weight_decay=c.weight_decay,
            ema_decay=c.ema_decay,
            batch_size=c.batch_size,
            epochs=c.epochs,
            patience=c.patience,
            seed=c.seed,
        )
