"""Pair-wise LoRA fine-tuning of the LLM judge, and its adapters as safetensors.

A model this small, zero-shot, mostly votes for a position. Fine-tuning adds
LoRA adapters (`peft`) to every projection and trains them on
(history, positive next item, hard negative) pairs asked in both orders: the
answer must be " A" when the positive is A and " B" when it is B (a logistic,
RankNet-style loss over the two answer logits), so position bias is trained
away as well. The list-wise mode trains on lettered lists instead: each
positive among its hard negatives in a random order, whose letter's logit must
beat theirs. Only the adapters are saved: `adapter_model.safetensors` and
`adapter_config.json`, which load without running code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.functional import cross_entropy, softplus

from pairrank.errors import ConfigError, DataError
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.llm_config import LORA_MODULES
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.training import Pairs, TrainingOptions, fit_pairs

ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class LoraOptions:
    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = LORA_MODULES
    seed: int = 42  # the adapters' random initialisation: the same seed, the same fine-tuning
    last_blocks: int | None = None  # adapters in the last N transformer blocks only; None: every block


def add_adapters(lm: CausalLM, options: LoraOptions) -> None:
    """Wrap the model with fresh LoRA adapters, initialised from `options.seed`; only they train."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(options.seed)
    blocks = None
    if options.last_blocks is not None:
        total = lm.model.config.num_hidden_layers
        if options.last_blocks > total:
            raise ConfigError(f"lora_blocks = {options.last_blocks}, but the model has {total} transformer blocks")
        blocks = list(range(total - options.last_blocks, total))
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        target_modules=list(options.target_modules),
        lora_dropout=0.0,
        layers_to_transform=blocks,
    )
    try:
        lm.model = get_peft_model(lm.model, config)
    except ValueError as error:  # peft names the modules it could not find
        raise ConfigError(f"lora_modules {list(options.target_modules)}: {error}") from None


def train_llm_judge(judge: LLMJudge, pairs: Pairs, options: TrainingOptions) -> list[float]:
    """Fine-tune the judge's adapters on both orders of every pair; returns the mean loss of each epoch."""

    def loss(rows: np.ndarray) -> torch.Tensor:
        histories, positives, negatives = (
            [pairs.histories[r] for r in rows],
            pairs.positives[rows],
            pairs.negatives[rows],
        )
        prompts = [judge.prompt(h, p, n) for h, p, n in zip(histories, positives, negatives)]
        prompts += [judge.prompt(h, n, p) for h, p, n in zip(histories, positives, negatives)]
        logits = judge.lm.option_logits(prompts, judge.option_ids)
        targets = torch.cat([torch.zeros(len(rows), dtype=torch.long), torch.ones(len(rows), dtype=torch.long)])
        return cross_entropy(logits, targets.to(logits.device))

    return fit_pairs(judge.lm.model, loss, len(pairs), options, "llm")


def train_listwise_judge(judge: LLMJudge, lists: Pairs, options: TrainingOptions) -> list[float]:
    """Fine-tune the judge's adapters list-wise: each row's positive and its negatives (`lists.negatives` [n, k],
    -1 padded) are listed in a seeded random order, and every negative's letter logit must fall below the
    positive's (a pair-wise logistic loss over the letters' logits); returns the mean loss of each epoch."""
    rng = np.random.default_rng(options.seed)

    def loss(rows: np.ndarray) -> torch.Tensor:
        prompts, positive_slots, negative_slots = [], [], []
        for row in rows:
            negatives = lists.negatives[row][lists.negatives[row] >= 0]
            items = np.concatenate([[lists.positives[row]], negatives])
            order = rng.permutation(len(items))
            prompts.append(judge.list_prompt(lists.histories[row], items[order]))
            slot_of = np.argsort(order)  # where each of `items` landed in the list
            positive_slots.append(slot_of[0])
            negative_slots.append(slot_of[1:])
        logits = judge.lm.option_logits(prompts, judge.letter_ids)
        terms = [
            softplus(logits[i, torch.as_tensor(negative, device=logits.device)] - logits[i, positive])
            for i, (positive, negative) in enumerate(zip(positive_slots, negative_slots))
        ]
        return torch.cat(terms).mean()

    return fit_pairs(judge.lm.model, loss, len(lists), options, "llm list-wise")


def save_adapters(lm: CausalLM, folder: Path) -> None:
    lm.model.save_pretrained(folder, safe_serialization=True)


def load_adapters(lm: CausalLM, folder: Path) -> None:
    """Put saved adapters on a freshly loaded base model."""
    from peft import PeftModel

    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise DataError("no LoRA adapters (adapter_model.safetensors) in the judge folder", folder)
    lm.model = PeftModel.from_pretrained(lm.model, folder).eval()
