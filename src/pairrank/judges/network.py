"""A cross-encoder network: a BERT-class encoder with a one-logit head, loaded from local files only.

The backbone is the packaged all-MiniLM-L6-v2 (or any local BERT-style
Hugging Face folder) loaded as a sentence-transformers `CrossEncoder(path,
num_labels=1)`: the encoder's weights are kept and only the head is new. A
trained judge is saved as a Hugging Face folder (config.json,
model.safetensors, tokenizer files) and loads the same way, without
executing code; it runs on the GPU when there is one, else the CPU.
PairRank runs the encoder's layers itself (`logits`): the
history segment attends only to itself, so it is encoded once per history
however many candidates share it, and each candidate segment attends to its
history and itself; the head reads the mean of the candidate's token states.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from pairrank.encoders.sentence import resolve_model
from pairrank.errors import ConfigError, DataError
from pairrank.judges.inputs import BATCH_KEYS, JudgeInputs
from pairrank.train.distributed import World, training_device

ONNX_FILE = "judge_int8.onnx"
JUDGE_RECIPE = "judge-onnx-v1"  # bump when the judge's ONNX export or quantisation changes


class CrossEncoderNet:
    """`logits(batch) -> float tensor [rows]` over `JudgeInputs` batches (history and candidate segments)."""

    def __init__(self, model, tokenizer):
        layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
        if not hasattr(model.base_model, "embeddings") or layers is None or not hasattr(layers[0], "attention"):
            raise ConfigError(f"a judge needs a BERT-style encoder (embeddings, encoder.layer); got {type(model)}")
        self.model, self.tokenizer = model, tokenizer
        self.heads = model.config.num_attention_heads

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
            device = str(training_device(World()))
            encoder = CrossEncoder(path, num_labels=num_labels, device=device, local_files_only=True)
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

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One logit per candidate row of a `JudgeInputs` batch (on the network's device): the head over its mean
        candidate token state."""
        batch = {name: tensor.to(self.device) for name, tensor in batch.items()}
        _, candidate = self.encode(batch)
        mask = batch["candidate_mask"].unsqueeze(-1).to(candidate.dtype)
        return self.model.classifier((candidate * mask).sum(1) / mask.sum(1))[:, 0]

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The last layer's token states of the history rows and of the candidate rows: each history row runs
        through the layers once; each candidate row attends to its owner's history and to itself."""
        bert = self.model.base_model
        history_ids, owner = batch["history_ids"], batch["owner"]
        history_positions = torch.arange(history_ids.shape[1], device=history_ids.device).expand_as(history_ids)
        history = bert.embeddings(
            input_ids=history_ids, token_type_ids=torch.zeros_like(history_ids), position_ids=history_positions
        )
        candidate_ids = batch["candidate_ids"]
        candidate = bert.embeddings(
            input_ids=candidate_ids,
            token_type_ids=torch.ones_like(candidate_ids),
            position_ids=batch["candidate_positions"],
        )
        history_keep = batch["history_mask"].bool()
        candidate_keep = batch["candidate_mask"].bool()
        both_keep = torch.cat([history_keep[owner], candidate_keep], dim=1)[:, None, None, :]
        for layer in bert.encoder.layer:
            projections = (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value)
            q, k, v = (self._split(project(history)) for project in projections)
            history_context = F.scaled_dot_product_attention(q, k, v, attn_mask=history_keep[:, None, None, :])
            cq, ck, cv = (self._split(project(candidate)) for project in projections)
            keys, values = torch.cat([k[owner], ck], dim=2), torch.cat([v[owner], cv], dim=2)
            candidate_context = F.scaled_dot_product_attention(cq, keys, values, attn_mask=both_keep)
            history = self._finish(layer, history, history_context)
            candidate = self._finish(layer, candidate, candidate_context)
        return history, candidate

    def _split(self, states: torch.Tensor) -> torch.Tensor:
        """[b, t, d] -> [b, heads, t, d / heads]."""
        b, t, d = states.shape
        return states.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    @staticmethod
    def _finish(layer, states: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The rest of a BERT layer after attention: output projection, residual + norm, feed-forward."""
        b, _, t, _ = context.shape
        attended = layer.attention.output(context.transpose(1, 2).reshape(b, t, -1), states)
        return layer.output(layer.intermediate(attended), attended)

    @torch.inference_mode()
    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.model.eval()
        return self.logits(batch).float().cpu()

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)

    def export_onnx(self, path: Path) -> None:
        """Write `logits` as an int8 ONNX model (fused for CPU, dynamically quantised) to `path`. The attention
        is PairRank's own, so only the layer norms and activations fuse; so do the embeddings not, as the
        candidate segment's positions continue after its history. The export traces on the CPU."""
        device = self.device
        self.model.to("cpu")
        try:
            self._export_onnx(path)
        finally:
            self.model.to(device)

    def _export_onnx(self, path: Path) -> None:
        from pairrank.encoders.onnx import fuse_and_quantize

        network = self

        class Scored(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = network.model

            def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
                return network.logits(dict(zip(BATCH_KEYS, inputs)))

        sample_inputs = JudgeInputs(self.tokenizer, ["a candidate", "another"], item_tokens=8, history_items=2)
        sample = sample_inputs.mono(["a history", "a history"], [0, 1])
        axes = {"history_ids": ["histories", "history_tokens"], "history_mask": ["histories", "history_tokens"]}
        axes |= {n: ["rows", "candidate_tokens"] for n in ("candidate_ids", "candidate_mask", "candidate_positions")}
        axes |= {"owner": ["rows"], "logit": ["rows"]}
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp_dir, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            raw, fp32 = Path(tmp_dir) / "raw.onnx", Path(tmp_dir) / "fp32.onnx"
            torch.onnx.export(
                Scored().eval(),
                tuple(sample[n] for n in BATCH_KEYS),
                str(raw),
                input_names=list(BATCH_KEYS),
                output_names=["logit"],
                dynamic_axes={name: dict(enumerate(names)) for name, names in axes.items()},
                opset_version=17,
                dynamo=False,
            )
            fuse_and_quantize(raw, fp32, path, self.model.config, fuse_embeddings=False)


def onnx_export(network: CrossEncoderNet, folder: Path) -> Path:
    """The int8 ONNX export of the judge saved in `folder` (`network`, loaded from it): made on first use and
    kept under $PAIRRANK_CACHE/onnx/ by a hash of the weights and the recipe, so training pays nothing for a
    runtime it may never use."""
    from pairrank.encoders.onnx import default_onnx_dir

    digest = hashlib.sha1(JUDGE_RECIPE.encode("utf-8"))
    for weights in sorted(folder.glob("*.safetensors")) + [folder / "config.json"]:
        digest.update(weights.read_bytes())
    path = default_onnx_dir() / f"judge-{digest.hexdigest()[:16]}" / ONNX_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
        network.export_onnx(partial)
        os.replace(partial, path)  # atomic: a crash or a second process never sees half a file
    return path


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
