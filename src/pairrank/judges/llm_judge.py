"""The LLM pair-wise judge (pair-wise ranking prompting): "which will this user choose next, A or B?".

The prompt lists the user's latest items (titles cut to a token budget, attributes optional), then
the two candidates, and ends where the answer starts ("Answer:"), so P(A before
B) is read from the next token's log-probabilities of " A" and " B" at that
fixed position, nothing sampled. A model that would open its answer with other
words ("Passage A", "The answer is") cannot break it. `prefer` serves
`judges.aggregate`, which asks both orders of every pair. The list-wise mode
(`list_scores`) asks once for up to 20 lettered candidates and scores each by
its letter's log-probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.llm_prompts import ANSWER_PREFIX, LETTERS, OPTIONS, Prompts, PromptSettings

GATHERED_BATCH = 64  # prompts per forward pass when several users' questions run together


class LLMJudge:
    """P(a before b) for a user's history, from a causal LM's answer to a two-item question."""

    def __init__(
        self,
        lm: CausalLM,
        item_titles: Sequence[str],
        settings: PromptSettings | None = None,
        batch_size: int = 8,
        item_attributes: Sequence[str] | None = None,
    ):
        self.lm, self.settings, self.batch_size = lm, settings or PromptSettings(), batch_size
        self.prompts = Prompts.of_items(item_titles, item_attributes, lm.tokenizer, self.settings)
        self.option_ids = lm.option_tokens(lm.chat_prompt("", ANSWER_PREFIX), OPTIONS)
        self.letter_ids = lm.option_tokens(lm.chat_prompt("", ANSWER_PREFIX), LETTERS)

    @property
    def titles(self) -> list[str]:
        return self.prompts.titles

    def history_text(self, history: Sequence[int]) -> str:
        return self.prompts.history_text(history)

    def prompt(self, history: str, a: int, b: int) -> str:
        return self.lm.chat_prompt(self.prompts.pair_question(history, a, b), ANSWER_PREFIX)

    def prefer(self, history: str, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        """P(a before b) for each ordered pair, from this history block (`history_text`)."""
        return self.prefer_many([(history, pairs)])[0]

    def prefer_many(self, requests: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[np.ndarray]:
        """`prefer` for several (history, pairs) requests at once (several users'), their prompts run together,
        each history's beginning kept under that history."""
        groups = [[self.prompt(history, a, b) for a, b in pairs] for history, pairs in requests]
        keys = [history for history, _ in requests]
        rows = max(self.batch_size, GATHERED_BATCH) if len(requests) > 1 else self.batch_size
        logprobs = self.lm.grouped_choice_logprobs(groups, self.option_ids, rows, keys)
        return [np.exp(answers[:, 0]) for answers in logprobs]

    def list_prompt(self, history: str, items: Sequence[int]) -> str:
        return self.lm.chat_prompt(self.prompts.list_question(history, items), ANSWER_PREFIX)

    def list_scores(self, history: str, items: Sequence[int]) -> np.ndarray:
        """Each item's score in one forward pass: the next-token log-probability of its letter (LlamaRec's
        verbaliser), renormalised over the listed letters."""
        if not len(items):
            return np.zeros(0, dtype=np.float32)
        prompt = self.list_prompt(history, items)
        return self.lm.choice_logprobs([prompt], self.letter_ids[: len(items)], key=history)[0]
