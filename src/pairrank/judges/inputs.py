"""Text inputs of a cross-encoder: "history [SEP] candidate" (mono) and "history [SEP] A [SEP] B" (duo).

Each item's text is cut once to a token budget, so the history (the latest
items, newest first) and the candidates keep their share of the sequence
whatever the texts' lengths. The tokenizer adds its own special tokens, so
any Hugging Face encoder's format is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

HISTORY_JOIN = "; "


class JudgeInputs:
    """Builds padded input batches from item indices, given each item's text."""

    def __init__(self, tokenizer, item_text: Sequence[str], *, item_tokens: int, history_items: int):
        self.tokenizer = tokenizer
        self.history_items = history_items
        ids = tokenizer(list(item_text), add_special_tokens=False, truncation=True, max_length=item_tokens)["input_ids"]
        self.texts: list[str] = tokenizer.batch_decode(ids)
        self.pair_join = f" {tokenizer.sep_token} " if tokenizer.sep_token else " | "
        self.max_length = (history_items + 2) * (item_tokens + 2) + 4

    def history(self, items: Sequence[int]) -> str:
        """A history (item indices, oldest first; -1 padding ignored) as text: latest items, newest first."""
        latest = [int(i) for i in items if i >= 0][-self.history_items :][::-1]
        return HISTORY_JOIN.join(self.texts[i] for i in latest)

    def mono(self, histories: Sequence[str], candidates: Sequence[int]) -> dict[str, torch.Tensor]:
        """One row per (history, candidate): the history, then the candidate's text."""
        return self._batch(list(histories), [self.texts[c] for c in candidates])

    def duo(self, histories: Sequence[str], pairs: Sequence[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """One row per (history, (a, b)): the history, then a's text and b's text."""
        return self._batch(list(histories), [self.texts[a] + self.pair_join + self.texts[b] for a, b in pairs])

    def _batch(self, first: list[str], second: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            first, second, padding=True, truncation="only_first", max_length=self.max_length, return_tensors="pt"
        )
