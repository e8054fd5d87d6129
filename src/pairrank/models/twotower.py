"""TwoTowerRanker: a frozen language model reads items; users are encoded from their history.

Items: MLP over the all-MiniLM-L6-v2 text vector plus a droppable id
embedding, so an item never seen in training is scored from its text.
Users: a causal encoder (GRU, attention, hybrid or pooling) over their latest items,
so a new user, or a history sent at request time, needs no retraining.
Trained SASRec-style on every user's whole history cut into windows: at each
position the next item must outscore sampled negatives under a pair-wise
loss (BPR, RankNet, hinge) or sampled softmax; early-stopped on validation
NDCG@10 by the shared training loop (`pairrank.train`), which validates and
serves a moving average of the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from torch import nn

from pairrank.data.dataset import Dataset, PairIndex
from pairrank.data.sampling import NegativeKind, NegativeSampler
from pairrank.encoders.cache import EmbeddingCache
from pairrank.encoders.factory import EncoderBackend, make_encoder
from pairrank.encoders.sentence import DEFAULT_MODEL
from pairrank.errors import ConfigError
from pairrank.models.config import BelowOne, Probability, Trial, model_options, replace_options
from pairrank.models.losses import LossName, make_loss
from pairrank.models.network import NetworkRecommender
from pairrank.models.towers import ItemTower, UserTower, UserTowerKind
from pairrank.models.validation import validation_ndcg
from pairrank.train.loop import Schedule, TrainingTask

SCORE_BATCH = 512
HARD_POOL = 100  # hard negatives are drawn from each user's current top-100 non-positives


@model_options
class TwoTowerConfig:
    encoder: str = DEFAULT_MODEL  # frozen text encoder (sentence-transformers name or path)
    encoder_backend: EncoderBackend = "torch"  # sentence-transformers, or "onnx" (ONNX Runtime int8)
    use_text: bool = True
    use_item_id: bool = True
    id_dropout: Probability = 0.2  # chance of hiding an item's id embedding during training
    # gru | hybrid (attention + running mean) | attention | pooling; auto: gru when the data has timestamps,
    # pooling (order-free) when it has none
    user_tower: Literal["auto", UserTowerKind] = "auto"
    use_user_id: bool = False  # add a learned user-id vector for users seen in training
    dim: PositiveInt = 64
    hidden: PositiveInt = 256
    layers: PositiveInt = 2
    heads: PositiveInt = 2
    max_history: PositiveInt = 100
    dropout: BelowOne = 0.2
    score: Literal["dot", "cosine"] = "dot"  # cosine is divided by temperature
    temperature: PositiveFloat = 0.1
    loss: LossName = "softmax"  # softmax (sampled softmax) | bpr | ranknet | hinge
    logq: bool = True  # softmax: correct sampled logits by log(K q(j)) so they estimate the full softmax
    # popularity | uniform | in_batch | hard | all; popularity tied or beat uniform on each of six splits of the two
    # development datasets (benchmarks/results/twotower_negatives*.md)
    negatives: NegativeKind = "popularity"
    num_negatives: PositiveInt = 256  # per history window (in_batch and all ignore it)
    margin: PositiveFloat = 1.0  # hinge
    sigma: PositiveFloat = 1.0  # ranknet
    lr: PositiveFloat = 0.012  # high for Adam, on purpose: at 1e-3 the model was far from converged when stopped
    weight_decay: NonNegativeFloat = 0.0
    ema_decay: BelowOne = 0.98  # validate and serve an exponential moving average of the weights (per step); 0: off
    batch_size: PositiveInt = 32  # history windows per batch
    epochs: PositiveInt = 40  # upper bound; early stopping on valid NDCG@10 picks the best
    patience: PositiveInt = 8
    seed: int = 42

    def __post_init__(self) -> None:
        """Rules over several options, checked when the config is built."""
        if not (self.use_text or self.use_item_id):
            raise ConfigError("twotower needs use_text or use_item_id")
        if self.user_tower in ("attention", "hybrid") and self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads}) for the attention tower")

    @staticmethod
    def search_space(trial: Trial) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "layers": trial.suggest_int("layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-8, 1e-3, log=True),
            "ema_decay": trial.suggest_categorical("ema_decay", [0.0, 0.95, 0.98, 0.995]),
            "user_tower": trial.suggest_categorical("user_tower", ["gru", "hybrid", "attention"]),
            "max_history": trial.suggest_categorical("max_history", [20, 50, 100, 200]),
            "id_dropout": trial.suggest_float("id_dropout", 0.0, 0.5),
            "num_negatives": trial.suggest_int("num_negatives", 1, 512, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "loss": trial.suggest_categorical("loss", ["bpr", "softmax"]),
        }


class TwoTowerNetwork(nn.Module):
    """Item tower + user tower; `forward` scores next-item targets and negatives for training."""

    def __init__(self, cfg: TwoTowerConfig, text: torch.Tensor, n_users: int):
        super().__init__()
        self.items = ItemTower(
            text, cfg.dim, cfg.hidden, use_text=cfg.use_text, use_id=cfg.use_item_id, id_dropout=cfg.id_dropout
        )
        self.users = UserTower(cfg.user_tower, cfg.dim, cfg.max_history, cfg.layers, cfg.heads, cfg.dropout)
        self.user_ids = nn.Embedding(n_users, cfg.dim) if cfg.use_user_id else None
        if self.user_ids is not None:
            nn.init.normal_(self.user_ids.weight, std=0.02)
        self.cosine = cfg.score == "cosine"
        self.temperature = cfg.temperature

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        vectors = self.items(items)
        return F.normalize(vectors, dim=-1) / self.temperature if self.cosine else vectors

    def user_states(self, sequences: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L] item indices (left-padded) -> [B, L, d]: the user after each position.

        `users` (indices of users seen in training) adds their id vectors, when the model has them."""
        states = self.users(self.items(sequences), sequences != self.items.padding)
        if self.user_ids is not None and users is not None:
            states = states + self.user_ids(users).unsqueeze(1)
        return F.normalize(states, dim=-1) if self.cosine else states

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        real: torch.Tensor,
        negatives: torch.Tensor,
        users: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores at the `real` positions [B, L] of next-item `targets` [B, L] after `inputs` [B, L] of
        `users` [B], and of `negatives` [B, K] (per window) or [1, K] (shared): -> [P] and [P, K]."""
        states = self.user_states(inputs, users)
        positive = (states[real] * self.item_vectors(targets[real])).sum(-1)
        vectors = self.item_vectors(negatives)
        if len(negatives) == 1:  # shared: one [P, d] x [d, K] product, no [B, L, K] block
            return positive, states[real] @ vectors[0].T
        return positive, (states @ vectors.transpose(1, 2))[real]


class TwoTowerTask(TrainingTask):
    """Next-item windows, sampled negatives and a ranking loss for the shared loop."""

    def __init__(self, model: TwoTowerRanker, train: Dataset, valid: Dataset | None):
        cfg = model.tower
        self.model, self.valid, self.network = model, valid, model.net
        self.pad = train.n_items
        self.windows, self.owners = train.windows(cfg.max_history, self.pad)
        self.sampler = NegativeSampler(cfg.negatives, PairIndex(train.matrix), train.item_popularity, cfg.num_negatives)
        self.loss_fn = make_loss(cfg.loss, sigma=cfg.sigma, margin=cfg.margin)
        self.correct_logits = cfg.loss == "softmax" and cfg.logq
        self.full_softmax = cfg.loss == "softmax" and cfg.negatives == "all"
        self.train_users = train.active_users()

    @property
    def n_examples(self) -> int:
        return len(self.windows)

    def start_epoch(self, epoch: int, rng: np.random.Generator) -> None:
        if self.sampler.needs_mining and epoch > 1:
            top, _ = self.model.recommend(self.train_users, HARD_POOL)
            pool = np.full((self.model.history.shape[0], HARD_POOL), -1, dtype=np.int64)
            pool[self.train_users] = top
            self.sampler.set_hard_pool(pool)

    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        seq, users = self.windows[batch], self.owners[batch]
        inputs, targets = seq[:, :-1], seq[:, 1:]
        real = (inputs != self.pad) & (targets != self.pad)
        if self.full_softmax:  # every item is a class: plain cross-entropy, no sampling and no masks
            negatives, allowed = np.arange(self.pad)[None, :], None
        else:
            negatives, allowed = self.sampler.sample(users, targets[real], rng)
        device = self.network.items.text.device
        arrays = (inputs, targets, real, negatives, users)
        positive, negative = module(*(torch.from_numpy(a).to(device) for a in arrays))
        if allowed is None:
            return F.cross_entropy(negative, torch.from_numpy(targets[real]).to(device))
        window = np.nonzero(real)[0]  # each position takes its window's row of negatives
        if self.correct_logits:
            correction = self.sampler.log_expected_count(negatives)
            negative = negative - torch.from_numpy(correction[window if len(correction) > 1 else [0]]).to(device)
        return self.loss_fn(positive, negative, torch.from_numpy(allowed[window]).to(device))

    def validate(self) -> float:
        return validation_ndcg(self.model, self.valid)


class TwoTowerRanker(NetworkRecommender):
    name = "twotower"
    Config = TwoTowerConfig
    supports_cold_items = True
    scores_histories = True
    adds_items = True

    def __init__(self, config: Any = None, **options: Any):
        super().__init__(config, **options)
        self.net: TwoTowerNetwork | None = None
        self.sequences: np.ndarray | None = None  # each known user's latest items, what scoring reads

    @property
    def tower(self) -> TwoTowerConfig:
        """The network's options (a model built on this one, such as SASRec, derives them from its own)."""
        return self.config

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if self.tower.user_tower == "auto":  # the saved config names the tower chosen
            ordered = train.timestamps is not None
            self.config = replace_options(self.config, {"user_tower": "gru" if ordered else "pooling"})
        cfg = self.tower
        torch.manual_seed(cfg.seed)
        self.net = TwoTowerNetwork(cfg, torch.from_numpy(self._text_vectors(train)), train.n_users)
        self.net.items.has_id[: train.n_items] = torch.from_numpy(train.item_popularity > 0)
        self.sequences = train.sequences(cfg.max_history, train.n_items)
        schedule = Schedule(
            cfg.lr, cfg.weight_decay, cfg.epochs, cfg.patience, cfg.batch_size, cfg.seed, ema_decay=cfg.ema_decay
        )
        task = self._task(train, valid)
        self._record(self.trainer.fit(task, schedule, validate=valid is not None, description=self.name))
        self.net.cpu()

    def _task(self, train: Dataset, valid: Dataset | None) -> TwoTowerTask:
        return TwoTowerTask(self, train, valid)

    def _text_vectors(self, train: Dataset) -> np.ndarray:
        if not self.tower.use_text:
            return np.zeros((train.n_items, 1), dtype=np.float32)
        if train.item_text is None or not any(train.item_text):
            raise ConfigError("twotower with use_text needs item text: the split's items.csv has no text columns")
        encoder = make_encoder(self.tower.encoder_backend, self.tower.encoder)
        return EmbeddingCache(encoder).encode(train.item_text, show_progress=True)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_sequences(self.sequences[users], users)

    def user_history(self, user: int) -> np.ndarray:
        """The latest items the user tower reads for this user, oldest first."""
        sequence = self.sequences[user]
        return sequence[sequence != self.net.items.padding]

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        """A history sent at request time goes through the user tower like a known user's."""
        return self._score_sequences(self._padded(histories))

    def _padded(self, histories: list[np.ndarray]) -> np.ndarray:
        """Histories as the user tower reads them: the latest `max_history` items, left-padded."""
        length = self.sequences.shape[1]
        sequences = np.full((len(histories), length), self.net.items.padding, dtype=np.int64)
        for row, history in enumerate(histories):
            latest = history[-length:]
            sequences[row, length - len(latest) :] = latest
        return sequences

    def history_vectors(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._sequence_vectors(self._padded(histories), None)

    @torch.no_grad()
    def new_item_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The item tower's text path alone (a new item has no id vector), as for items never seen in training."""
        if not self.tower.use_text:
            raise ConfigError("twotower with use_text = false cannot place an item by its text")
        text = torch.from_numpy(self._new_item_encoder.encode(list(texts)))
        self.net.eval()
        vectors = self.net.items.text_mlp(text.to(self.net.items.text.device))
        if self.net.cosine:
            vectors = F.normalize(vectors, dim=-1) / self.net.temperature
        return vectors.cpu().numpy()

    @cached_property
    def _new_item_encoder(self) -> EmbeddingCache:
        """The encoder the catalogue was embedded with, loaded once."""
        return EmbeddingCache(make_encoder(self.tower.encoder_backend, self.tower.encoder))

    def _score_sequences(self, sequences: np.ndarray, users: np.ndarray | None = None) -> np.ndarray:
        """Scores [n, n_items] for left-padded item sequences [n, max_history] (of known `users`, if given)."""
        return self._sequence_vectors(sequences, users) @ self.item_vectors().T

    # -- the vectors scores are inner products of (what a vector index searches) --
    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        """[n_items, dim] float32: a user's score for an item is the inner product with its user vector."""
        self.net.eval()
        device = self.net.items.text.device
        return self.net.item_vectors(torch.arange(self.net.items.padding, device=device)).cpu().numpy()

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        """[len(users), dim] float32 for user indices, from their training histories."""
        users = np.asarray(users, dtype=np.int64)
        return self._sequence_vectors(self.sequences[users], users)

    @torch.no_grad()
    def _sequence_vectors(self, sequences: np.ndarray, users: np.ndarray | None) -> np.ndarray:
        self.net.eval()
        device = self.net.items.text.device
        vectors = [np.zeros((0, self.tower.dim), dtype=np.float32)]
        for start in range(0, len(sequences), SCORE_BATCH):
            rows = slice(start, start + SCORE_BATCH)
            batch_users = None if users is None else torch.from_numpy(users[rows]).to(device)
            states = self.net.user_states(torch.from_numpy(sequences[rows]).to(device), batch_users)
            vectors.append(states[:, -1].cpu().numpy())
        return np.concatenate(vectors)

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        return {**state, "sequences": self.sequences}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        text = torch.from_numpy(state["net.items.text"][:-1])
        self.net = TwoTowerNetwork(self.tower, text, len(self.users))
        self.net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("net.")})
        self.net.eval()
        self.sequences = state["sequences"]
