"""Re-ranking a list with the LLM judge's pair-wise verdicts, and the judge as a folder.

`LLMReranker.rerank(history, items)` re-orders the top M of a ranked list by
one of `judges.aggregate`'s aggregations (all pairs, sliding window, heap
top-k; every comparison asks both orders), or list-wise by one prompt, blended
with the list's own order as the cross-encoders are (`alpha`: 1 = the judge
alone, 0 = the input order; chosen on validation users when the judge is
trained). A saved judge is `llm_judge.json` (the model it reads, or the server
it asks, the prompt, the aggregation, the blend) and, when fine-tuned, its
LoRA adapters as safetensors beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pairrank.errors import DataError
from pairrank.judges.aggregate import PairJudge, Ranking, all_pairs, heap_top, sliding
from pairrank.judges.backend import LLMPrecision, resolve_precision
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.gathering import BATCH_USERS, gathered_map
from pairrank.judges.judge import blend, promote
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_prompts import Prompts, PromptSettings
from pairrank.judges.llm_training import load_adapters, save_adapters
from pairrank.judges.server_judge import ServerJudge, server_options

SETTINGS = "llm_judge.json"
MODES = ("pairwise", "listwise")
AGGREGATIONS = ("allpairs", "sliding", "heap")


class LLMReranker:
    """The LLM judge's re-ranking of a list's top M, blended with the list's order by `alpha`; `calls` counts the
    prompts it has asked."""

    def __init__(
        self,
        judge: LLMJudge | ServerJudge,
        *,
        mode: str,
        aggregation: str,
        settle: int,
        top: int,
        finetuned: bool,
        alpha: float = 1.0,
        batch_users: int = BATCH_USERS,
        precision: LLMPrecision = "float32",
    ):
        self.judge, self.mode, self.aggregation, self.settle = judge, mode, aggregation, settle
        self.top, self.finetuned, self.alpha, self.batch_users = top, finetuned, alpha, batch_users
        self.precision = precision  # as configured: "auto" is saved as "auto" and decided where it loads
        self.calls = 0
        if isinstance(judge, LLMJudge):
            judge.lm.score_in(getattr(torch, resolve_precision(precision)))

    @property
    def settings(self) -> PromptSettings:
        return self.judge.settings

    def judged(self, history: str, items: Sequence[int], judge: PairJudge | None = None) -> Ranking:
        """The judge's own ranking of `items` for a history block (`LLMJudge.history_text`), with a score per
        item: the list-wise letters' log-probabilities, all pairs' wins, or else -log2(rank + 2) of the
        aggregation's order. `judge` answers the pair-wise questions in the judge's place (`judged_many`'s)."""
        if self.mode == "listwise":
            scores = self.judge.list_scores(history, items)
            return Ranking(np.argsort(-scores, kind="stable"), calls=1, scores=scores)
        judge = judge or self.judge
        if self.aggregation == "allpairs":
            return all_pairs(judge, history, items)
        if self.aggregation == "sliding":
            ranking = sliding(judge, history, items, self.settle)
        else:
            ranking = heap_top(judge, history, items, self.settle)
        ranking.scores = np.empty(len(items))
        ranking.scores[ranking.order] = -np.log2(np.arange(len(items)) + 2.0)
        return ranking

    def judged_many(
        self, histories: Sequence[str], lists: Sequence[Sequence[int]], done: Callable[[], None] | None = None
    ) -> list[Ranking]:
        """`judged` for each (history block, items): pair-wise, `batch_users` users at a time with their
        comparisons asked together (`judges.gathering`); one by one for one list, when list-wise, when
        `batch_users` is 1, or for a judge that answers one user at a time (a server's, which runs its own
        concurrent requests)."""
        gather = self.mode == "pairwise" and hasattr(self.judge, "prefer_many")
        if not gather or self.batch_users < 2 or len(lists) < 2:
            rankings = []
            for history, items in zip(histories, lists):
                rankings.append(self.judged(history, items))
                if done is not None:
                    done()
            return rankings
        return gathered_map(
            self.judge,
            lambda judge, index: self.judged(histories[index], lists[index], judge),
            len(lists),
            self.batch_users,
            done,
        )

    def rerank(
        self, history: Sequence[int], items: Sequence[int], *, stage: str | None = None, top: int | None = None
    ) -> np.ndarray:
        """`items` (best first) with the top M (`top`, default the judge's) re-ordered by the judge's scores blended
        with their order (`alpha`); the rest keep their order. `stage` is the cross-encoders' (mono/duo) and means
        nothing here."""
        return self.rerank_many([history], [items], top=top)[0]

    def rerank_many(
        self,
        histories: Sequence[Sequence[int]],
        lists: Sequence[Sequence[int]],
        *,
        stage: str | None = None,
        top: int | None = None,
        done: Callable[[], None] | None = None,
    ) -> list[np.ndarray]:
        """`rerank` for each (history, items), the users' comparisons asked together (`judged_many`); `done()`
        after each user; `stage` as in `rerank`."""
        lists = [np.asarray(items, dtype=np.int64) for items in lists]
        heads = [items[: top or self.top] for items in lists]
        judged = [index for index, head in enumerate(heads) if len(head) >= 2]
        rankings = self.judged_many(
            [self.judge.history_text(histories[index]) for index in judged], [heads[index] for index in judged], done
        )
        reranked = list(lists)
        for index, ranking in zip(judged, rankings):
            self.calls += ranking.calls
            order = np.argsort(-blend(ranking.scores, self.alpha), kind="stable")
            reranked[index] = np.concatenate([heads[index][order], lists[index][len(heads[index]) :]])
        if done is not None:
            for _ in range(len(lists) - len(judged)):
                done()
        return reranked

    def promote(self, scores: np.ndarray, top: np.ndarray, histories: np.ndarray, stage: str | None = None) -> None:
        """Re-rank each row's `top` items for its history, in place (`judges.judge.promote`), the rows'
        comparisons asked together; `stage` as in `rerank`."""
        promote(self.rerank_many, scores, top, histories)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.finetuned:
            save_adapters(self.judge.lm, folder)
        source = {"server": asdict(self.judge.options)} if isinstance(self.judge, ServerJudge) else {}
        settings = {
            **source,
            "model": None if source else self.judge.lm.source,
            "prompt": asdict(self.settings),
            "mode": self.mode,
            "aggregation": self.aggregation,
            "settle": self.settle,
            "top": self.top,
            "finetuned": self.finetuned,
            "alpha": self.alpha,
            "batch_users": self.batch_users,
            "precision": self.precision,
        }
        (folder / SETTINGS).write_text(json.dumps(settings, indent=2))

    @classmethod
    def load(
        cls, folder: Path, item_titles: Sequence[str], item_attributes: Sequence[str] | None = None
    ) -> LLMReranker:
        """The judge saved in `folder`: its base model (loaded again from where it was), its adapters, reading
        items by `item_titles` and, where its prompt asks, `item_attributes` (one per item index)."""
        if not (folder / SETTINGS).is_file():
            raise DataError(f"not an LLM judge folder: no {SETTINGS}", folder)
        saved = json.loads((folder / SETTINGS).read_text())
        if saved.get("mode") not in MODES or saved.get("aggregation") not in AGGREGATIONS:
            raise DataError(f"unknown mode {saved.get('mode')!r} or aggregation {saved.get('aggregation')!r}", folder)
        prompt = PromptSettings(**saved["prompt"])
        if saved.get("server"):
            judge = ServerJudge(
                Prompts.of_items(item_titles, item_attributes, None, prompt), server_options(saved["server"])
            )
        else:
            lm = CausalLM.load(saved["model"])
            if saved["finetuned"]:
                load_adapters(lm, folder)
            judge = LLMJudge(lm, item_titles, prompt, item_attributes=item_attributes)
        options = {name: saved[name] for name in ("mode", "aggregation", "settle", "top", "finetuned", "alpha")}
        batch_users, precision = saved.get("batch_users", BATCH_USERS), saved.get("precision", "float32")
        return cls(judge, **options, batch_users=batch_users, precision=precision)


def is_llm_judge(folder: Path) -> bool:
    return (folder / SETTINGS).is_file()
