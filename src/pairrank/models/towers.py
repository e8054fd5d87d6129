"""The two towers: items from frozen text vectors (+ droppable ids), users from their history."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from pairrank.errors import ConfigError

UserTowerKind = Literal["hybrid", "attention", "gru", "pooling"]
USER_TOWERS: tuple[str, ...] = get_args(UserTowerKind)


class ItemTower(nn.Module):
    """Item vector = MLP(text vector) + id embedding; either part can be switched off.

    Row `n_items` is padding (all zeros). During training each item's id
    embedding is dropped with probability `id_dropout`, so the text path
    alone learns to place items; items never seen in training get no id part.
    """

    def __init__(self, text: torch.Tensor, dim: int, hidden: int, *, use_text: bool, use_id: bool, id_dropout: float):
        super().__init__()
        n_items = text.shape[0]
        self.register_buffer("text", torch.cat([text, torch.zeros(1, text.shape[1])]))
        self.register_buffer("has_id", torch.zeros(n_items + 1, dtype=torch.bool))
        self.text_mlp = (
            nn.Sequential(nn.Linear(text.shape[1], hidden), nn.GELU(), nn.Linear(hidden, dim)) if use_text else None
        )
        self.ids = nn.Embedding(n_items + 1, dim, padding_idx=n_items) if use_id else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.02)
            with torch.no_grad():
                self.ids.weight[n_items].zero_()
        self.id_dropout = id_dropout
        self.padding = n_items

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """Vectors for an index tensor of any shape; each distinct item is computed once."""
        unique, inverse = torch.unique(items, return_inverse=True)
        return self.vectors(unique)[inverse]

    def vectors(self, items: torch.Tensor) -> torch.Tensor:
        """Vectors for a 1-d tensor of item indices (padding gives zeros)."""
        out = torch.zeros(len(items), self.out_dim, device=items.device)
        if self.text_mlp is not None:
            out = out + self.text_mlp(self.text[items]) * (items != self.padding).unsqueeze(-1)
        if self.ids is not None:
            keep = self.has_id[items]
            if self.training and self.id_dropout > 0:
                keep = keep & (torch.rand(items.shape, device=items.device) >= self.id_dropout)
            out = out + self.ids(items) * keep.unsqueeze(-1)
        return out

    @property
    def out_dim(self) -> int:
        return self.ids.embedding_dim if self.ids is not None else self.text_mlp[-1].out_features


class UserTower(nn.Module):
    """Causal encoder over a user's item-vector sequence: the state at position t sees items 0..t.

    `kind`: "attention" (SASRec-style Transformer), "hybrid" (attention plus
    the running mean of the history), "gru", or "pooling" (the running mean alone).
    """

    def __init__(self, kind: str, dim: int, max_len: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.kind = kind
        if kind in ("attention", "hybrid"):
            self.position = nn.Embedding(max_len, dim)
            layer = nn.TransformerEncoderLayer(
                dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(dim)
        elif kind == "gru":
            self.gru = nn.GRU(dim, dim, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        elif kind != "pooling":
            raise ConfigError(f"unknown user_tower {kind!r}: use one of {list(USER_TOWERS)}")
        self.dropout = nn.Dropout(dropout)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """vectors [B, L, d] (left-padded), mask [B, L] True at real items -> states [B, L, d]."""
        x = self.dropout(vectors) * mask.unsqueeze(-1)
        if self.kind == "gru":
            return self.gru(x)[0]
        pooled = x.cumsum(dim=1) / mask.cumsum(dim=1).clamp(min=1).unsqueeze(-1)
        if self.kind == "pooling":
            return pooled
        length = x.shape[1]  # positions are right-aligned: the latest item always has the last one
        attended = self.norm(self.encoder(x + self.position.weight[-length:], mask=self._attention_mask(mask)))
        return attended + pooled if self.kind == "hybrid" else attended

    def _attention_mask(self, real: torch.Tensor) -> torch.Tensor:
        """[B * heads, L, L], True = may not attend: the future and padding (each position still sees itself,
        so padding rows never attend to nothing)."""
        length = real.shape[1]
        future = torch.triu(torch.ones(length, length, dtype=torch.bool, device=real.device), diagonal=1)
        itself = torch.eye(length, dtype=torch.bool, device=real.device)
        blocked = future | (~real.unsqueeze(1) & ~itself)  # [B, L, L]
        return blocked.repeat_interleave(self.encoder.layers[0].self_attn.num_heads, dim=0)
