"""Content-addressed on-disk embedding cache: key = hash(model id, text).

Each call that encodes new texts adds one shard (`.npz` of keys and
vectors, loaded with allow_pickle=False) under a folder per model, so a
second run over the same catalogue encodes nothing.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    model_id: str

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray: ...


def cache_root() -> Path:
    """PairRank's cache folder: $PAIRRANK_CACHE, else ~/.cache/pairrank."""
    return Path(os.environ.get("PAIRRANK_CACHE", Path.home() / ".cache" / "pairrank"))


def default_cache_dir() -> Path:
    return cache_root() / "embeddings"


def _digest(text: str) -> bytes:
    """Hex digest as bytes: no NUL bytes, which numpy's fixed-width 'S' arrays would strip."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest().encode("ascii")


class EmbeddingCache:
    """Wraps an encoder; `encode(texts)` returns cached vectors where it can."""

    def __init__(self, encoder: TextEncoder, root: Path | None = None):
        self.encoder = encoder
        model_key = hashlib.sha1(encoder.model_id.encode("utf-8")).hexdigest()[:16]
        self.folder = (root or default_cache_dir()) / model_key

    def _load(self) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for shard in sorted(self.folder.glob("*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                found.update(zip(data["keys"].tolist(), data["vectors"]))
        return found

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        keys = [_digest(t) for t in texts]
        known = self._load()
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
        if missing:
            vectors = self.encoder.encode([t for _, t in missing], show_progress=show_progress)
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{uuid.uuid4().hex}.npz"
            np.savez(tmp, keys=np.array([k for k, _ in missing], dtype="S40"), vectors=vectors)
            tmp.rename(self.folder / f"{uuid.uuid4().hex}.npz")
            known.update(zip((k for k, _ in missing), vectors))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)
