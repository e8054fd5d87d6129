"""Re-rank anyone's recommendations file with a trained judge, reading the split's train+valid histories."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.errors import DataError
from pairrank.eval.recs import RANK, SCORE
from pairrank.judges.judge import DUO, CrossEncoderReranker
from pairrank.judges.llm_reranker import LLMReranker, is_llm_judge
from pairrank.judges.ranker import JUDGE
from pairrank.progress import progress_bar


def load_judge(run: Path, data: SplitData, backend: str = "onnx") -> CrossEncoderReranker | LLMReranker:
    """The judge of a `mono`/`duo`/`llm-judge` run folder (or a judge folder itself), reading the split's item
    texts (titles for the LLM judge); a cross-encoder runs on ONNX Runtime (int8) or torch (`backend`)."""
    folder = run / JUDGE if (run / JUDGE).is_dir() else run
    if is_llm_judge(folder):
        return LLMReranker.load(folder, data.item_titles if any(data.item_titles) else data.item_text)
    return CrossEncoderReranker.load(folder, data.item_text, backend)


def rerank_frame(
    judge: CrossEncoderReranker | LLMReranker,
    data: SplitData,
    recs: pd.DataFrame,
    *,
    top: int | None,
    stage: str = DUO,
    path: Path,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """`recs` (PROTOCOL.md frame) with each user's top `top` (None: the judge's own) re-ordered by the judge; rows
    below keep their order.

    Returns the new frame (rank renumbered; score = new rank's negative), seconds and judge calls per user
    (the LLM judge's prompts; the cross-encoders' inputs). Users or items the split does not know are a
    `DataError` naming the file.
    """
    seen = data.train_and_valid()
    latest = seen.sequences(judge.settings.history_items, -1)
    recs = recs.sort_values([USER, RANK], kind="stable")
    users = data.users.index(recs[USER].astype(str).to_numpy(), missing="ignore")
    items = data.items.index(recs[ITEM].astype(str).to_numpy(), missing="ignore")
    for codes, column in ((users, USER), (items, ITEM)):
        if (codes < 0).any():
            row = int(np.argmax(codes < 0))
            raise DataError(f"{column} {recs[column].iloc[row]!r} is not in the split", path, field=column)
    repeated = pd.Series(users).astype(np.int64).mul(len(data.items)).add(items).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        raise DataError(f"user {recs[USER].iloc[row]!r} has item {recs[ITEM].iloc[row]!r} twice", path, field=ITEM)
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    order = np.empty(len(recs), dtype=np.int64)
    started = time.perf_counter()
    calls_before = judge.calls
    label = "llm-judge" if isinstance(judge, LLMReranker) else stage
    spans = list(zip(bounds[:-1], bounds[1:]))
    histories, lists = [latest[users[start]] for start, _ in spans], [items[start:end] for start, end in spans]
    with progress_bar(f"rerank with {label}", len(spans)) as bar:
        reranked_lists = judge.rerank_many(histories, lists, stage=stage, top=top, done=bar.advance)
    for (start, end), listed, reranked in zip(spans, lists, reranked_lists):
        position = {item: i for i, item in enumerate(listed)}
        order[start:end] = start + np.array([position[i] for i in reranked])
    seconds = (time.perf_counter() - started) / max(len(bounds) - 1, 1)
    out = recs.iloc[order][[USER, ITEM]].reset_index(drop=True)
    out[RANK] = np.concatenate([np.arange(1, end - start + 1) for start, end in zip(bounds[:-1], bounds[1:])])
    out[SCORE] = -out[RANK].astype(np.float32)
    return out, {"seconds_per_user": seconds, "calls_per_user": (judge.calls - calls_before) / max(len(bounds) - 1, 1)}
