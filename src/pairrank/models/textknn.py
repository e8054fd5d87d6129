"""TextKNN: user = recency-weighted mean text embedding of their history; score = cosine to each item."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any

import numpy as np
import scipy.sparse as sp
from pydantic import Field, PositiveInt

from pairrank.data.dataset import Dataset, recency_weights
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import EncoderBackend, make_encoder
from pairrank.encoders.sentence import DEFAULT_BATCH, DEFAULT_MODEL
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender
from pairrank.models.config import Trial, model_options


@model_options
class TextKNNConfig:
    encoder: str = DEFAULT_MODEL  # sentence-transformers model: name or local path
    encoder_backend: EncoderBackend = "torch"  # sentence-transformers, or "onnx" (ONNX Runtime int8)
    decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5  # weight decay**age, age 0 = latest item; 1: plain mean
    batch_size: PositiveInt = DEFAULT_BATCH

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {"decay": trial.suggest_float("decay", 0.05, 1.0)}


class TextKNN(Recommender):
    """Content-only: scores any item with text, including items never interacted with.

    The user's profile is the mean of their items' text vectors weighted by
    `decay ** age` (age 0 for the latest item), so recent items count most.
    """

    name = "textknn"
    Config = TextKNNConfig
    supports_cold_items = True
    scores_histories = True
    adds_items = True

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.text_vectors: np.ndarray | None = None  # [n_items, d], L2-normalised
        self.profile_weights: sp.csr_matrix | None = None  # user x item recency weights

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if train.item_text is None or not any(train.item_text):
            raise ConfigError("textknn needs item text: the split's items.csv has no text columns")
        encoder = make_encoder(self.config.encoder_backend, self.config.encoder, batch_size=self.config.batch_size)
        self.text_vectors = EmbeddingCache(encoder).encode(train.item_text, show_progress=True)
        self.profile_weights = train.recency_matrix(self.config.decay)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_profiles(self.profile_weights[users])

    def user_history(self, user: int) -> np.ndarray:
        """The user's items oldest first: by their recency weight, which grows with recency."""
        self._check_fitted()
        row = self.profile_weights[user]
        return row.indices[np.argsort(row.data, kind="stable")].astype(np.int64)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._score_profiles(self._history_weights(histories))

    def _history_weights(self, histories: list[np.ndarray]) -> sp.csr_matrix:
        """Recency weights for histories given oldest first, as `Dataset.recency_matrix` gives for users."""
        lengths = [len(h) for h in histories]
        rows = np.repeat(np.arange(len(histories)), lengths)
        items = np.concatenate([np.zeros(0, np.int64), *(np.asarray(h, dtype=np.int64)[::-1] for h in histories)])
        ages = np.concatenate([np.zeros(0, np.int64), *(np.arange(n) for n in lengths)])
        return recency_weights(rows, items, ages, self.config.decay, (len(histories), len(self.items)))

    def _score_profiles(self, weights: sp.csr_matrix) -> np.ndarray:
        """Cosine of each item to each row's weighted mean vector (rows of user x item weights)."""
        return self._profiles(weights) @ self.text_vectors.T

    def _profiles(self, weights: sp.csr_matrix) -> np.ndarray:
        """Each row's weighted mean item vector, L2-normalised (zero for an empty row)."""
        profile = np.asarray(weights @ self.text_vectors)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        return np.divide(profile, norms, out=np.zeros_like(profile), where=norms > 0)

    # -- vectors: a score is the inner product of a history's profile and an item's text vector --
    def item_vectors(self) -> np.ndarray:
        return self.text_vectors

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        return self._profiles(self.profile_weights[np.asarray(users, dtype=np.int64)])

    def new_item_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self._new_item_encoder.encode(list(texts))

    @cached_property
    def _new_item_encoder(self) -> EmbeddingCache:
        """The encoder the catalogue was embedded with, loaded once."""
        return EmbeddingCache(
            make_encoder(self.config.encoder_backend, self.config.encoder, batch_size=self.config.batch_size)
        )

    def history_vectors(self, histories: list[np.ndarray]) -> np.ndarray:
        """Each history's profile, with `recency_weights`' weights (an item held twice keeps its newest), from
        its own items' vectors: no row over the whole catalogue."""
        out = np.zeros((len(histories), self.text_vectors.shape[1]), dtype=np.float32)
        for row, history in enumerate(histories):
            items, age = np.unique(np.asarray(history, dtype=np.int64)[::-1], return_index=True)
            out[row] = np.power(np.float64(self.config.decay), age).astype(np.float32) @ self.text_vectors[items]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    def _state(self) -> dict[str, np.ndarray]:
        p = self.profile_weights
        return {
            "item_vectors": self.text_vectors,
            "profile.indptr": p.indptr.astype(np.int64),
            "profile.indices": p.indices.astype(np.int64),
            "profile.data": p.data.astype(np.float32),
        }

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.text_vectors = state["item_vectors"]
        indptr, indices, data = state["profile.indptr"], state["profile.indices"], state["profile.data"]
        self.profile_weights = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(self.text_vectors)))
