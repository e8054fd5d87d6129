"""The common model face (DESIGN.md): fit, score, recommend, save, load.

A model folder holds `config.json` (model name, options and the pairrank
that wrote it: `models.folder`), `users.parquet`/`items.parquet` (id maps)
and `model.safetensors` (arrays, including the training history used to
exclude seen items). Nothing is pickled: loading never executes code.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from pairrank.data.dataset import Dataset
from pairrank.data.idmap import IdMap, read_extra
from pairrank.errors import ConfigError, DataError
from pairrank.models.config import config_from_dict, replace_options
from pairrank.models.folder import new_meta, read_meta, replace_folder

STATE_FILE = "model.safetensors"


class Recommender(ABC):
    """Base class: subclasses define `name`, `Config`, `_fit`, `_score`, `_state`/`_load_state`,
    and declare their learned state in `__init__`."""

    name: ClassVar[str]
    Config: ClassVar[type]
    supports_cold_items: ClassVar[bool] = False
    scores_histories: ClassVar[bool] = False  # implements `_score_histories` (recommend_histories)
    uses_validation: ClassVar[bool] = False  # early-stops or tunes on `valid` in fit()
    adds_items: ClassVar[bool] = False  # scores items added after training by their text (`new_item_vectors`)

    def __init__(self, config: Any = None, **overrides: Any):
        if config is None or isinstance(config, dict):
            config = config_from_dict(self.Config, {**(config or {}), **overrides}, owner=self.name)
        elif not isinstance(config, self.Config):
            raise ConfigError(f"{self.name} takes a {self.Config.__name__} or a dict, not {type(config).__name__}")
        elif overrides:
            config = replace_options(config, overrides, owner=self.name)
        self.config = config
        self.users: IdMap | None = None
        self.items: IdMap | None = None
        self.item_titles: list[str] | None = None  # display names, aligned with `items`, when known
        self.item_attributes: list[str] | None = None  # '|'-joined genres, tags, categories, when known
        self.history: sp.csr_matrix | None = None

    # -- training -------------------------------------------------------
    def fit(self, train: Dataset, valid: Dataset | None = None) -> Recommender:
        """Learn from `train`; `valid` (same id maps) drives early stopping where used."""
        self.users, self.items = train.users, train.items
        self.item_titles = train.item_titles
        self.item_attributes = train.item_attributes
        self.history = train.matrix
        self._fit(train, valid)
        return self

    @abstractmethod
    def _fit(self, train: Dataset, valid: Dataset | None) -> None: ...

    def final_config(self) -> Any:
        """The config to refit on train+valid with (e.g. the early-stopped epoch count)."""
        return self.config

    def refit(self, data: Dataset, fresh: Callable[[Any], Recommender]) -> Recommender:
        """The model of the final run, fitted on `data` (train+valid): by default a new model,
        `fresh(final_config())`, fitted from scratch. A model that keeps what it learned on
        validation (the pipeline's fusion) overrides this."""
        return fresh(self.final_config()).fit(data)

    # -- scoring --------------------------------------------------------
    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Scores [len(users), n_items] (float32) for user indices."""

    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of `items` (all items if None) for each user index in `users`."""
        self._check_fitted()
        scores = self._score(np.asarray(users, dtype=np.int64))
        return scores if items is None else scores[:, np.asarray(items, dtype=np.int64)]

    def recommend(
        self,
        users: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores per user, best first.

        Seen items (the training history, or `exclude` if given) are never
        returned; `candidates` (item indices) restricts the ranking. Rows
        with fewer than k eligible items are padded with -1 / -inf.
        """
        self._check_fitted()
        users = _indices(users)
        blocked = (exclude if exclude is not None else self.history) if exclude_seen else None

        def score_batch(rows: slice) -> tuple[np.ndarray, sp.csr_matrix | None]:
            return self._score(users[rows]), None if blocked is None else blocked[users[rows]]

        return self._rank(len(users), k, score_batch, candidates, batch_size)

    def user_history(self, user: int) -> np.ndarray:
        """A known user's training items (indices), oldest first where the model keeps the order."""
        self._check_fitted()
        return self.history.indices[self.history.indptr[user] : self.history.indptr[user + 1]].astype(np.int64)

    # -- histories given at request time ---------------------------------
    def recommend_histories(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        *,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for each history (item indices, oldest first), no retraining.

        Like `recommend` for users the model never saw: each history's own
        items are never returned, `candidates` restricts the ranking, and
        rows are padded with -1 / -inf.
        """
        self._check_fitted()
        histories = [np.asarray(h, dtype=np.int64) for h in histories]
        seen = history_matrix(histories, len(self.items))

        def score_batch(rows: slice) -> tuple[np.ndarray, sp.csr_matrix]:
            return self._score_histories(histories[rows]), seen[rows]

        return self._rank(len(histories), k, score_batch, candidates, batch_size)

    def score_histories(self, histories: list[np.ndarray], items: np.ndarray | None = None) -> np.ndarray:
        """Scores of `items` (all items if None) for each history (item indices, oldest first)."""
        self._check_fitted()
        scores = self._score_histories([np.asarray(h, dtype=np.int64) for h in histories])
        return scores if items is None else scores[:, np.asarray(items, dtype=np.int64)]

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        """Scores [len(histories), n_items] (float32) for histories of item indices, oldest first."""
        raise ConfigError(
            f"{self.name} cannot recommend for a history given at request time: it scores only the users it was "
            "trained on"
        )

    # -- items added after training (cold start without retraining) --------
    def new_item_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), d] vectors for items known only by their text, in the space of `history_vectors`: a
        history's score for such an item is the inner product of the two."""
        raise ConfigError(self._no_new_items())

    def history_vectors(self, histories: list[np.ndarray]) -> np.ndarray:
        """[len(histories), d] vectors of histories (item indices, oldest first), against `new_item_vectors`."""
        raise ConfigError(self._no_new_items())

    def _no_new_items(self) -> str:
        return f"{self.name} cannot score items added after training; text models can (twotower, textknn)"

    def _rank(
        self,
        n_rows: int,
        k: int,
        score_batch: Callable[[slice], tuple[np.ndarray, sp.csr_matrix | None]],
        candidates: np.ndarray | None,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of `n_rows` score rows computed in batches; `score_batch(rows)` gives scores and blocked items."""
        allowed = None
        if candidates is not None:
            allowed = np.zeros(len(self.items), dtype=bool)
            allowed[np.asarray(candidates, dtype=np.int64)] = True
        top_items = np.full((n_rows, k), -1, dtype=np.int64)
        top_scores = np.full((n_rows, k), -np.inf, dtype=np.float32)
        for start in range(0, n_rows, batch_size):
            rows = slice(start, min(start + batch_size, n_rows))
            scores, blocked = score_batch(rows)
            items, values = top_k(masked(scores, blocked, allowed), k)
            top_items[rows, : items.shape[1]] = items
            top_scores[rows, : items.shape[1]] = values
        top_items[~np.isfinite(top_scores)] = -1
        return top_items, top_scores

    def _check_fitted(self) -> None:
        if self.items is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit() or load() first")

    # -- persistence ----------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save."""

    @abstractmethod
    def _load_state(self, state: dict[str, np.ndarray]) -> None: ...

    def save(self, directory: str | Path, *, keep: Sequence[str] = (), files: dict[str, str] | None = None) -> Path:
        """Write the model as a plain folder (JSON + Parquet + safetensors), replacing `directory` as a whole.

        `files` (name -> text) are written beside the model; entries of an existing folder named in
        `keep` are carried over. The swap is atomic: no reader sees a half-written or mixed folder.
        """
        self._check_fitted()
        return replace_folder(directory, lambda staging: self._write(staging, files or {}), keep)

    def _write(self, directory: Path, files: dict[str, str]) -> None:
        new_meta(self.name, dataclasses.asdict(self.config)).write(directory)
        self.users.save(directory / "users.parquet")
        extra = {"title": self.item_titles, "attributes": self.item_attributes}
        self.items.save(directory / "items.parquet", {k: v for k, v in extra.items() if v} or None)
        history = self.history.tocsr()
        state = {
            "history.indptr": history.indptr.astype(np.int64),
            "history.indices": history.indices.astype(np.int32),  # item indices: int32 holds any catalogue
            **{k: np.ascontiguousarray(v) for k, v in self._state().items()},
        }
        save_file(state, str(directory / STATE_FILE))
        for name, text in files.items():
            (directory / name).write_text(text)

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Read a folder written by `save` for this model class (any model: `registry.load_model`)."""
        if cls is Recommender:
            raise TypeError("Recommender.load reads one model class: use pairrank.models.registry.load_model")
        directory = Path(directory)
        meta = read_meta(directory)
        if meta.model != cls.name:
            raise DataError(f"holds a {meta.model!r} model, not {cls.name!r}", directory / "config.json")
        model = cls(meta.config)
        model.users = IdMap.load(directory / "users.parquet")
        model.items = IdMap.load(directory / "items.parquet")
        model.item_titles = read_extra(directory / "items.parquet", "title")
        model.item_attributes = read_extra(directory / "items.parquet", "attributes")
        state = _read_state(directory / STATE_FILE)
        try:
            indptr, indices = state.pop("history.indptr"), state.pop("history.indices")
            model.history = sp.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(model.users), len(model.items))
            )
            model._load_state(state)
        except KeyError as missing:
            raise DataError(f"missing array {missing}: the file is incomplete", directory / STATE_FILE) from None
        return model


def _indices(users: np.ndarray) -> np.ndarray:
    """User indices as int64; ids (strings) are refused with the way to pass them."""
    users = np.asarray(users)
    if users.size and not np.issubdtype(users.dtype, np.integer):
        raise TypeError(
            "recommend takes user indices (ints); for user ids use pairrank.api.Ranker(model).recommend(ids) "
            "or pairrank.load(run).recommend(ids)"
        )
    return users.astype(np.int64)


def _read_state(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError("missing model file", path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise DataError(f"not a readable safetensors file: {error}", path) from None


def history_matrix(histories: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary [len(histories), n_items] matrix (float32): 1 where an item is in the history."""
    items = np.concatenate([np.zeros(0, np.int64), *(np.asarray(h, dtype=np.int64) for h in histories)])
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"history item indices must lie in [0, {n_items}); got {items.min()}..{items.max()}")
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    m = sp.csr_matrix((np.ones(len(items), dtype=np.float32), (rows, items)), shape=(len(histories), n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def masked(scores: np.ndarray, blocked: sp.csr_matrix | None, allowed: np.ndarray | None) -> np.ndarray:
    """A float32 copy of `scores` with blocked items and items outside `allowed` set to -inf."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if blocked is not None:
        rows, cols = blocked.nonzero()
        scores[rows, cols] = -np.inf
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest scores per row, best first; ties go to the lower index."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
    above = scores > kth
    ties = scores == kth
    needed = k - above.sum(axis=1, keepdims=True)
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= needed))
    items = np.nonzero(chosen)[1].reshape(len(scores), k)  # row-major: ascending index per row
    values = np.take_along_axis(scores, items, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(values, order, axis=1)
