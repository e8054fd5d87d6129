"""The LLM pair-wise judge (pair-wise ranking prompting): "which will this user choose next, A or B?".

The prompt lists the user's latest items (titles cut to a token budget), then
the two candidates, and ends where the answer starts ("Answer:"), so P(A before
B) is read from the next token's log-probabilities of " A" and " B" at that
fixed position, nothing sampled. A model that would open its answer with other
words ("Passage A", "The answer is") cannot break it. `prefer` serves
`judges.aggregate`, which asks both orders of every pair.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pairrank.errors import ConfigError
from pairrank.judges.causal_lm import CausalLM

DEFAULT_TEMPLATE = (
    "A user interacted with these items, oldest first:\n{history}\n\n"
    "Which of these two items will the user choose next?\nA: {a}\nB: {b}\n\nAnswer with A or B."
)
TEMPLATE_FIELDS = {"history", "a", "b"}
ANSWER_PREFIX = "Answer:"
OPTIONS = (" A", " B")


@dataclass
class PromptSettings:
    template: str = DEFAULT_TEMPLATE  # fields {history}, {a}, {b}
    history_items: int = 5  # latest history items in the prompt
    title_tokens: int = 24  # tokens kept of each item's title

    def __post_init__(self) -> None:
        fields = {name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None}
        if fields != TEMPLATE_FIELDS:
            raise ConfigError(
                f"the prompt template must use exactly the fields {{history}}, {{a}} and {{b}}, not {sorted(fields)}"
            )


class LLMJudge:
    """P(a before b) for a user's history, from a causal LM's answer to a two-item question."""

    def __init__(
        self, lm: CausalLM, item_titles: Sequence[str], settings: PromptSettings | None = None, batch_size: int = 8
    ):
        self.lm, self.settings, self.batch_size = lm, settings or PromptSettings(), batch_size
        self.titles = self._truncated(item_titles)
        self.option_ids = lm.option_tokens(lm.chat_prompt("", ANSWER_PREFIX), OPTIONS)

    def _truncated(self, titles: Sequence[str]) -> list[str]:
        ids = self.lm.tokenizer(list(titles), add_special_tokens=False)["input_ids"]
        budget = self.settings.title_tokens
        return [
            title if len(tokens) <= budget else self.lm.tokenizer.decode(tokens[:budget]).strip() + "..."
            for title, tokens in zip(titles, ids)
        ]

    def history_text(self, history: Sequence[int]) -> str:
        """The prompt's history block: the latest `history_items` items, oldest first, one per line."""
        latest = list(history)[-self.settings.history_items :]
        return "\n".join(f"- {self.titles[item]}" for item in latest)

    def prompt(self, history: str, a: int, b: int) -> str:
        question = self.settings.template.format(history=history, a=self.titles[a], b=self.titles[b])
        return self.lm.chat_prompt(question, ANSWER_PREFIX)

    def prefer(self, history: str, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        """P(a before b) for each ordered pair, from this history block (`history_text`)."""
        prompts = [self.prompt(history, a, b) for a, b in pairs]
        return np.exp(self.lm.choice_logprobs(prompts, self.option_ids, self.batch_size)[:, 0])
