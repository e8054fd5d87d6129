"""Models trained in epochs by the shared torch loop (`pairrank.train`)."""

from __future__ import annotations

from typing import Any

from pairrank.models.base import Recommender
from pairrank.models.config import replace_options
from pairrank.train.loop import Outcome, Trainer


class NetworkRecommender(Recommender):
    """A model fitted by a `Trainer`: how it runs (checkpoints, resume, an epoch callback) is the
    trainer's business and is given at construction; what it learns is the config's.

    Its config has `epochs`; after a validated fit, `best_epoch` is the early-stopped epoch count
    that `final_config` refits with, and `curve` the validation NDCG@10 of every epoch.
    """

    uses_validation = True

    def __init__(self, config: Any = None, *, trainer: Trainer | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.trainer = trainer or Trainer()
        self.best_epoch: int | None = None
        self.curve: list[float] = []

    def _record(self, outcome: Outcome) -> None:
        self.best_epoch, self.curve = outcome.best_epoch, outcome.curve

    def final_config(self) -> Any:
        """Refit for the early-stopped number of epochs (the configured number if never validated)."""
        if self.best_epoch is None:
            return self.config
        return replace_options(self.config, {"epochs": self.best_epoch}, owner=self.name)
