"""PairRank: pair-wise recommendation ranking with pretrained language models.

import pairrank
model = pairrank.load("runs/ease")                 # a run folder written by `pairrank train`
model.recommend(["1", "2"], k=10)                   # DataFrame: user_id, item_id, rank, score, title
model.recommend_history(["1", "260", "1196"], k=10)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pairrank.version import __version__

if TYPE_CHECKING:
    from pairrank.api import Ranker

__all__ = ["__version__", "load"]


def load(run: str | Path) -> Ranker:
    """A trained model folder behind string ids (see `pairrank.api.Ranker`)."""
    from pairrank.api import Ranker

    return Ranker.load(run)
