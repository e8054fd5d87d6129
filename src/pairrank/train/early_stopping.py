"""Early stopping on a validation score: keep the best snapshot, stop after `patience` flat epochs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class EarlyStopping:
    """Record one score per epoch; `update` returns True when training should stop."""

    def __init__(self, patience: int):
        self.patience = patience
        self.curve: list[float] = []
        self.best_epoch = 0
        self.snapshot: Any = None

    def update(self, epoch: int, score: float, snapshot: Callable[[], Any]) -> bool:
        """Take `snapshot()` when `score` is the best so far."""
        self.curve.append(score)
        if self.best_epoch == 0 or score > self.curve[self.best_epoch - 1]:
            self.best_epoch, self.snapshot = epoch, snapshot()
            return False
        return epoch - self.best_epoch >= self.patience
