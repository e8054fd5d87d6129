"""The training loop shared by the torch models.

Adam, seeded; each epoch shuffles the training examples into batches, calls
the task's loss and steps (optionally keeping an exponential moving average
of the weights, which is then what is validated and kept); after each epoch
it validates (NDCG@10 on valid), keeps the best weights, stops after
`patience` flat epochs and writes a checkpoint, so `resume=True` continues a
killed run and ends where an uninterrupted run would. Under torchrun every
rank takes its share of each batch and DistributedDataParallel averages the
gradients.
"""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pairrank.errors import ConfigError, TrainingDiverged
from pairrank.progress import console, progress_bar
from pairrank.train.averaging import WeightAverage
from pairrank.train.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from pairrank.train.distributed import World, barrier, broadcast_float, join_world, training_device
from pairrank.train.early_stopping import EarlyStopping


class TrainingTask(ABC):
    """What a model gives the loop: a network, its examples, a loss and a validation score."""

    network: nn.Module

    @property
    @abstractmethod
    def n_examples(self) -> int:
        """Number of training examples; batches are index arrays into them."""

    @abstractmethod
    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Loss of one batch. Call `module(...)` (it may be the DDP wrapper of `network`) for every forward."""

    def start_epoch(self, epoch: int, rng: np.random.Generator) -> None:
        """Hook before each epoch (e.g. mining hard negatives)."""

    @abstractmethod
    def validate(self) -> float:
        """Validation NDCG@10 of the current weights."""


@dataclass
class Schedule:
    lr: float
    weight_decay: float
    epochs: int
    patience: int
    batch_size: int
    seed: int
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights (per step)


@dataclass
class Outcome:
    best_epoch: int
    curve: list[float] = field(default_factory=list)


@dataclass
class Trainer:
    """How a torch model is trained, as opposed to what it learns: checkpoints, resume and an epoch callback.

    With `checkpoints`, a checkpoint is written there after every epoch and
    `resume` continues from the one found there (a first run with nothing to
    resume starts fresh). `on_epoch(epoch, valid_ndcg@10)` is called after
    each validated epoch; whatever it raises (a tuning trial's pruning)
    propagates.
    """

    checkpoints: Path | None = None
    resume: bool = False
    on_epoch: Callable[[int, float], None] | None = None

    def fit(self, task: TrainingTask, schedule: Schedule, *, validate: bool, description: str) -> Outcome:
        """Fit `task.network`; on return it holds the best weights (the last ones without validation).

        Runs with torch's deterministic algorithms, so a seed (and a resumed run) gives the same weights.
        """
        with deterministic_algorithms():
            return _fit(task, schedule, validate, self, description)

    def phase(self, name: str) -> Trainer:
        """The same trainer with its checkpoints in the sub-folder `name` (one per fit of a run)."""
        folder = self.checkpoints / name if self.checkpoints is not None else None
        return dataclasses.replace(self, checkpoints=folder)


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic kernels (multi-threaded CPU scatter-adds otherwise vary in the last bits), then restore."""
    before, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _fit(task: TrainingTask, schedule: Schedule, validate: bool, trainer: Trainer, description: str) -> Outcome:
    world = join_world()
    device = training_device(world)
    network = task.network.to(device)
    module = _wrap(network, world, device)
    optimiser = torch.optim.Adam(network.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    stopping = EarlyStopping(schedule.patience)
    average = WeightAverage(network, schedule.ema_decay) if schedule.ema_decay > 0 else None
    start = 1
    state = load_checkpoint(trainer.checkpoints) if trainer.resume and trainer.checkpoints else None
    if trainer.resume and state is None and world.is_main:
        console.print(f"{description}: no checkpoint in {trainer.checkpoints} to resume from; starting fresh")
    if state is not None:
        start = _restore(state, network, optimiser, stopping, average)
        if world.is_main:
            console.print(f"{description}: resuming after epoch {state.epoch}")
        if state.finished:
            return _finish(network, stopping, validate, state.epoch, average)
    last = start - 1
    with progress_bar(description, total=schedule.epochs, enabled=world.is_main) as bar:
        bar.advance(start - 1)
        for epoch in range(start, schedule.epochs + 1):
            order = np.random.default_rng([schedule.seed, epoch]).permutation(task.n_examples)  # same on all ranks
            sample_rng = np.random.default_rng([schedule.seed, epoch, world.rank])  # this rank's negatives
            torch.manual_seed(schedule.seed * 1_000_003 + epoch * 101 + world.rank)  # dropout
            task.start_epoch(epoch, sample_rng)
            network.train()
            for batch in _batches(order, schedule.batch_size, world):
                loss = task.loss(module, batch, sample_rng)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                if average is not None:
                    average.update(network)
            network.eval()
            _check_finite(network, epoch, description)
            last = epoch
            stop = False
            if validate:
                with _averaged(network, average):
                    score = broadcast_float(task.validate() if world.is_main else 0.0, world, device)
                    stop = stopping.update(epoch, score, lambda: copy.deepcopy(network.state_dict()))
                bar.advance(description=f"{description}: epoch {epoch} valid ndcg@10 {score:.4f}")
                if trainer.on_epoch is not None:
                    trainer.on_epoch(epoch, score)
            else:
                bar.advance()
            finished = stop or epoch == schedule.epochs
            if trainer.checkpoints is not None and world.is_main:
                save_checkpoint(
                    trainer.checkpoints,
                    _state(epoch, network, optimiser, stopping, finished, average),
                )
            barrier(world)
            if stop:
                break
    return _finish(network, stopping, validate, last, average)


def _check_finite(network: nn.Module, epoch: int, description: str) -> None:
    """A network whose weights went to NaN or infinity must not be validated, saved or served."""
    for name, weights in network.state_dict().items():
        if weights.is_floating_point() and not torch.isfinite(weights).all():
            raise TrainingDiverged(
                f"{description}: weights {name!r} are not finite after epoch {epoch}; lower lr and train again"
            )


def _averaged(network: nn.Module, average: WeightAverage | None) -> AbstractContextManager[None]:
    """The averaged weights in `network` for the block, when the run keeps an average."""
    return average.swapped_into(network) if average is not None else nullcontext()


def _wrap(network: nn.Module, world: World, device: torch.device) -> nn.Module:
    if not world.distributed:
        return network
    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def _batches(order: np.ndarray, batch_size: int, world: World):
    """This rank's share of each global batch (a last batch too small to share is dropped)."""
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        if len(batch) >= world.size:
            yield batch[world.rank :: world.size]


def _finish(
    network: nn.Module, stopping: EarlyStopping, validate: bool, last_epoch: int, average: WeightAverage | None
) -> Outcome:
    network.eval()
    if validate and stopping.snapshot is not None:
        network.load_state_dict(stopping.snapshot)
        return Outcome(stopping.best_epoch, stopping.curve)
    if average is not None:
        network.load_state_dict(average.weights())
    return Outcome(last_epoch, stopping.curve)


def _state(
    epoch: int,
    network: nn.Module,
    optimiser: torch.optim.Optimizer,
    stopping: EarlyStopping,
    finished: bool,
    average: WeightAverage | None,
) -> TrainingState:
    return TrainingState(
        epoch=epoch,
        network=network.state_dict(),
        optimiser=optimiser.state_dict(),
        best=stopping.snapshot,
        best_epoch=stopping.best_epoch,
        curve=list(stopping.curve),
        finished=finished,
        average=average.state_dict() if average is not None else None,
    )


def _restore(
    state: TrainingState,
    network: nn.Module,
    optimiser: torch.optim.Optimizer,
    stopping: EarlyStopping,
    average: WeightAverage | None,
) -> int:
    """Load `state` into the live objects; returns the first epoch still to run."""
    device = next(network.parameters()).device
    network.load_state_dict(state.network)
    if average is not None:
        if state.average is None:
            raise ConfigError("the checkpoint has no weight average, but this run keeps one (ema_decay > 0)")
        average.load_state_dict(state.average)
    optimiser.load_state_dict(state.optimiser)
    stopping.curve[:] = state.curve
    stopping.best_epoch = state.best_epoch
    stopping.snapshot = {k: v.to(device) for k, v in state.best.items()} if state.best is not None else None
    return state.epoch + 1
