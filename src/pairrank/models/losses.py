"""Ranking losses as small pure functions of score tensors.

Every loss takes `positive` [P] (one liked item per row), `negative` [P, K]
(K sampled items per row) and `valid` [P, K] (False where a sampled item must
not count, e.g. it is one of the user's own items) and returns a scalar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from pairrank.errors import ConfigError

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
LossName = Literal["bpr", "hinge", "ranknet", "softmax"]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)


def _mean_over_pairs(per_pair: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    weights = valid.to(per_pair.dtype)
    return (per_pair * weights).sum() / weights.sum().clamp(min=1.0)


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Bayesian Personalised Ranking: mean over pairs of -log sigmoid(s+ - s-)."""
    if negative.dim() == positive.dim():  # one negative per positive
        return -F.logsigmoid(positive - negative).mean()
    return _mean_over_pairs(-F.logsigmoid(positive.unsqueeze(-1) - negative), valid)


def ranknet_loss(
    positive: torch.Tensor, negative: torch.Tensor, valid: torch.Tensor, sigma: float = 1.0
) -> torch.Tensor:
    """RankNet cross-entropy with target P(pos > neg) = 1: log(1 + exp(-sigma (s+ - s-))).

    With binary preferences this is BPR with a sharpness `sigma`.
    """
    return _mean_over_pairs(F.softplus(-sigma * (positive.unsqueeze(-1) - negative)), valid)


def hinge_loss(
    positive: torch.Tensor, negative: torch.Tensor, valid: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Margin ranking loss: max(0, margin - (s+ - s-))."""
    return _mean_over_pairs(F.relu(margin - (positive.unsqueeze(-1) - negative)), valid)


def sampled_softmax_loss(positive: torch.Tensor, negative: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the positive against itself plus the valid sampled negatives."""
    masked = negative.masked_fill(~valid, float("-inf"))
    logits = torch.cat([positive.unsqueeze(-1), masked], dim=-1)
    return (torch.logsumexp(logits, dim=-1) - positive).mean()


def make_loss(name: str, *, sigma: float = 1.0, margin: float = 1.0) -> Loss:
    """The loss called `name`: bpr, ranknet, hinge or softmax (sampled softmax)."""
    losses: dict[str, Loss] = {
        "bpr": bpr_loss,
        "ranknet": lambda p, n, v: ranknet_loss(p, n, v, sigma),
        "hinge": lambda p, n, v: hinge_loss(p, n, v, margin),
        "softmax": sampled_softmax_loss,
    }
    if name not in losses:
        raise ConfigError(f"unknown loss {name!r}: use one of {list(LOSS_NAMES)}")
    return losses[name]


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the summed squared norms (per-example L2)."""
    return sum(t.pow(2).sum(dim=-1) for t in tensors).mean()
