"""Re-rank anyone's recommendations file with a trained judge, or a pipeline run, reading the split's
train+valid histories."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pairrank.data.idmap import IdMap
from pairrank.data.schema import ITEM, USER
from pairrank.data.split_data import SplitData
from pairrank.errors import ConfigError, DataError
from pairrank.eval.recs import RANK, SCORE
from pairrank.judges.judge import DUO, CrossEncoderReranker
from pairrank.judges.llm_reranker import LLMReranker, is_llm_judge
from pairrank.judges.ranker import JUDGE
from pairrank.models.folder import read_meta
from pairrank.models.registry import load_model
from pairrank.pipeline.model import Pipeline
from pairrank.progress import progress_bar

FUSION = "fusion"  # the stage that runs a pipeline's fusion alone


class PipelineReranker:
    """A pipeline run as a re-ranker of anyone's lists: its fusion orders each list's top M, then its judges
    (when the run has them) re-rank the fused top. Users and items are the split's, matched to the run's by id."""

    def __init__(self, pipeline: Pipeline, data: SplitData, folder: Path):
        self.pipeline, self.data, self.folder = pipeline, data, folder

    @property
    def calls(self) -> int:
        """Inputs the run's judges have read (0 without judges)."""
        return self.pipeline.reranker.calls if self.pipeline.reranker is not None else 0

    def stage(self, stage: str | None) -> str:
        """The pipeline's judge stage for a `rerank` stage: None runs the run's own, "fusion" none."""
        if stage is None:
            return self.pipeline.config.judge
        if stage == FUSION:
            return "none"
        judge = self.pipeline.config.judge
        if judge not in ("mono", "duo") or (stage == DUO and judge != DUO):
            raise ConfigError(f"{self.folder} is a pipeline with judge = {judge!r}: it has no {stage} stage")
        return stage

    def rerank_users(
        self,
        users: np.ndarray,
        lists: list[np.ndarray],
        *,
        stage: str | None,
        top: int | None,
        done: Callable[[int], None],
    ) -> list[np.ndarray]:
        """Each list (the split's item indices, best first) with its top `top` (None: the whole list) re-ordered
        for its user (the split's index); the rest keep their order."""
        run_users = self._run_indices(self.pipeline.users, self.data.users.id_of(users), USER)
        heads = [items[:top] if top else items for items in lists]
        width = max((len(head) for head in heads), default=0)
        padded = np.full((len(heads), width), -1, dtype=np.int64)
        for row, head in enumerate(heads):
            padded[row, : len(head)] = self._run_indices(self.pipeline.items, self.data.items.id_of(head), ITEM)
        ordered = self.pipeline.rank_lists(run_users, padded, stage=self.stage(stage), done=done)
        back = self.data.items.index(self.pipeline.items.id_of(np.maximum(ordered, 0)).ravel()).reshape(ordered.shape)
        return [
            np.concatenate([back[row][ordered[row] >= 0], items[len(head) :]])
            for row, (items, head) in enumerate(zip(lists, heads))
        ]

    def _run_indices(self, ids: IdMap, values: np.ndarray, column: str) -> np.ndarray:
        indices = ids.index(values, missing="ignore")
        if (indices < 0).any():
            unknown = values[int(np.argmax(indices < 0))]
            raise DataError(
                f"{column} {unknown!r} is not in this pipeline run: rerank with the split it was trained on",
                self.folder,
                field=column,
            )
        return indices


Reranker = CrossEncoderReranker | LLMReranker | PipelineReranker


def load_judge(run: Path, data: SplitData, backend: str = "auto", *, whole_pipeline: bool = True) -> Reranker:
    """The judge of a `mono`/`duo`/`llm-judge` run folder (or a judge folder itself), reading the split's item
    texts (titles for the LLM judge); a cross-encoder runs on ONNX Runtime (int8) or torch (`backend`; "auto"
    picks by the hardware). A pipeline run is a re-ranker itself (its fusion, then its judges), or with
    `whole_pipeline` false only its judges."""
    if whole_pipeline and (run / "config.json").is_file() and read_meta(run).model == Pipeline.name:
        return PipelineReranker(load_model(run), data, run)
    folder = run / JUDGE if (run / JUDGE).is_dir() else run
    if is_llm_judge(folder):
        titles = data.item_titles if any(data.item_titles) else data.item_text
        return LLMReranker.load(folder, titles, data.item_attributes)
    return CrossEncoderReranker.load(folder, data.item_text, backend)


def rerank_frame(
    judge: Reranker,
    data: SplitData,
    recs: pd.DataFrame,
    *,
    top: int | None,
    stage: str | None = None,
    path: Path,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """`recs` (PROTOCOL.md frame) with each user's top `top` (None: the judge's own; a pipeline's whole list)
    re-ordered by the judge; rows below keep their order. `stage`: "mono" or "duo" for the cross-encoders
    (default duo where trained), "fusion", "mono" or "duo" for a pipeline run (default its own `judge`).

    Returns the new frame (rank renumbered; score = new rank's negative), seconds and judge calls per user
    (the LLM judge's prompts; the cross-encoders' inputs). Users or items the split does not know are a
    `DataError` naming the file.
    """
    _check_stage(judge, stage)
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
    spans = list(zip(bounds[:-1], bounds[1:]))
    lists = [items[start:end] for start, end in spans]
    with progress_bar(f"rerank with {_label(judge, stage)}", len(spans)) as bar:
        if isinstance(judge, PipelineReranker):
            listed_users = users[[start for start, _ in spans]]
            reranked_lists = judge.rerank_users(listed_users, lists, stage=stage, top=top, done=bar.advance)
        else:
            latest = data.train_and_valid().sequences(judge.settings.history_items, -1)
            histories = [latest[users[start]] for start, _ in spans]
            reranked_lists = judge.rerank_many(histories, lists, stage=stage or DUO, top=top, done=bar.advance)
    for (start, end), listed, reranked in zip(spans, lists, reranked_lists):
        position = {item: i for i, item in enumerate(listed)}
        order[start:end] = start + np.array([position[i] for i in reranked])
    seconds = (time.perf_counter() - started) / max(len(bounds) - 1, 1)
    out = recs.iloc[order][[USER, ITEM]].reset_index(drop=True)
    out[RANK] = np.concatenate([np.arange(1, end - start + 1) for start, end in zip(bounds[:-1], bounds[1:])])
    out[SCORE] = -out[RANK].astype(np.float32)
    return out, {"seconds_per_user": seconds, "calls_per_user": (judge.calls - calls_before) / max(len(bounds) - 1, 1)}


def _check_stage(judge: Reranker, stage: str | None) -> None:
    if isinstance(judge, PipelineReranker):
        judge.stage(stage)
    elif stage == FUSION:
        raise ConfigError("only a pipeline run has a fusion stage")
    elif stage == DUO and isinstance(judge, CrossEncoderReranker) and judge.duo is None:
        raise ConfigError("this run holds no duo judge: train it with --model duo, or rerank with --model mono")


def _label(judge: Reranker, stage: str | None) -> str:
    if isinstance(judge, PipelineReranker):
        judged = judge.stage(stage)
        return "pipeline (fusion)" if judged == "none" else f"pipeline (fusion + {judged})"
    return "llm-judge" if isinstance(judge, LLMReranker) else stage or DUO
