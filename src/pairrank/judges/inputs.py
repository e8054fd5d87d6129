"""Inputs of a cross-encoder judge: a history segment and a candidate segment, encoded as a prefix.

The history segment is "[CLS] latest item texts, newest first [SEP]"; the
candidate segment is "candidate [SEP]" (mono) or "A [SEP] B [SEP]" (duo).
History tokens attend only to the history, so one user's history is encoded
once for all of their candidates (`CrossEncoderNet.logits`). Each item's
text is cut once to a token budget, so the history and the candidates keep
their share of the sequence whatever the texts' lengths, and candidate
segments are built from those token ids without calling the tokenizer again.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from pairrank.errors import ConfigError

HISTORY_JOIN = "; "
BATCH_KEYS = ("history_ids", "history_mask", "candidate_ids", "candidate_mask", "candidate_positions", "owner")


class JudgeInputs:
    """Builds batches from histories (text) and item indices, given each item's text."""

    def __init__(self, tokenizer, item_text: Sequence[str], *, item_tokens: int, history_items: int):
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
            raise ConfigError("a judge's tokenizer needs [CLS], [SEP] and [PAD] tokens (a BERT-style encoder)")
        self.tokenizer = tokenizer
        self.history_items = history_items
        self.item_ids: list[list[int]] = tokenizer(
            list(item_text), add_special_tokens=False, truncation=True, max_length=item_tokens
        )["input_ids"]
        self.texts: list[str] = tokenizer.batch_decode(self.item_ids)
        self.history_tokens = history_items * (item_tokens + 2) + 2

    def history(self, items: Sequence[int]) -> str:
        """A history (item indices, oldest first; -1 padding ignored) as text: latest items, newest first."""
        latest = [int(i) for i in items if i >= 0][-self.history_items :][::-1]
        return HISTORY_JOIN.join(self.texts[i] for i in latest)

    def mono(self, histories: Sequence[str], candidates: Sequence[int]) -> dict[str, torch.Tensor]:
        """One row per (history, candidate)."""
        sep = self.tokenizer.sep_token_id
        return self._batch(histories, [self.item_ids[c] + [sep] for c in candidates])

    def duo(self, histories: Sequence[str], pairs: Sequence[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """One row per (history, (a, b)): a's text, then b's."""
        sep = self.tokenizer.sep_token_id
        return self._batch(histories, [self.item_ids[a] + [sep] + self.item_ids[b] + [sep] for a, b in pairs])

    def _batch(self, histories: Sequence[str], segments: list[list[int]]) -> dict[str, torch.Tensor]:
        """Each distinct history tokenized once; `owner` maps each candidate row to its history row, and the
        candidate positions continue after that history's last token."""
        distinct = {history: row for row, history in enumerate(dict.fromkeys(histories))}
        owner = torch.tensor([distinct[h] for h in histories], dtype=torch.long)
        first = self.tokenizer(
            list(distinct), padding=True, truncation=True, max_length=self.history_tokens, return_tensors="pt"
        )
        pad = self.tokenizer.pad_token_id
        ids = pad_sequence([torch.tensor(s, dtype=torch.long) for s in segments], batch_first=True, padding_value=pad)
        lengths = torch.tensor([len(s) for s in segments])
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
        positions = first["attention_mask"].sum(1)[owner][:, None] + torch.arange(ids.shape[1])[None, :]
        return {
            "history_ids": first["input_ids"],
            "history_mask": first["attention_mask"],
            "candidate_ids": ids,
            "candidate_mask": mask,
            "candidate_positions": positions,
            "owner": owner,
        }
