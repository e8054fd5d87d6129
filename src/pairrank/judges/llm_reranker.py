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
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pairrank.errors import DataError
from pairrank.judges.aggregate import Ranking, all_pairs, heap_top, sliding
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.judge import blend, promote
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_prompts import Prompts, PromptSettings, truncated_titles
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
    ):
        self.judge, self.mode, self.aggregation, self.settle = judge, mode, aggregation, settle
        self.top, self.finetuned, self.alpha = top, finetuned, alpha
        self.calls = 0

    @property
    def settings(self) -> PromptSettings:
        return self.judge.settings

    def judged(self, history: str, items: Sequence[int]) -> Ranking:
        """The judge's own ranking of `items` for a history block (`LLMJudge.history_text`), with a score per
        item: the list-wise letters' log-probabilities, all pairs' wins, or else -log2(rank + 2) of the
        aggregation's order."""
        if self.mode == "listwise":
            scores = self.judge.list_scores(history, items)
            return Ranking(np.argsort(-scores, kind="stable"), calls=1, scores=scores)
        if self.aggregation == "allpairs":
            return all_pairs(self.judge, history, items)
        if self.aggregation == "sliding":
            ranking = sliding(self.judge, history, items, self.settle)
        else:
            ranking = heap_top(self.judge, history, items, self.settle)
        ranking.scores = np.empty(len(items))
        ranking.scores[ranking.order] = -np.log2(np.arange(len(items)) + 2.0)
        return ranking

    def rerank(self, history: Sequence[int], items: Sequence[int], *, stage: str | None = None, top: int | None = None):
        """`items` (best first) with the top M (`top`, default the judge's) re-ordered by the judge's scores blended
        with their order (`alpha`); the rest keep their order. `stage` is the cross-encoders' (mono/duo) and means
        nothing here."""
        items = np.asarray(items, dtype=np.int64)
        head, tail = items[: top or self.top], items[top or self.top :]
        if len(head) < 2:
            return items
        ranking = self.judged(self.judge.history_text(history), head)
        self.calls += ranking.calls
        return np.concatenate([head[np.argsort(-blend(ranking.scores, self.alpha), kind="stable")], tail])

    def promote(self, scores: np.ndarray, top: np.ndarray, histories: np.ndarray, stage: str | None = None) -> None:
        """Re-rank each row's `top` items for its history, in place (`judges.judge.promote`); `stage` as in
        `rerank`."""
        promote(self.rerank, scores, top, histories)

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
        }
        (folder / SETTINGS).write_text(json.dumps(settings, indent=2))

    @classmethod
    def load(cls, folder: Path, item_titles: Sequence[str]) -> LLMReranker:
        """The judge saved in `folder`: its base model (loaded again from where it was), its adapters, reading
        items by `item_titles` (one per item index)."""
        if not (folder / SETTINGS).is_file():
            raise DataError(f"not an LLM judge folder: no {SETTINGS}", folder)
        saved = json.loads((folder / SETTINGS).read_text())
        if saved.get("mode") not in MODES or saved.get("aggregation") not in AGGREGATIONS:
            raise DataError(f"unknown mode {saved.get('mode')!r} or aggregation {saved.get('aggregation')!r}", folder)
        prompt = PromptSettings(**saved["prompt"])
        if saved.get("server"):
            titles = truncated_titles(item_titles, None, prompt.title_tokens)
            judge = ServerJudge(Prompts(titles, prompt), server_options(saved["server"]))
        else:
            lm = CausalLM.load(saved["model"])
            if saved["finetuned"]:
                load_adapters(lm, folder)
            judge = LLMJudge(lm, item_titles, prompt)
        options = {name: saved[name] for name in ("mode", "aggregation", "settle", "top", "finetuned", "alpha")}
        return cls(judge, **options)


def is_llm_judge(folder: Path) -> bool:
    return (folder / SETTINGS).is_file()
