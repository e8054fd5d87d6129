"""BPR-MF: matrix factorisation trained with the BPR pair-wise loss (PyTorch, shared training loop)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from torch import nn

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.sampling import sample_uniform_negatives
from pairrank.models.config import FACTOR_CHOICES, Trial, model_options
from pairrank.models.factors import FactorRecommender
from pairrank.models.losses import bpr_loss, l2_penalty
from pairrank.models.network import NetworkRecommender
from pairrank.models.validation import validation_ndcg
from pairrank.train.loop import Schedule, TrainingTask


@model_options
class BPRMFConfig:
    factors: PositiveInt = 128
    lr: PositiveFloat = 0.002
    reg: NonNegativeFloat = 1e-5  # per-example L2 on the user, positive and negative vectors
    epochs: PositiveInt = 100  # upper bound; early stopping on valid NDCG@10 picks the best
    batch_size: PositiveInt = 2048
    patience: PositiveInt = 15  # epochs without validation improvement before stopping
    seed: int = 42

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "factors": trial.suggest_categorical("factors", FACTOR_CHOICES),
            "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
            "reg": trial.suggest_float("reg", 1e-7, 1e-2, log=True),
        }


class BPRMFNetwork(nn.Module):
    """Score(u, i) = <p_u, q_i> + b_i."""

    def __init__(self, n_users: int, n_items: int, factors: int):
        super().__init__()
        self.users = nn.Embedding(n_users, factors)
        self.items = nn.Embedding(n_items, factors)
        self.bias = nn.Embedding(n_items, 1)
        for emb in (self.users, self.items):
            nn.init.normal_(emb.weight, std=0.1)
        nn.init.zeros_(self.bias.weight)

    def forward(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, reg: float):
        """BPR loss plus per-example L2 for a batch of (user, liked item, sampled item) triples."""
        pu, qi, qj = self.users(users), self.items(positives), self.items(negatives)
        pos = (pu * qi).sum(-1) + self.bias(positives).squeeze(-1)
        neg = (pu * qj).sum(-1) + self.bias(negatives).squeeze(-1)
        return bpr_loss(pos, neg) + reg * l2_penalty(pu, qi, qj)


class BPRMFTask(TrainingTask):
    """Every (user, item) interaction is an example; one uniform negative each."""

    def __init__(self, model: BPRMF, network: BPRMFNetwork, train: Dataset, valid: Dataset | None):
        self.model, self.valid, self.network = model, valid, network
        self.users, self.items = train.matrix.nonzero()
        self.positives = PairIndex(train.matrix)

    @property
    def n_examples(self) -> int:
        return len(self.users)

    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        users = self.users[batch]
        negatives = sample_uniform_negatives(self.positives, users, rng)
        device = self.network.bias.weight.device
        tensors = (torch.from_numpy(a).to(device) for a in (users, self.items[batch], negatives))
        return module(*tensors, self.model.config.reg)

    def validate(self) -> float:
        self.model.publish_factors(self.network)
        return validation_ndcg(self.model, self.valid)


class BPRMF(NetworkRecommender, FactorRecommender):
    """Score(u, i) = <p_u, q_i> + b_i, trained so a user's item outscores a random one."""

    name = "bprmf"
    Config = BPRMFConfig

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        network = BPRMFNetwork(train.n_users, train.n_items, cfg.factors)
        schedule = Schedule(cfg.lr, 0.0, cfg.epochs, cfg.patience, cfg.batch_size, cfg.seed)
        task = BPRMFTask(self, network, train, valid)
        self._record(self.trainer.fit(task, schedule, validate=valid is not None, description=self.name))
        self.publish_factors(network)

    def publish_factors(self, network: BPRMFNetwork) -> None:
        """Copy the network's weights into the factors that scoring reads."""
        weights = (w.weight.detach().cpu().numpy().copy() for w in (network.users, network.items, network.bias))
        self.set_factors(*weights)
