"""ONNX Runtime encoder on the packaged all-MiniLM-L6-v2: accuracy against torch, export once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pairrank.encoders.factory import make_encoder
from pairrank.encoders.onnx import FP32_FILE, INT8_FILE, OnnxEncoder
from pairrank.encoders.sentence import SentenceEncoder
from pairrank.errors import ConfigError


@pytest.fixture(scope="module")
def texts(movielens_dir: Path) -> list[str]:
    movies = pd.read_csv(movielens_dir / "movies.csv", dtype=str).head(50)
    return (movies["title"] + ". " + movies["genres"].str.replace("|", ", ")).tolist()


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def int8(onnx_dir: Path) -> OnnxEncoder:
    """Exports the model (once per module) on first use."""
    encoder = OnnxEncoder(cache_dir=onnx_dir)
    encoder.encode(["warm up"])
    return encoder


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    return SentenceEncoder().encode(texts)


def test_int8_matches_torch(int8: OnnxEncoder, texts: list[str], reference: np.ndarray):
    vectors = int8.encode(texts)
    assert vectors.shape == (50, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * reference).sum(axis=1).mean() >= 0.99


def test_fp32_matches_torch_and_order_is_kept(onnx_dir: Path, int8: OnnxEncoder, texts, reference):
    fp32 = OnnxEncoder(quantize=False, cache_dir=onnx_dir, batch_size=7)
    assert (fp32.encode(texts) * reference).sum(axis=1).min() >= 0.9999
    assert fp32.encode([]).shape == (0, 384)
    assert len({fp32.model_id, int8.model_id, SentenceEncoder().model_id}) == 3
    assert "int8" in int8.model_id and "fp32" in fp32.model_id


def test_export_happens_once(onnx_dir: Path, int8: OnnxEncoder, texts: list[str]):
    files = [int8.folder / FP32_FILE, int8.folder / INT8_FILE]
    before = [f.stat().st_mtime_ns for f in files]
    again = OnnxEncoder(cache_dir=onnx_dir)
    assert again.folder == int8.folder
    np.testing.assert_allclose(again.encode(texts[:5]), int8.encode(texts[:5]), atol=1e-6)
    assert [f.stat().st_mtime_ns for f in files] == before
    assert len(list(onnx_dir.iterdir())) == 1  # one model folder, no temporary leftovers


def test_default_cache_dir_follows_pairrank_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAIRRANK_CACHE", str(tmp_path))
    assert OnnxEncoder().folder.parent == tmp_path / "onnx"


def test_factory(onnx_dir: Path):
    assert isinstance(make_encoder("torch", batch_size=8), SentenceEncoder)
    assert isinstance(make_encoder("onnx", quantize=False, cache_dir=onnx_dir), OnnxEncoder)
    with pytest.raises(ConfigError, match="unknown encoder backend 'tf'"):
        make_encoder("tf")


def test_textknn_runs_on_the_onnx_backend(small_cold_split):
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.training import train_model

    data = SplitData.from_split(Split.read(small_cold_split))
    model, _ = train_model(data, "textknn", {"encoder_backend": "onnx"})
    cold = data.items.index(data.split.candidates)
    assert np.isfinite(model.score(np.arange(3), cold)).all()
