"""The weight average the training loop validates and serves (ema_decay > 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from pairrank.errors import ConfigError
from pairrank.train.averaging import WeightAverage
from pairrank.train.loop import Schedule, Trainer, TrainingTask


def expected_average(trajectory: list[torch.Tensor], decay: float) -> torch.Tensor:
    average = trajectory[0].clone()
    for weights in trajectory[1:]:
        average = decay * average + (1 - decay) * weights
    return average


def test_average_follows_the_ema_formula_and_swapping_restores_live_weights():
    network = nn.Linear(3, 2)
    average = WeightAverage(network, decay=0.75)
    trajectory = []
    for step in range(4):
        with torch.no_grad():
            network.weight.add_(float(step + 1))
        trajectory.append(network.weight.detach().clone())
        average.update(network)
    live = network.weight.detach().clone()
    torch.testing.assert_close(average.weights()["weight"], expected_average(trajectory, 0.75))
    with average.swapped_into(network):
        torch.testing.assert_close(network.weight.detach(), expected_average(trajectory, 0.75))
    torch.testing.assert_close(network.weight.detach(), live)


class LinearRegression(TrainingTask):
    """y = x @ w on fixed data; validation records the weights it was shown."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.x = torch.from_numpy(rng.normal(size=(64, 4)).astype(np.float32))
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        torch.manual_seed(0)
        self.network = nn.Linear(4, 1, bias=False)
        self.seen: list[torch.Tensor] = []

    @property
    def n_examples(self) -> int:
        return len(self.x)

    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        device = self.network.weight.device  # the loop moves the network to a GPU when there is one
        return ((module(self.x[batch].to(device)).squeeze(-1) - self.y[batch].to(device)) ** 2).mean()

    def validate(self) -> float:
        self.seen.append(self.network.weight.detach().cpu().clone())
        return -float(len(self.seen))  # falling: the first epoch stays the best


def run(task: LinearRegression, validate: bool, decay: float) -> list[torch.Tensor]:
    """Fit `task`; returns the live weights after every optimiser step."""
    steps: list[torch.Tensor] = []
    handle = register_optimizer_step_post_hook(lambda *_: steps.append(task.network.weight.detach().cpu().clone()))
    try:
        Trainer().fit(task, Schedule(0.05, 0.0, 3, 10, 16, seed=1, ema_decay=decay), validate=validate, description="t")
    finally:
        handle.remove()
    return steps


def test_loop_validates_and_keeps_the_average_not_the_live_weights():
    task = LinearRegression()
    steps = run(task, validate=True, decay=0.8)
    per_epoch = len(steps) // 3
    assert per_epoch == 4
    for epoch, seen in enumerate(task.seen, start=1):
        torch.testing.assert_close(seen, expected_average(steps[: epoch * per_epoch], 0.8))
    torch.testing.assert_close(task.network.weight.detach().cpu(), task.seen[0])  # the best (first) epoch's average

    served = LinearRegression()
    steps = run(served, validate=False, decay=0.8)
    served_weights = served.network.weight.detach().cpu()
    torch.testing.assert_close(served_weights, expected_average(steps, 0.8))
    assert not torch.allclose(served_weights, steps[-1])


class Interrupted(Exception):
    pass


class CrashingRegression(LinearRegression):
    """Raises on the first step of epoch `crash_epoch`, as a killed run would stop."""

    def __init__(self, crash_epoch: int) -> None:
        super().__init__()
        self.crash_epoch, self.epoch = crash_epoch, 0

    def start_epoch(self, epoch: int, rng: np.random.Generator) -> None:
        self.epoch = epoch

    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if self.epoch == self.crash_epoch:
            raise Interrupted
        return super().loss(module, batch, rng)


def test_a_resumed_run_continues_the_average_from_its_checkpoint(tmp_path):
    schedule = Schedule(0.05, 0.0, 4, 10, 16, seed=1, ema_decay=0.9)
    whole = LinearRegression()
    Trainer(checkpoints=tmp_path / "whole").fit(whole, schedule, validate=False, description="t")

    crashed = CrashingRegression(crash_epoch=3)
    with pytest.raises(Interrupted):
        Trainer(checkpoints=tmp_path / "crashed").fit(crashed, schedule, validate=False, description="t")
    resumed = LinearRegression()
    Trainer(checkpoints=tmp_path / "crashed", resume=True).fit(resumed, schedule, validate=False, description="t")
    torch.testing.assert_close(resumed.network.weight.detach(), whole.network.weight.detach(), rtol=0, atol=1e-7)


def test_resuming_with_an_average_from_a_checkpoint_without_one_is_a_config_error(tmp_path):
    schedule = Schedule(0.05, 0.0, 1, 10, 16, seed=1)
    Trainer(checkpoints=tmp_path).fit(LinearRegression(), schedule, validate=False, description="t")
    with pytest.raises(ConfigError, match="no weight average"):
        Trainer(checkpoints=tmp_path, resume=True).fit(
            LinearRegression(), Schedule(0.05, 0.0, 2, 10, 16, seed=1, ema_decay=0.9), validate=False, description="t"
        )
