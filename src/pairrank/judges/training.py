"""Pair-wise fine-tuning of the judges, and the validation that sets their blend with the input order.

Mono learns BPR on (history, positive, hard negative) pairs: the positive
must outscore the negative. Duo, initialised from mono's weights, reads
(history, a, b) in both orders and learns P(a before b) with a logistic
(RankNet) loss. Hard negatives come from the retriever's own top candidates for
the history before the positive, as the judges meet candidates when they serve,
or (`negatives_from = "popularity"`) from the positive's neighbours in
popularity order, which leaves popularity no say in the pair.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.functional import binary_cross_entropy_with_logits, softplus

from pairrank.data.dataset import Dataset
from pairrank.errors import ConfigError
from pairrank.judges.inputs import JudgeInputs
from pairrank.judges.judge import CrossEncoderReranker, blend
from pairrank.judges.network import CrossEncoderNet
from pairrank.models.base import Recommender
from pairrank.progress import progress_bar

ALPHAS = np.round(np.linspace(0.0, 1.0, 11), 2)  # blend weights tried on validation
POPULARITY_WINDOW = 10  # popularity-matched negatives: items at most this many places from the positive's
NDCG_CUTOFF = 10
WARMUP = 0.1  # share of steps with a rising learning rate


@dataclass
class Pairs:
    """Training pairs: each row's history (text), a positive item and a hard negative (or, for list-wise
    training, a row of them, -1 padded)."""

    histories: list[str]
    positives: np.ndarray
    negatives: np.ndarray  # [n], or [n, k] grouped
    history_items: list[np.ndarray] = field(default_factory=list)  # each row's history as item indices

    def __len__(self) -> int:
        return len(self.positives)


@dataclass
class TrainingOptions:
    epochs: int
    learning_rate: float
    batch_size: int
    seed: int


def sample_pairs(
    train: Dataset,
    retriever: Recommender,
    history_text: Callable[[np.ndarray], str],
    *,
    history_items: int,
    positions: int,
    negatives: int,
    top: int,
    max_pairs: int,
    seed: int,
    grouped: bool = False,
    listed_only: bool = False,
    popularity_matched: bool = False,
) -> Pairs:
    """(history, positive, hard negative) from each user's last `positions` train items: the items before a
    positive (its latest `history_items`, as `history_text` writes them) against `negatives` items drawn from
    the retriever's top `top` for the history before that positive (`retrieved_before`); at most `max_pairs` of
    them (a seeded sample). `grouped` keeps each positive's negatives in one row ([n, negatives], -1 padded), for
    list-wise training. `listed_only` keeps only positives that are in that top `top` themselves: the lists a
    judge re-ranks at serving time, where a positive outside the list cannot be moved. `popularity_matched` draws
    the negatives from the positive's neighbours in popularity order instead (`popularity_neighbours`)."""
    rng = np.random.default_rng(seed)
    sequences = train.sequences(history_items + positions, -1)
    users = train.active_users()
    if listed_only and (popularity_matched or not retriever.scores_histories):
        raise ConfigError(
            'positives = "listed" needs negatives from a retriever that scores histories, '
            f"not {'popularity-matched ones' if popularity_matched else repr(retriever.name)}"
        )
    retrieved = [
        popularity_neighbours(train, users, cut, POPULARITY_WINDOW)
        if popularity_matched
        else retrieved_before(train, retriever, users, cut, top)
        for cut in range(1, positions + 1)
    ]
    histories, items, positive_items, negative_items = [], [], [], []
    for row, user in enumerate(users):
        sequence = sequences[user]
        for cut in range(1, positions + 1):
            history, (pools, listed) = sequence[: sequence.size - cut], retrieved[cut - 1]
            pool = pools[row]
            if sequence[-cut] < 0 or not (history >= 0).any() or not pool.size:
                break
            if listed_only and not listed[row]:
                continue
            drawn = rng.choice(pool, min(negatives, pool.size), replace=False)
            for negative in [np.pad(drawn, (0, negatives - drawn.size), constant_values=-1)] if grouped else drawn:
                histories.append(history_text(history))
                items.append(history[history >= 0])
                positive_items.append(sequence[-cut])
                negative_items.append(negative)
    keep = rng.permutation(len(positive_items))[:max_pairs]
    return Pairs(
        [histories[i] for i in keep],
        np.asarray(positive_items)[keep],
        np.asarray(negative_items)[keep],
        [items[i] for i in keep],
    )


def retrieved_before(
    train: Dataset, retriever: Recommender, users: np.ndarray, cut: int, top: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each user's hard negatives for the positive `cut` items from the end of their train history: the
    retriever's top `top` for the history before it, as the judge meets candidates at serving time, with none of
    the user's train items among them (the positive and the items after it are the user's too); and whether the
    positive itself is in that top `top` (among the items that are not the user's later ones). A retriever that
    cannot score a history given now ranks from the whole train history instead (`recommend`), where the
    positive is never listed."""
    if not retriever.scores_histories:
        candidates, _ = retriever.recommend(users, top)
        return [row[row >= 0] for row in candidates], np.zeros(len(users), dtype=bool)
    sequences = train.user_sequences(users)
    scored = [row for row, sequence in enumerate(sequences) if sequence.size > cut]
    candidates, _ = retriever.recommend_histories([sequences[row][:-cut] for row in scored], top + cut)
    pools, listed = [np.empty(0, dtype=np.int64)] * len(users), np.zeros(len(users), dtype=bool)
    for row, ranked in zip(scored, candidates):
        sequence = sequences[row]
        positive, later = sequence[-cut], sequence[sequence.size - cut + 1 :]
        listed[row] = positive in ranked[(ranked >= 0) & ~np.isin(ranked, later)][:top]
        pools[row] = ranked[(ranked >= 0) & ~np.isin(ranked, sequence[-cut:])][:top]
    return pools, listed


def popularity_neighbours(
    train: Dataset, users: np.ndarray, cut: int, window: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each user's negatives for the positive `cut` items from the end of their train history: the items at most
    `window` places from it in train popularity order (distinct users, ties by item index), none of them the
    user's train items. Popularity cannot tell such a pair apart (drawn from EASE's top 20, the negative was the
    more popular item in 81% of ml-latest-small's pairs), so a judge must learn from what the items are. None is
    listed."""
    order = np.argsort(train.item_popularity, kind="stable")
    place = np.empty_like(order)
    place[order] = np.arange(order.size)
    pools = []
    for sequence in train.user_sequences(users):
        if sequence.size <= cut:
            pools.append(np.empty(0, dtype=np.int64))
            continue
        at = place[sequence[-cut]]
        near = order[max(0, at - window) : at + window + 1]
        pools.append(near[~np.isin(near, sequence)])
    return pools, np.zeros(len(users), dtype=bool)


def train_mono(
    network: CrossEncoderNet,
    inputs: JudgeInputs,
    pairs: Pairs,
    options: TrainingOptions,
    targets: np.ndarray | None = None,
) -> list[float]:
    """BPR fine-tuning in place; with `targets` (a teacher's P(positive before negative) per pair), the logistic
    loss against those instead (distillation). Returns the mean loss of each epoch."""

    def loss(rows: np.ndarray) -> torch.Tensor:
        histories = [pairs.histories[r] for r in rows] * 2
        items = np.concatenate([pairs.positives[rows], pairs.negatives[rows]])
        logits = network.logits(inputs.mono(histories, items))
        margin = logits[: len(rows)] - logits[len(rows) :]
        if targets is None:
            return softplus(-margin).mean()
        wanted = torch.as_tensor(targets[rows], dtype=margin.dtype, device=margin.device)
        return binary_cross_entropy_with_logits(margin, wanted)

    return fit_pairs(network.model, loss, len(pairs), options, "mono")


def train_duo(mono: CrossEncoderNet, inputs: JudgeInputs, pairs: Pairs, options: TrainingOptions) -> CrossEncoderNet:
    """A duo judge initialised from `mono`'s weights, fine-tuned on both orders of every pair."""
    network = CrossEncoderNet(copy.deepcopy(mono.model), mono.tokenizer)

    def loss(rows: np.ndarray) -> torch.Tensor:
        histories = [pairs.histories[r] for r in rows] * 2
        positives, negatives = pairs.positives[rows], pairs.negatives[rows]
        ordered = list(zip(positives, negatives)) + list(zip(negatives, positives))
        logits = network.logits(inputs.duo(histories, ordered))
        targets = torch.cat([torch.ones(len(rows)), torch.zeros(len(rows))]).to(logits.device)
        return binary_cross_entropy_with_logits(logits, targets)

    fit_pairs(network.model, loss, len(pairs), options, "duo")
    return network


def fit_pairs(
    model: torch.nn.Module,
    loss_of: Callable[[np.ndarray], torch.Tensor],
    n_pairs: int,
    options: TrainingOptions,
    label: str,
) -> list[float]:
    """AdamW with linear warm-up and decay over `model`'s trainable parameters, minimising `loss_of(rows)` over
    shuffled batches of pair rows; returns the mean loss of each epoch."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = -(-n_pairs // options.batch_size)
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate)
    total = steps_per_epoch * options.epochs
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP * total), total)
    losses, report_every = [], max(1, steps_per_epoch // 10)  # the running loss, ten times an epoch
    with progress_bar(f"{label} judge: epoch 1", total) as bar:
        for epoch in range(options.epochs):
            model.eval()  # no dropout: the new head's first signal, through an untrained pooler, is faint
            order, summed, started = rng.permutation(n_pairs), 0.0, time.perf_counter()
            for step in range(steps_per_epoch):
                value = loss_of(order[step * options.batch_size : (step + 1) * options.batch_size])
                optimizer.zero_grad()
                value.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                schedule.step()
                summed += float(value.detach())
                running = None
                if (step + 1) % report_every == 0 and step + 1 < steps_per_epoch:
                    running = f"{label} judge: epoch {epoch + 1} loss so far {summed / (step + 1):.4f}"
                bar.advance(description=running)
            losses.append(summed / steps_per_epoch)
            bar.describe(
                f"{label} judge: epoch {epoch + 1} loss {losses[-1]:.4f} ({time.perf_counter() - started:.0f} s)"
            )
    model.eval()
    return losses


def choose_blends(
    reranker: CrossEncoderReranker, texts: list[str], lists: list[np.ndarray], relevant: list[np.ndarray]
) -> dict[str, Any]:
    """Set the judges' blend weights from validation lists (each best first, in the order the judges will
    re-rank; `relevant`: bool per position; `texts`: each user's history as the judges read it): mono's over
    the whole list, then duo's over mono's blended top `duo_top` (lists with a relevant item there), if
    there is a duo judge. Returns what validation measured."""
    settings = reranker.settings
    scores = []
    with progress_bar("mono judge: validation users", len(lists)) as bar:
        for text, items in zip(texts, lists):
            scores.append(reranker.mono.score(text, items))
            bar.advance()
    settings.mono_alpha, ndcg = choose_alpha(scores, relevant)
    report = {"valid_users": len(lists), "mono_alpha": settings.mono_alpha, "mono_valid_ndcg@10": ndcg}
    if reranker.duo is None:
        return report
    wins, duo_relevant = [], []
    with progress_bar("duo judge: validation users", len(lists)) as bar:
        for text, items, mono_scores, hits in zip(texts, lists, scores, relevant):
            order = np.argsort(-blend(mono_scores, settings.mono_alpha), kind="stable")[: settings.duo_top]
            if hits[order].any():
                wins.append(reranker.duo.wins(text, np.asarray(items)[order]))
                duo_relevant.append(hits[order])
            bar.advance()
    settings.duo_alpha, ndcg = choose_alpha(wins, duo_relevant)
    return report | {"duo_valid_users": len(wins), "duo_alpha": settings.duo_alpha, "duo_valid_ndcg@10": ndcg}


def choose_alpha(scores: list[np.ndarray], relevant: list[np.ndarray]) -> tuple[float, dict[str, float]]:
    """The blend weight with the best mean NDCG@10 over validation lists (`relevant`: bool per list position),
    and the NDCG of the input order (alpha 0), the judge alone (alpha 1) and the chosen blend."""
    by_alpha = {float(a): np.mean([_ndcg(blend(s, a), r) for s, r in zip(scores, relevant)]) for a in ALPHAS}
    best = max(by_alpha, key=lambda a: (by_alpha[a], -a))
    return best, {"input": by_alpha[0.0], "judge": by_alpha[1.0], "blend": by_alpha[best]}


def _ndcg(scores: np.ndarray, relevant: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")[:NDCG_CUTOFF]
    gains = relevant[order] / np.log2(np.arange(len(order)) + 2.0)
    ideal = 1.0 / np.log2(np.arange(min(int(relevant.sum()), NDCG_CUTOFF)) + 2.0)
    return float(gains.sum() / ideal.sum()) if ideal.size else 0.0
