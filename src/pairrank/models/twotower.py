"""TwoTowerRanker: a frozen language model reads items; users are encoded from their history.

Items: MLP over the all-MiniLM-L6-v2 text vector plus a droppable id
embedding, so an item never seen in training is scored from its text.
Users: a causal encoder (attention, GRU or pooling) over their latest items,
so a new user needs no retraining. Trained pair-wise (SASRec-style: at every
history position the next item must outscore a sampled one), early-stopped
on validation NDCG@10.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.sampling import sample_uniform_negatives
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import make_encoder
from pairrank.encoders.sentence import DEFAULT_MODEL
from pairrank.errors import ConfigError
from pairrank.models.base import Recommender
from pairrank.models.early_stopping import EarlyStopping
from pairrank.models.losses import bpr_loss
from pairrank.models.towers import ItemTower, UserTower
from pairrank.models.validation import validation_ndcg
from pairrank.progress import progress_bar

SCORE_BATCH = 512


@dataclass
class TwoTowerConfig:
    encoder: str = DEFAULT_MODEL  # frozen text encoder (sentence-transformers name or path)
    encoder_backend: str = "torch"  # "torch" (sentence-transformers) or "onnx" (ONNX Runtime int8)
    use_text: bool = True
    use_item_id: bool = True
    id_dropout: float = 0.2  # chance of hiding an item's id embedding during training
    user_tower: str = "attention"  # attention | gru | pooling
    dim: int = 64
    hidden: int = 256
    layers: int = 2
    heads: int = 2
    max_history: int = 100
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 200  # upper bound; early stopping on valid NDCG@10 picks the best
    patience: int = 10
    seed: int = 42


class _Network(torch.nn.Module):
    def __init__(self, cfg: TwoTowerConfig, text: torch.Tensor):
        super().__init__()
        self.items = ItemTower(
            text, cfg.dim, cfg.hidden, use_text=cfg.use_text, use_id=cfg.use_item_id, id_dropout=cfg.id_dropout
        )
        self.users = UserTower(cfg.user_tower, cfg.dim, cfg.max_history, cfg.layers, cfg.heads, cfg.dropout)

    def states(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.users(self.items(sequences), sequences != self.items.padding)


class TwoTowerRanker(Recommender):
    name = "twotower"
    Config = TwoTowerConfig
    supports_cold_items = True
    uses_validation = True

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        cfg = self.config
        if not (cfg.use_text or cfg.use_item_id):
            raise ConfigError("twotower needs use_text or use_item_id")
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.net = _Network(cfg, torch.from_numpy(self._text_vectors(train)))
        self.net.items.has_id[: train.n_items] = torch.from_numpy(train.item_popularity > 0)
        pad = train.n_items
        self.sequences = train.sequences(cfg.max_history, pad)  # what scoring reads
        windows = train.sequences(cfg.max_history + 1, pad)  # inputs + next-item targets
        optimiser = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        trainable = np.flatnonzero((windows != pad).sum(axis=1) >= 2)
        positives = PairIndex(train.matrix)
        stopping = EarlyStopping(cfg.patience)
        self.curve = stopping.curve
        with progress_bar("twotower: training", total=cfg.epochs) as bar:
            for epoch in range(1, cfg.epochs + 1):
                self.net.train()
                shuffled = rng.permutation(trainable)
                for start in range(0, len(shuffled), cfg.batch_size):
                    users = shuffled[start : start + cfg.batch_size]
                    loss = self._batch_loss(positives, windows[users], users, rng)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                bar.advance()
                if valid is None:
                    continue
                ndcg = validation_ndcg(self, valid)
                bar.describe(f"twotower: epoch {epoch} valid ndcg@10 {ndcg:.4f}")
                if stopping.update(epoch, ndcg, lambda: copy.deepcopy(self.net.state_dict())):
                    break
        if stopping.snapshot is not None:
            self.net.load_state_dict(stopping.snapshot)
            self.best_epoch = stopping.best_epoch
        self.net.eval()

    def _text_vectors(self, train: Dataset) -> np.ndarray:
        if not self.config.use_text:
            return np.zeros((train.n_items, 1), dtype=np.float32)
        if train.item_text is None or not any(train.item_text):
            raise ConfigError("twotower with use_text needs item text: the split's items.csv has no text columns")
        encoder = make_encoder(self.config.encoder_backend, self.config.encoder)
        return EmbeddingCache(encoder).encode(train.item_text, show_progress=True)

    def _batch_loss(
        self, positives: PairIndex, seq: np.ndarray, users: np.ndarray, rng: np.random.Generator
    ) -> torch.Tensor:
        """BPR at every position: the next item must outscore a uniformly sampled non-interacted item."""
        inputs, targets = seq[:, :-1], seq[:, 1:]
        pad = self.net.items.padding
        real = (inputs != pad) & (targets != pad)
        rows = np.broadcast_to(users[:, None], targets.shape)[real]
        negatives = np.full(targets.shape, pad, dtype=np.int64)
        negatives[real] = sample_uniform_negatives(positives, rows, rng)
        states = self.net.states(torch.from_numpy(inputs))
        mask = torch.from_numpy(real)
        positive = (states * self.net.items(torch.from_numpy(targets))).sum(-1)[mask]
        negative = (states * self.net.items(torch.from_numpy(negatives))).sum(-1)[mask]
        return bpr_loss(positive, negative)

    def final_config(self) -> TwoTowerConfig:
        return dataclasses.replace(self.config, epochs=getattr(self, "best_epoch", self.config.epochs))

    @torch.no_grad()
    def _score(self, users: np.ndarray) -> np.ndarray:
        self.net.eval()
        items = self.net.items.vectors(torch.arange(self.net.items.padding))
        scores = []
        for start in range(0, len(users), SCORE_BATCH):
            seq = torch.from_numpy(self.sequences[users[start : start + SCORE_BATCH]])
            scores.append((self.net.states(seq)[:, -1] @ items.T).numpy())
        return np.concatenate(scores) if scores else np.zeros((0, self.net.items.padding), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().numpy() for k, v in self.net.state_dict().items()}
        return {**state, "sequences": self.sequences}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        text = torch.from_numpy(state["net.items.text"][:-1])
        self.net = _Network(self.config, text)
        self.net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("net.")})
        self.net.eval()
        self.sequences = state["sequences"]
