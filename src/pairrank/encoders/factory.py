"""Pick a text encoder by backend name."""

from __future__ import annotations

from typing import Literal, get_args

from pairrank.encoders.cache import TextEncoder
from pairrank.encoders.sentence import DEFAULT_MODEL
from pairrank.errors import ConfigError

EncoderBackend = Literal["torch", "onnx"]
BACKENDS: tuple[str, ...] = get_args(EncoderBackend)


def make_encoder(backend: str = "torch", model: str = DEFAULT_MODEL, **kw) -> TextEncoder:
    """A SentenceEncoder ("torch") or OnnxEncoder ("onnx"); `kw` goes to its constructor."""
    if backend == "torch":
        from pairrank.encoders.sentence import SentenceEncoder

        return SentenceEncoder(model, **kw)
    if backend == "onnx":
        from pairrank.encoders.onnx import OnnxEncoder

        return OnnxEncoder(model, **kw)
    raise ConfigError(f"unknown encoder backend {backend!r}; choose one of {', '.join(BACKENDS)}")
