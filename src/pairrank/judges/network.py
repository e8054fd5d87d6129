"""A cross-encoder network: a BERT-class encoder with a one-logit head, loaded from local files only.

The backbone is the packaged all-MiniLM-L6-v2 (or any local Hugging Face
folder) loaded as a sentence-transformers `CrossEncoder(path, num_labels=1)`:
the encoder's weights are kept and only the head is new. A trained judge is
saved as a Hugging Face folder (config.json, model.safetensors, tokenizer
files) and loads the same way, without executing code. PairRank scores
with the head over mean-pooled token states (`logits`), so the folder's own
[CLS]-pooler forward is not the judge.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from pairrank.encoders.sentence import resolve_model
from pairrank.errors import ConfigError, DataError


class CrossEncoderNet:
    """`logits(batch) -> float tensor [rows]` over tokenized (first, second) text pairs."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    @classmethod
    def from_backbone(cls, backbone: str, layers: int | None = None) -> CrossEncoderNet:
        """The backbone with a new one-logit head; `layers` keeps its first N transformer layers."""
        network = cls._load(resolve_model(backbone), num_labels=1)
        if layers is not None:
            network._truncate(layers)
        return network

    @classmethod
    def load(cls, folder: str | Path) -> CrossEncoderNet:
        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise DataError("missing judge weights (config.json)", folder)
        return cls._load(str(folder))

    @staticmethod
    def _load(path: str, num_labels: int | None = None) -> CrossEncoderNet:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        quiet = logging.getLogger("sentence_transformers")
        level, quiet.level = quiet.level, logging.ERROR  # its "converting to CrossEncoder" note on a new head
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # the new head's "newly initialised" report
        try:
            encoder = CrossEncoder(path, num_labels=num_labels, device="cpu", local_files_only=True)
        except OSError as error:
            raise ConfigError(f"cannot load a cross-encoder from {path!r}: {error}") from None
        finally:
            quiet.level = level
            transformers_logging.set_verbosity(verbosity)
        return CrossEncoderNet(encoder.model, encoder.tokenizer)

    def _truncate(self, layers: int) -> None:
        encoder = getattr(self.model.base_model, "encoder", None)
        stack = getattr(encoder, "layer", None)
        if stack is None:
            raise ConfigError(f"layers: cannot cut a {type(self.model).__name__}; leave layers unset")
        if layers > len(stack):
            raise ConfigError(f"layers = {layers}, but the backbone has only {len(stack)}")
        encoder.layer = stack[:layers]
        self.model.config.num_hidden_layers = layers

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The head over the mean of the token states (how all-MiniLM-L6-v2 was trained to pool), not over the
        [CLS] pooler: a judge learns several times faster from it."""
        hidden = self.model.base_model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return self.model.classifier((hidden * mask).sum(1) / mask.sum(1))[:, 0]

    @torch.inference_mode()
    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.model.eval()
        return self.logits(batch).float()

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)

    def export_onnx(self, path: Path) -> None:
        """Write `logits` as an int8 ONNX model (fused for CPU, dynamically quantised) to `path`."""
        from pairrank.encoders.onnx import fuse_and_quantize

        names = list(self.tokenizer.model_input_names)
        network = self

        class Scored(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = network.model

            def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
                return network.logits(dict(zip(names, inputs)))

        sample = self.tokenizer(["a history"], ["a longer candidate text"], return_tensors="pt")
        self.model.set_attn_implementation("eager")  # the attention that ONNX export and fusion understand
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp_dir, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            raw, fp32 = Path(tmp_dir) / "raw.onnx", Path(tmp_dir) / "fp32.onnx"
            torch.onnx.export(
                Scored().eval(),
                tuple(sample[n] for n in names),
                str(raw),
                input_names=names,
                output_names=["logit"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"logit": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            fuse_and_quantize(raw, fp32, path, self.model.config)
        self.model.set_attn_implementation("sdpa")


class OnnxNet:
    """A judge exported by `CrossEncoderNet.export_onnx`, run by ONNX Runtime on CPU (int8): `predict` only."""

    def __init__(self, path: Path, tokenizer):
        import onnxruntime as ort

        if not path.exists():
            raise DataError("missing ONNX judge", path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.inputs = [i.name for i in self.session.get_inputs()]

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        feeds = {name: batch[name].numpy() for name in self.inputs}
        return torch.from_numpy(self.session.run(None, feeds)[0])
