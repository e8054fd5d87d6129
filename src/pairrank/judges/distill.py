"""Distillation: a slow LLM judge's verdicts label the training pairs of a fast cross-encoder (`--teacher`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pairrank.errors import DataError
from pairrank.judges.llm_reranker import LLMReranker, is_llm_judge
from pairrank.judges.training import Pairs
from pairrank.progress import progress_bar

JUDGE = "judge"  # the judge's folder inside an llm-judge run


def load_teacher(run: Path, item_titles: list[str], item_attributes: list[str] | None = None) -> LLMReranker:
    """The LLM judge of an `llm-judge` run folder (or a judge folder itself)."""
    folder = run / JUDGE if (run / JUDGE).is_dir() else run
    if not is_llm_judge(folder):
        raise DataError("a teacher is an llm-judge run folder (pairrank train --model llm-judge)", run)
    return LLMReranker.load(folder, item_titles, item_attributes)


def teacher_targets(teacher: LLMReranker, pairs: Pairs) -> np.ndarray:
    """The teacher's P(positive before negative) for each pair, both orders asked (the mean of P(p, n) and
    1 - P(n, p)); the pairs of one history go to the judge as one batch."""
    by_history: dict[tuple[int, ...], list[int]] = {}
    for row, items in enumerate(pairs.history_items):
        by_history.setdefault(tuple(int(i) for i in items), []).append(row)
    targets = np.empty(len(pairs), dtype=np.float32)
    judge = teacher.judge
    with progress_bar("distillation: the teacher's verdicts", len(pairs)) as bar:
        for items, rows in by_history.items():
            asked = [(int(pairs.positives[r]), int(pairs.negatives[r])) for r in rows]
            verdicts = judge.prefer(judge.history_text(items), asked + [(b, a) for a, b in asked])
            targets[rows] = (verdicts[: len(rows)] + 1.0 - verdicts[len(rows) :]) / 2
            bar.advance(len(rows))
    return targets
