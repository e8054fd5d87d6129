"""TextKNN: user = mean text embedding of their (recent) history; score = cosine to each item."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pairrank.data.dataset import Dataset
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import make_encoder
from pairrank.encoders.sentence import DEFAULT_MODEL
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender, history_matrix


@dataclass
class TextKNNConfig:
    encoder: str = DEFAULT_MODEL  # sentence-transformers model: name or local path
    encoder_backend: str = "torch"  # "torch" (sentence-transformers) or "onnx" (ONNX Runtime int8)
    recent: int = 3  # profile from the user's last N items (0 = whole history); tuned on valid
    batch_size: int = 128


class TextKNN(Recommender):
    """Content-only: scores any item with text, including items never interacted with."""

    name = "textknn"
    Config = TextKNNConfig
    supports_cold_items = True
    scores_histories = True

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if train.item_text is None or not any(train.item_text):
            raise ConfigError("textknn needs item text: the split's items.csv has no text columns")
        encoder = make_encoder(self.config.encoder_backend, self.config.encoder, batch_size=self.config.batch_size)
        self.item_vectors = EmbeddingCache(encoder).encode(train.item_text, show_progress=True)
        self.profile_items = train.recent_matrix(self.config.recent) if self.config.recent > 0 else train.matrix

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_profiles(self.profile_items[users])

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        recent = [h[-self.config.recent :] if self.config.recent > 0 else h for h in histories]
        return self._score_profiles(history_matrix(recent, len(self.items)))

    def _score_profiles(self, profile_items: sp.csr_matrix) -> np.ndarray:
        """Cosine of each item to the mean vector of each row's profile items (binary user x item rows)."""
        profile = np.asarray(profile_items @ self.item_vectors)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile = np.divide(profile, norms, out=np.zeros_like(profile), where=norms > 0)
        return profile @ self.item_vectors.T

    def _state(self) -> dict[str, np.ndarray]:
        p = self.profile_items
        return {
            "item_vectors": self.item_vectors,
            "profile.indptr": p.indptr.astype(np.int64),
            "profile.indices": p.indices.astype(np.int64),
        }

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_vectors = state["item_vectors"]
        indptr, indices = state["profile.indptr"], state["profile.indices"]
        self.profile_items = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(indptr) - 1, len(self.item_vectors))
        )
