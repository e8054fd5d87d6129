"""Pair-wise ranking losses as small pure functions of score tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Bayesian Personalised Ranking: mean of -log sigmoid(s+ - s-)."""
    return -F.logsigmoid(positive - negative).mean()


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the summed squared norms (per-example L2)."""
    return sum(t.pow(2).sum(dim=-1) for t in tensors).mean()
