"""Scoring the next token after many prompts whose beginnings repeat, with each beginning run once.

A judge's questions about one user share that user's history block at their
start. `PrefixStore` keeps the key/value cache of such a shared start (a
prefix) under a key the caller names (the history, say), so later questions
with the same start run only from where they differ. Prompts of several
groups (several users) run together: the new prefixes as one left-padded
batch, then the remainders as batches over their own prefixes, each prefix
left-padded to the batch's longest and the padding masked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

MIN_SHARED_TOKENS = 8  # prompts sharing fewer leading tokens run whole
SLACK_TOKENS = 8  # a kept prefix serves a group whose shared start runs at most this many tokens past it
KEPT = 32  # prefixes kept at least (the least recently used go first)


@dataclass
class Prefix:
    """A prefix's token ids and each layer's keys and values for them ([1, heads, tokens, dim])."""

    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]

    def cut(self, length: int) -> Prefix:
        return Prefix(self.ids[:length], [(k[:, :, :length], v[:, :, :length]) for k, v in self.layers])


class PrefixStore:
    """Kept prefixes of a causal LM, by key; `clear` when the weights change."""

    def __init__(self) -> None:
        self.kept: OrderedDict[Hashable, Prefix] = OrderedDict()

    def clear(self) -> None:
        self.kept.clear()

    def option_logits(
        self,
        model: torch.nn.Module,
        pad_id: int,
        groups: Sequence[list[list[int]]],
        keys: Sequence[Hashable],
        option_ids: Sequence[int],
        batch_size: int,
    ) -> list[torch.Tensor]:
        """[len(group), len(option_ids)] next-token logits after each prompt (token ids) of each group: a group's
        shared start (at least MIN_SHARED_TOKENS, leaving each prompt a token of its own) runs once, or not at
        all when the prefix kept under its key still serves; the rest runs `batch_size` prompts at a time."""
        device = next(model.parameters()).device
        starts = [common_prefix(ids) for ids in groups]
        prefixes: list[Prefix | None] = [None] * len(groups)
        missing = []
        for index, (ids, key, shared) in enumerate(zip(groups, keys, starts)):
            if shared < MIN_SHARED_TOKENS:
                starts[index] = 0
                continue
            kept = self.kept.get(key)
            agreed = agreement(kept.ids, ids[0][:shared]) if kept is not None else 0
            if agreed >= MIN_SHARED_TOKENS and shared - agreed <= SLACK_TOKENS:
                prefixes[index], starts[index] = kept.cut(agreed), agreed
                self.kept.move_to_end(key)
            else:
                missing.append(index)
        for first in range(0, len(missing), batch_size):
            chosen = missing[first : first + batch_size]
            computed = run_prefixes(model, pad_id, [groups[i][0][: starts[i]] for i in chosen], device)
            for index, prefix in zip(chosen, computed):
                prefixes[index] = self.kept[keys[index]] = prefix
                self.kept.move_to_end(keys[index])
        while len(self.kept) > max(KEPT, len(groups)):
            self.kept.popitem(last=False)
        rows = [(group, ids[starts[group] :]) for group, prompts in enumerate(groups) for ids in prompts]
        logits = []
        for first in range(0, len(rows), batch_size):
            chunk = rows[first : first + batch_size]
            chunk_prefixes = [prefixes[group] for group, _ in chunk]
            logits.append(run_rests(model, pad_id, chunk_prefixes, [rest for _, rest in chunk], option_ids, device))
        out = torch.cat(logits) if logits else torch.zeros(0, len(option_ids))
        sizes = [len(prompts) for prompts in groups]
        return list(torch.split(out, sizes))


def run_prefixes(model: torch.nn.Module, pad_id: int, prefixes: list[list[int]], device: torch.device) -> list[Prefix]:
    """Each prefix's keys and values, the prefixes run as one left-padded batch."""
    tokens, real = left_padded(prefixes, pad_id)
    positions = (real.cumsum(dim=1) - 1).clamp(min=0)
    cache = model(
        input_ids=tokens.to(device), attention_mask=real.to(device), position_ids=positions.to(device), use_cache=True
    ).cache
    return [  # copies, so that a kept prefix does not hold its whole batch's tensors
        Prefix(ids, [(_row(layer.keys, row, len(ids)), _row(layer.values, row, len(ids))) for layer in cache.layers])
        for row, ids in enumerate(prefixes)
    ]


def _row(tensor: torch.Tensor, row: int, length: int) -> torch.Tensor:
    """One row's last `length` positions of a left-padded batch's keys or values."""
    return tensor[row : row + 1, :, tensor.shape[2] - length :].clone()


def run_rests(
    model: torch.nn.Module,
    pad_id: int,
    prefixes: list[Prefix | None],
    rests: list[list[int]],
    option_ids: Sequence[int],
    device: torch.device,
) -> torch.Tensor:
    """The options' logits after each row's prefix (None: none) and rest: the prefixes' keys and values
    left-padded to the longest, the rests left-padded after them (the padding between the two masked), and the
    language-model head run at the last position only."""
    from transformers import DynamicCache

    tokens, real = left_padded(rests, pad_id)
    lengths = torch.tensor([len(p.ids) if p is not None else 0 for p in prefixes])
    width = int(lengths.max())
    padding = tokens.shape[1] - real.sum(dim=1)
    positions = (lengths[:, None] + torch.arange(tokens.shape[1])[None, :] - padding[:, None]).clamp(min=0)
    options: dict = {}
    if width:
        seen = (torch.arange(width)[None, :] >= (width - lengths)[:, None]).long()
        real = torch.cat([seen, real], dim=1)
        distinct = list({id(p): p for p in prefixes}.values())  # one per group (None: rows without a prefix)
        position = {id(p): index for index, p in enumerate(distinct)}
        rows = torch.tensor([position[id(p)] for p in prefixes], device=device)
        like = next(p for p in distinct if p is not None)
        layers = [
            tuple(torch.cat([_padded(p, like, layer, part, width) for p in distinct])[rows] for part in (0, 1))
            for layer in range(len(like.layers))
        ]
        options["cache"] = DynamicCache(ddp_cache_data=layers, config=model.config)
    logits = model(
        input_ids=tokens.to(device),
        attention_mask=real.to(device),
        position_ids=positions.to(device),
        logits_to_keep=1,
        **options,
    ).logits
    return logits[:, -1, list(option_ids)].float()


def _padded(prefix: Prefix | None, like: Prefix, layer: int, part: int, width: int) -> torch.Tensor:
    """A prefix's keys (part 0) or values (1) in one layer, zero-padded on the left to `width` tokens (all
    padding for a row without a prefix; `like` gives the shape)."""
    tensor = (prefix or like.cut(0)).layers[layer][part]
    return torch.nn.functional.pad(tensor, (0, 0, width - tensor.shape[2], 0))


def left_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows left-padded to the longest, and the mask of real tokens."""
    width = max(len(row) for row in rows)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
    real = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        if row:
            tokens[index, width - len(row) :] = torch.tensor(row)
            real[index, width - len(row) :] = 1
    return tokens, real


def agreement(first: list[int], second: list[int]) -> int:
    """How many leading tokens two sequences share."""
    count = 0
    for a, b in zip(first, second):
        if a != b:
            break
        count += 1
    return count


def common_prefix(ids: list[list[int]]) -> int:
    """The number of leading tokens all rows share, leaving each row at least one token of its own."""
    if not ids:
        return 0
    return min(min(agreement(ids[0], row) for row in ids), min(len(row) for row in ids) - 1)
