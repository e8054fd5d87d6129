"""BPR-MF: matrix factorisation trained with the BPR pair-wise loss (PyTorch, shared training loop)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.sampling import sample_uniform_negatives
from pairrank.models.factors import FactorRecommender
from pairrank.models.losses import bpr_loss, l2_penalty
from pairrank.models.validation import validation_ndcg
from pairrank.train.loop import Schedule, TrainingTask, fit_network


@dataclass
class BPRMFConfig:
    factors: int = 128
    lr: float = 0.002
    reg: float = 1e-5  # per-example L2 on the user, positive and negative vectors
    epochs: int = 100  # upper bound; early stopping on valid NDCG@10 picks the best
    batch_size: int = 2048
    patience: int = 15  # epochs without validation improvement before stopping
    seed: int = 42


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

    def __init__(self, model: BPRMF, train: Dataset, valid: Dataset | None):
        self.model, self.valid, self.network = model, valid, model.net
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
        self.model.publish_factors()
        return validation_ndcg(self.model, self.valid)


class BPRMF(FactorRecommender):
    """Score(u, i) = <p_u, q_i> + b_i, trained so a user's item outscores a random one."""

    name = "bprmf"
    Config = BPRMFConfig
    uses_validation = True

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.net = BPRMFNetwork(train.n_users, train.n_items, cfg.factors)
        schedule = Schedule(cfg.lr, 0.0, cfg.epochs, cfg.patience, cfg.batch_size, cfg.seed)
        outcome = fit_network(BPRMFTask(self, train, valid), schedule, valid is not None, self.run_options("bprmf"))
        self.best_epoch, self.curve = outcome.best_epoch, outcome.curve
        self.publish_factors()

    def publish_factors(self) -> None:
        """Copy the network's weights into the factors that scoring reads."""
        net = self.net
        self.set_factors(*(w.weight.detach().cpu().numpy().copy() for w in (net.users, net.items, net.bias)))

    def final_config(self) -> BPRMFConfig:
        """Refit for the early-stopped number of epochs, without validation."""
        epochs = getattr(self, "best_epoch", self.config.epochs)
        return dataclasses.replace(self.config, epochs=epochs)
