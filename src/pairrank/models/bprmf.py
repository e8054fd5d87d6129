"""BPR-MF: matrix factorisation trained with the BPR pair-wise loss (PyTorch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.sampling import sample_uniform_negatives
from pairrank.models.early_stopping import EarlyStopping
from pairrank.models.factors import FactorRecommender
from pairrank.models.losses import bpr_loss, l2_penalty
from pairrank.models.validation import validation_ndcg
from pairrank.progress import progress_bar


@dataclass
class BPRMFConfig:
    factors: int = 128
    lr: float = 0.002
    reg: float = 1e-5  # per-example L2 on the user, positive and negative vectors
    epochs: int = 100  # upper bound; early stopping on valid NDCG@10 picks the best
    batch_size: int = 2048
    patience: int = 15  # epochs without validation improvement before stopping
    seed: int = 42


class BPRMF(FactorRecommender):
    """Score(u, i) = <p_u, q_i> + b_i, trained so a user's item outscores a random one."""

    name = "bprmf"
    Config = BPRMFConfig
    uses_validation = True

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        user_emb = torch.nn.Embedding(train.n_users, cfg.factors)
        item_emb = torch.nn.Embedding(train.n_items, cfg.factors)
        item_bias = torch.nn.Embedding(train.n_items, 1)
        for emb in (user_emb, item_emb):
            torch.nn.init.normal_(emb.weight, std=0.1)
        torch.nn.init.zeros_(item_bias.weight)
        params = [*user_emb.parameters(), *item_emb.parameters(), *item_bias.parameters()]
        optimiser = torch.optim.Adam(params, lr=cfg.lr)
        matrix = train.matrix
        users_all, items_all = matrix.nonzero()
        positives = PairIndex(matrix)
        stopping = EarlyStopping(cfg.patience)
        self.curve = stopping.curve
        with progress_bar("bprmf: training", total=cfg.epochs) as bar:
            for epoch in range(1, cfg.epochs + 1):
                order = rng.permutation(len(users_all))
                negatives = sample_uniform_negatives(positives, users_all[order], rng)
                for start in range(0, len(order), cfg.batch_size):
                    idx = order[start : start + cfg.batch_size]
                    u = torch.from_numpy(users_all[idx])
                    i = torch.from_numpy(items_all[idx])
                    j = torch.from_numpy(negatives[start : start + cfg.batch_size])
                    pu, qi, qj = user_emb(u), item_emb(i), item_emb(j)
                    pos = (pu * qi).sum(-1) + item_bias(i).squeeze(-1)
                    neg = (pu * qj).sum(-1) + item_bias(j).squeeze(-1)
                    loss = bpr_loss(pos, neg) + cfg.reg * l2_penalty(pu, qi, qj)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                self._set_weights(user_emb, item_emb, item_bias)
                bar.advance()
                if valid is None:
                    continue
                ndcg = validation_ndcg(self, valid)
                bar.describe(f"bprmf: epoch {epoch} valid ndcg@10 {ndcg:.4f}")
                if stopping.update(epoch, ndcg, lambda: (self.user_factors, self.item_factors, self.item_bias)):
                    break
        if stopping.snapshot is not None:
            self.user_factors, self.item_factors, self.item_bias = stopping.snapshot
            self.best_epoch = stopping.best_epoch

    def _set_weights(self, user_emb, item_emb, item_bias) -> None:
        self.set_factors(
            user_emb.weight.detach().numpy().copy(),
            item_emb.weight.detach().numpy().copy(),
            item_bias.weight.detach().numpy().copy(),
        )

    def final_config(self) -> BPRMFConfig:
        """Refit for the early-stopped number of epochs, without validation."""
        epochs = getattr(self, "best_epoch", self.config.epochs)
        return dataclasses.replace(self.config, epochs=epochs)
