"""TextKNN: user = mean text embedding of their history; score = cosine to each item."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pairrank.data.dataset import Dataset
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.sentence import DEFAULT_MODEL, SentenceEncoder
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender


@dataclass
class TextKNNConfig:
    encoder: str = DEFAULT_MODEL  # sentence-transformers model: name or local path
    batch_size: int = 128


class TextKNN(Recommender):
    """Content-only: scores any item with text, including items never interacted with."""

    name = "textknn"
    Config = TextKNNConfig
    supports_cold_items = True

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if train.item_text is None:
            raise ConfigError("textknn needs item text: the split's items.csv has no text columns")
        encoder = SentenceEncoder(self.config.encoder, batch_size=self.config.batch_size)
        self.item_vectors = EmbeddingCache(encoder).encode(train.item_text, show_progress=True)

    def _score(self, users: np.ndarray) -> np.ndarray:
        history = self.history[users]
        profile = np.asarray(history @ self.item_vectors)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile = np.divide(profile, norms, out=np.zeros_like(profile), where=norms > 0)
        return profile @ self.item_vectors.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_vectors": self.item_vectors}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_vectors = state["item_vectors"]
