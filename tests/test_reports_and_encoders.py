"""Benchmark reports, the packaged text encoder and the embedding cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.data.item_text import item_texts
from pairrank.data.split_io import Split
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.sentence import SentenceEncoder, resolve_model
from pairrank.eval.evaluator import evaluate


def test_benchmark_writes_json_markdown_and_html(tmp_path, small_loo_split):
    out, config = tmp_path / "bench", tmp_path / "models.toml"
    config.write_text("[itemknn]\nk = 5\nshrink = 0.0\n")
    args = ["--split", str(small_loo_split), "--models", "mostpop,itemknn", "--out", str(out), "--config", str(config)]
    result = CliRunner().invoke(app, ["benchmark", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in summary["results"]] == ["mostpop", "itemknn"]
    assert summary["protocol"] == "loo" and summary["final"] is True
    assert summary["results"][1]["config"] == {"k": 5, "shrink": 0.0}
    split = Split.read(small_loo_split)
    for row in summary["results"]:  # each row is what the evaluator gives for that model's recommendations file
        recs = pd.read_parquet(out / f"recs-{row['model']}.parquet")
        result = evaluate(split.test, recs, seen=split.seen_frame(), n_catalogue=len(split.item_map()))
        assert row["ndcg@10"] == pytest.approx(result.means["ndcg@10"], abs=1e-6) and row["ndcg@10"] > 0
    for row in summary["results"]:  # bootstrap 95% intervals around each per-user mean
        low, high = row["ci95"]["ndcg@10"]
        assert low < row["ndcg@10"] < high
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html and "itemknn" in html
    assert "catalogue coverage" in html and html.count("<small>[") == 2 * 8  # 8 per-user metrics, 2 models
    best = max(summary["results"], key=lambda r: r["ndcg@10"])
    assert f"<td><b>{best['ndcg@10']:.4f}<br><small>" in html
    assert "| mostpop |" in (out / "results.md").read_text()


class CountingEncoder:
    """The real packaged encoder, counting how many texts it is asked to encode."""

    def __init__(self) -> None:
        self.inner = SentenceEncoder()
        self.model_id = self.inner.model_id
        self.encoded = 0

    def encode(self, texts, *, show_progress=False):
        self.encoded += len(texts)
        return self.inner.encode(texts)


def test_cache_encodes_each_text_once(tmp_path):
    encoder = CountingEncoder()
    texts = ["Heat (1995). Action, Crime", "Toy Story (1995). Animation", "Heat (1995). Action, Crime"]
    first = EmbeddingCache(encoder, tmp_path).encode(texts)
    assert encoder.encoded == 2
    again = EmbeddingCache(encoder, tmp_path).encode(texts + ["Up (2009). Animation"])
    assert encoder.encoded == 3
    np.testing.assert_allclose(again[:3], first, atol=1e-6)
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first[0], first[2])


def test_packaged_model_resolves_to_a_local_folder_and_any_path_loads(tmp_path):
    path = resolve_model("all-MiniLM-L6-v2")
    assert (tmp_path.__class__(path) / "model.safetensors").exists()
    by_path = SentenceEncoder(path).encode(["space opera"])
    by_name = SentenceEncoder().encode(["space opera"])
    np.testing.assert_allclose(by_path, by_name, atol=1e-6)
    similar = SentenceEncoder().encode(["Star Wars. Sci-Fi, space", "Star Trek. Sci-Fi, space", "Pride and Prejudice"])
    assert similar[0] @ similar[1] > similar[0] @ similar[2]


def test_a_plain_hugging_face_folder_loads_with_mean_pooling(tmp_path):
    """A bare transformer folder (no sentence-transformers files) gets mean pooling, which is how
    all-MiniLM-L6-v2 pools, so it must reproduce the packaged model's vectors."""
    packaged = Path(resolve_model("all-MiniLM-L6-v2"))
    plain = tmp_path / "plain-bert"
    plain.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(packaged / name, plain / name)
    texts = ["space opera with robots", "a quiet romance in Paris"]
    np.testing.assert_allclose(SentenceEncoder(str(plain)).encode(texts), SentenceEncoder().encode(texts), atol=1e-5)


def test_item_text_joins_non_empty_fields():
    import pandas as pd

    items = pd.DataFrame(
        {"item_id": ["1", "2"], "title": ["Heat", ""], "genres": ["Crime", "Drama"], "tags": ["", "x"]}
    )
    assert item_texts(items).tolist() == ["Heat. Crime", "Drama. x"]
