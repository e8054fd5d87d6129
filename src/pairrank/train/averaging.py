"""An exponential moving average of a network's weights (torch's `AveragedModel`).

High-learning-rate Adam leaves the live weights jumping from step to step;
validating and serving their running average gives a smoother, usually
better, model at no extra training cost.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """EMA of `network`'s parameters with `decay` per optimiser step (buffers are copied, not averaged)."""

    def __init__(self, network: nn.Module, decay: float):
        self.average = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay))

    def update(self, network: nn.Module) -> None:
        self.average.update_parameters(network)

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged weights, keyed like `network.state_dict()`."""
        return {k: v.detach().clone() for k, v in self.average.module.state_dict().items()}

    @contextmanager
    def swapped_into(self, network: nn.Module) -> Iterator[None]:
        """Run the block with the averaged weights loaded in `network`, then put the live ones back."""
        live = copy.deepcopy(network.state_dict())
        network.load_state_dict(self.average.module.state_dict())
        try:
            yield
        finally:
            network.load_state_dict(live)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.average.load_state_dict(state)
