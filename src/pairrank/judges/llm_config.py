"""The LLM judge's options: which model, the prompt, fine-tuning, and how its verdicts rank a list."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from pairrank.errors import ConfigError
from pairrank.judges.backend import LLMPrecision
from pairrank.judges.config import check_pair_drawing
from pairrank.judges.gathering import BATCH_USERS
from pairrank.judges.llm_prompts import DEFAULT_LIST_TEMPLATE, DEFAULT_TEMPLATE, LETTERS, PromptSettings
from pairrank.judges.server_judge import server_options
from pairrank.models.config import Trial, config_from_dict, model_options
from pairrank.models.registry import model_class

# Every projection of a Llama-style block: with adapters on q and v alone, SmolLM2-135M's pair-wise loss stayed at
# ln 2 (a coin); on all seven it moves, if slightly (see README, "The LLM pair-wise judge").
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@model_options
class LLMJudgeConfig:
    model: str | None = None  # a local Hugging Face causal-LM folder or GGUF file; None: SmolLM2-135M-Instruct
    finetune: bool = True  # LoRA fine-tuning on (history, positive, hard negative) pairs; False: zero-shot
    server: dict[str, Any] | None = None  # an OpenAI-compatible endpoint (judges.server_judge.ServerOptions)
    mode: Literal["pairwise", "listwise"] = "pairwise"  # listwise: one prompt lists the top M (at most 20)
    aggregation: Literal["allpairs", "sliding", "heap"] = "sliding"  # pair-wise verdicts to ranking
    settle: PositiveInt = 1  # sliding: bubble passes; heap: items popped (the top positions each settles)
    top: PositiveInt = 20  # the judge re-ranks the retriever's top M
    batch_users: PositiveInt = BATCH_USERS  # pair-wise: users whose comparisons run as one batch (1: one at a time)
    valid_users: PositiveInt = 50  # validation users (seeded) that choose the blend with the retriever's order
    retriever: str = "ease"  # proposes the candidates to re-rank and the hard negatives to train on
    retriever_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    template: str = DEFAULT_TEMPLATE  # the pair-wise question, with the fields {history}, {a} and {b}
    list_template: str = DEFAULT_LIST_TEMPLATE  # the list-wise question, with {history} and {candidates}
    history_items: PositiveInt = 5  # latest history items in the prompt
    title_tokens: PositiveInt = 24  # tokens kept of each item's title
    attribute_tokens: NonNegativeInt = 0  # tokens kept of each item's genres/tags/categories after its title (0: none)
    # each candidate also names the attributes it has in common with the prompt's history items, the most shared first
    # with how many of those items have each ("[in common: comedy 3, crime 1]")
    shared_attributes: bool = False
    positions: PositiveInt = 2  # training cuts per user, from the end of the train sequence
    negatives: PositiveInt = 2  # pair-wise: hard negatives per positive from the retriever's top M (list-wise: M - 1)
    # "listed": only positives in the retriever's top M themselves (the lists the judge re-ranks); "all": every one
    positives: Literal["all", "listed"] = "all"
    # "unseen": hard negatives (and listed positives) from a copy of the retriever fit without each user's last
    # `positions` train items, as at serving time; "train": from the retriever fit on all of train; "popularity":
    # items next to the positive in train popularity order, not from a retriever (positives "all" only)
    negatives_from: Literal["train", "unseen", "popularity"] = "train"
    max_pairs: PositiveInt = 640  # training pairs at most (seeded sample); each is asked in both orders
    epochs: PositiveInt = 1
    learning_rate: PositiveFloat = 1e-3
    batch_size: PositiveInt = 8  # pairs per step
    lora_rank: PositiveInt = 8
    lora_alpha: PositiveInt = 16
    lora_modules: list[str] = dataclasses.field(default_factory=lambda: list(LORA_MODULES))  # layers with adapters
    # adapters in the last N transformer blocks only (backward stops below them: with 8 of SmolLM2-135M's 30, a
    # step is 2.2x faster on 2 cores, benchmarks/results/lora_speed.md); None: every block
    lora_blocks: PositiveInt | None = None
    # the dtype it scores in (fine-tuning runs in float32): "auto" is bfloat16 on a CPU with bfloat16 matrix
    # instructions (AVX-512 BF16, AMX; 1.85x faster on AMD EPYC Zen 4), float32 elsewhere, decided again wherever
    # the judge loads
    precision: LLMPrecision = "auto"
    seed: int = 42

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 5e-5, 1e-3, log=True),
            "history_items": trial.suggest_int("history_items", 3, 10),
        }

    def prompt(self) -> PromptSettings:
        """The prompt options, which share their names with PromptSettings' fields."""
        return PromptSettings(**{field.name: getattr(self, field.name) for field in dataclasses.fields(PromptSettings)})

    def __post_init__(self) -> None:
        if self.retriever in ("mono", "duo", "llm-judge", "pipeline"):
            raise ConfigError(f"the LLM judge's retriever must be a single model, not {self.retriever!r}")
        self.prompt()  # a template with other fields fails here
        if not self.lora_modules:
            raise ConfigError('lora_modules is empty: LoRA needs at least one layer name (for example "q_proj")')
        if self.server is not None:
            server_options(self.server)
            if self.finetune or self.mode != "pairwise":
                raise ConfigError(
                    'a judge behind a server is zero-shot and pair-wise: set finetune = false and mode = "pairwise"'
                )
        if self.mode == "listwise" and self.top > len(LETTERS):
            raise ConfigError(f"the list-wise judge reads at most {len(LETTERS)} candidates: top = {self.top}")
        check_pair_drawing(self.retriever, self.positives, self.negatives_from)
        owner = f"llm-judge/{self.retriever}"
        config_from_dict(model_class(self.retriever).Config, self.retriever_options, owner=owner)
