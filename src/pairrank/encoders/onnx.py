"""ONNX Runtime text encoder: a sentence-transformers model exported once to ONNX
(mean pooling and L2 normalisation inside the graph), fused for CPU, and
optionally quantised to int8, cached under `$PAIRRANK_CACHE/onnx/<hash>/`.

sentence-transformers' own ONNX backend needs optimum-onnx, which pins
transformers < 4.58 while sentence-transformers 6 needs transformers 5, so the
export here uses torch.onnx and onnxruntime's fusion and quantisation tools.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pairrank.encoders.sentence import (
    DEFAULT_BATCH,
    DEFAULT_MODEL,
    PROGRESS_BATCHES,
    SentenceEncoder,
    longest_first,
    resolve_model,
)
from pairrank.errors import ConfigError
from pairrank.progress import progress_bar

RECIPE = "onnx-v1"  # bump when the export or quantisation steps change
FP32_FILE, INT8_FILE, TOKENIZER_FILE, META_FILE = "model_fp32.onnx", "model_int8.onnx", "tokenizer.json", "meta.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_onnx_dir() -> Path:
    return Path(os.environ.get("PAIRRANK_CACHE", Path.home() / ".cache" / "pairrank")) / "onnx"


def export_model(model: str, folder: Path) -> None:
    """Write the fp32 and int8 ONNX models, tokenizer and metadata for `model` into `folder`.

    Files are built in a temporary folder beside `folder` and moved in last, so
    a crash never leaves a half-written cache; the source model is only read.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    st = SentenceTransformer(resolve_model(model), device="cpu", model_kwargs={"attn_implementation": "eager"})
    pooling = getattr(st[1], "pooling_mode", None) if len(st) > 1 else None
    if pooling != "mean":
        raise ConfigError(f"the ONNX backend needs a mean-pooled model; {model!r} uses pooling {pooling!r}")
    transformer = st[0].auto_model.eval()
    names = [n for n in INPUTS if n in st.tokenizer.model_input_names]

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            feeds = dict(zip(names, inputs))
            hidden = self.transformer(**feeds).last_hidden_state
            mask = feeds["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    sample = st.tokenizer(["an example", "a longer example sentence"], padding=True, return_tensors="pt")
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(),
                tuple(sample[n] for n in names),
                str(tmp / "raw.onnx"),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        fuse_and_quantize(tmp / "raw.onnx", tmp / FP32_FILE, tmp / INT8_FILE, transformer.config)
        st.tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER_FILE))
        meta = {
            "model": model,
            "inputs": names,
            "max_seq_length": st.max_seq_length,
            "dimension": st.get_embedding_dimension(),
            "pad_id": st.tokenizer.pad_token_id,
            "pad_token": st.tokenizer.pad_token,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        (tmp / "raw.onnx").unlink()
        folder.mkdir(exist_ok=True)
        for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE, META_FILE):  # meta last: it marks a complete export
            shutil.move(tmp / name, folder / name)


def fuse_and_quantize(raw: Path, fp32: Path, int8: Path, config, *, fuse_embeddings: bool = True) -> None:
    """onnxruntime's BERT fusion of an exported graph (`fp32`), then dynamic int8 quantisation (`int8`);
    `config` is the encoder's Hugging Face config (heads, hidden size). The fused embedding op numbers
    positions from 0: `fuse_embeddings=False` keeps a graph's own position ids."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = fuse_embeddings
    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
    )
    fused.save_model_to_file(str(fp32))
    quantize(fp32, int8)


def quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of an ONNX graph's matrix products (per channel; embeddings stay fp32)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs advice on the root logger
    try:
        quantize_dynamic(
            fp32,
            int8,
            weight_type=QuantType.QInt8,
            per_channel=True,  # per-tensor scales lose too much (mean cosine ~0.97)
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": 1},  # FLOAT, for outputs of fused ops
        )
    finally:
        root.setLevel(level)


class OnnxEncoder:
    """`encode(texts) -> float32[n, d]`, L2-normalised, via ONNX Runtime on CPU."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        quantize: bool = True,
        batch_size: int = DEFAULT_BATCH,
        cache_dir: Path | None = None,
    ):
        self.model_name = model
        self.quantize = quantize
        self.batch_size = batch_size
        source_id = f"{SentenceEncoder(model).model_id}|{RECIPE}"
        self.folder = Path(cache_dir or default_onnx_dir()) / hashlib.sha1(source_id.encode("utf-8")).hexdigest()[:16]
        self._session = None
        self._tokenizer = None
        self._meta: dict = {}

    @property
    def model_id(self) -> str:
        """The torch encoder's id plus the export recipe and precision (int8 or fp32)."""
        return f"{SentenceEncoder(self.model_name).model_id}#{RECIPE}-{'int8' if self.quantize else 'fp32'}"

    @property
    def model_path(self) -> Path:
        return self.folder / (INT8_FILE if self.quantize else FP32_FILE)

    def _load(self) -> None:
        if self._session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            if not (self.folder / META_FILE).exists():
                export_model(self.model_name, self.folder)
            self._meta = json.loads((self.folder / META_FILE).read_text())
            tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
            tokenizer.no_padding()
            tokenizer.enable_truncation(self._meta["max_seq_length"])
            options = ort.SessionOptions()
            options.intra_op_num_threads = len(os.sched_getaffinity(0))
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer

    def _run(self, texts: list[str]) -> np.ndarray:
        """Encode one chunk: tokenise, sort by length, pad per batch, restore order."""
        session = self._session
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self._meta["dimension"]), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids = np.full((len(rows), lengths[rows].max()), self._meta["pad_id"], dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for r, i in enumerate(rows):
                n = lengths[i]
                ids[r, :n], mask[r, :n], types[r, :n] = encodings[i].ids, 1, encodings[i].type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out[rows] = session.run(None, {n: feeds[n] for n in self._meta["inputs"]})[0]
        return out

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        self._load()
        texts = list(texts)
        out = np.zeros((len(texts), self._meta["dimension"]), dtype=np.float32)
        order = longest_first(texts)
        chunk = self.batch_size * PROGRESS_BATCHES
        with progress_bar(f"encoding {len(texts)} texts", total=len(texts), enabled=show_progress) as bar:
            for start in range(0, len(texts), chunk):
                rows = order[start : start + chunk]
                out[rows] = self._run([texts[i] for i in rows])
                bar.advance(len(rows))
        return out
