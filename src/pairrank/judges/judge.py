"""Re-ranking with cross-encoder judges: mono scores each candidate, duo compares pairs in both orders.

`CrossEncoderReranker.rerank(history, items)` re-orders a ranked list: mono
re-scores its top M, blended with the list's own order; duo then re-orders
the top m by pair-wise wins, blended with mono's order. Each blend weight
(`alpha`, 1 = the judge alone, 0 = the input order) is chosen on validation
users when the judge is trained, and saved with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pairrank.errors import DataError
from pairrank.judges.aggregate import all_pairs
from pairrank.judges.backend import resolve_backend
from pairrank.judges.inputs import JudgeInputs
from pairrank.judges.network import CrossEncoderNet, OnnxNet, onnx_export

SETTINGS = "judge.json"
MONO, DUO = "mono", "duo"
RERANKED = 1e6  # `promote` lifts re-ranked items to this score and above (ranking scores stay far below)
INFERENCE_BATCH = 64
INPUT_FORMAT = "prefix"  # how the saved weights read their inputs: the history encoded once, as a prefix


@dataclass
class JudgeSettings:
    """What a saved judge needs besides its weights: its inputs and the blend weights chosen on validation."""

    item_tokens: int
    history_items: int
    top: int
    duo_top: int
    mono_alpha: float = 1.0
    duo_alpha: float | None = None  # None: no duo stage
    input_format: str = INPUT_FORMAT


def blend(judge_scores: np.ndarray, alpha: float) -> np.ndarray:
    """Scores mixing a judge's (standardised) scores with the input order's prior -log2(rank + 2)."""
    prior = -np.log2(np.arange(len(judge_scores)) + 2.0)
    return alpha * _standard(np.asarray(judge_scores, dtype=np.float64)) + (1 - alpha) * _standard(prior)


def promote(
    rerank_lists: Callable[[np.ndarray, list[np.ndarray]], list[np.ndarray]],
    scores: np.ndarray,
    top: np.ndarray,
    histories: np.ndarray,
) -> None:
    """Re-rank each row's `top` items (best first, -1 padded) for its history with `rerank_lists(histories,
    lists)`, in place: they take the scores RERANKED + (len .. 1), above every other item, in their new order."""
    for row, reranked in enumerate(rerank_lists(histories, [items[items >= 0] for items in top])):
        scores[row, reranked] = RERANKED + np.arange(len(reranked), 0, -1, dtype=np.float32)


def _rows(history: str, second_segments: Sequence) -> tuple[list[str], Sequence]:
    """The same history beside each second segment (a candidate, or a pair of them)."""
    return [history] * len(second_segments), second_segments


def _standard(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


class MonoJudge:
    """Scores each (history, candidate) pair with one cross-encoder pass."""

    def __init__(self, network: CrossEncoderNet | OnnxNet, inputs: JudgeInputs):
        self.network, self.inputs = network, inputs

    def score(self, history: str, candidates: Sequence[int]) -> np.ndarray:
        parts = [
            self.network.predict(self.inputs.mono(*_rows(history, candidates[start : start + INFERENCE_BATCH]))).numpy()
            for start in range(0, len(candidates), INFERENCE_BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class DuoJudge:
    """P(a before b) for a history; `wins` asks every pair in both orders, which cancels position bias."""

    def __init__(self, network: CrossEncoderNet | OnnxNet, inputs: JudgeInputs):
        self.network, self.inputs = network, inputs

    def prefer(self, history: str, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        parts = [
            torch.sigmoid(
                self.network.predict(self.inputs.duo(*_rows(history, pairs[start : start + INFERENCE_BATCH])))
            )
            for start in range(0, len(pairs), INFERENCE_BATCH)
        ]
        return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.float32)

    def wins(self, history: str, items: Sequence[int]) -> np.ndarray:
        """Each item's summed preference over every other item, both orders asked: [len(items)]."""
        return all_pairs(self, history, items, soft=True).scores


class CrossEncoderReranker:
    """Mono (and duo, when trained) re-ranking of ranked lists, as saved by `save`."""

    def __init__(self, settings: JudgeSettings, mono: MonoJudge, duo: DuoJudge | None = None):
        self.settings, self.mono, self.duo = settings, mono, duo
        self.calls = 0  # inputs the judges have read: a candidate for mono, an ordered pair for duo

    @property
    def inputs(self) -> JudgeInputs:
        return self.mono.inputs

    @property
    def top(self) -> int:
        """How many of a list's best items mono re-scores."""
        return self.settings.top

    def rerank(
        self, history: Sequence[int], items: Sequence[int], *, stage: str = DUO, top: int | None = None
    ) -> np.ndarray:
        """`items` (best first) re-ordered: mono over the top M (`top`, default the trained one); duo over the
        top m if trained and `stage` is duo. Items below the top M keep their order."""
        items = np.asarray(items, dtype=np.int64)
        text = self.inputs.history(history)
        top = top or self.settings.top
        head, tail = items[:top], items[top:]
        order = np.argsort(-blend(self.mono.score(text, head), self.settings.mono_alpha), kind="stable")
        head = head[order]
        self.calls += len(head)
        if stage == DUO and self.duo is not None and len(head) > 1:
            top = head[: self.settings.duo_top]
            self.calls += len(top) * (len(top) - 1)
            wins = self.duo.wins(text, top)
            head = np.concatenate(
                [top[np.argsort(-blend(wins, self.settings.duo_alpha), kind="stable")], head[len(top) :]]
            )
        return np.concatenate([head, tail])

    def rerank_many(
        self,
        histories: Sequence[Sequence[int]],
        lists: Sequence[Sequence[int]],
        *,
        stage: str = DUO,
        top: int | None = None,
        done: Callable[[], None] | None = None,
    ) -> list[np.ndarray]:
        """`rerank` for each (history, items), one user after another; `done()` after each."""
        reranked = []
        for history, items in zip(histories, lists):
            reranked.append(self.rerank(history, items, stage=stage, top=top))
            if done is not None:
                done()
        return reranked

    def promote(self, scores: np.ndarray, top: np.ndarray, histories: np.ndarray, stage: str) -> None:
        """Re-rank each row's `top` items for its history, in place (`promote`)."""
        promote(lambda histories, lists: self.rerank_many(histories, lists, stage=stage), scores, top, histories)

    def save(self, folder: Path) -> None:
        """Each judge as a Hugging Face folder, and the settings (the ONNX export is made when first loaded)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SETTINGS).write_text(json.dumps(asdict(self.settings), indent=2))
        for name, judge in ((MONO, self.mono), (DUO, self.duo)):
            if judge is not None:
                judge.network.save(folder / name)

    @classmethod
    def load(cls, folder: Path, item_text: Sequence[str], backend: str = "auto") -> CrossEncoderReranker:
        """The judge saved in `folder`, reading items by `item_text` (one text per item index), run by ONNX
        Runtime (int8) or torch; "auto" picks by the hardware (`resolve_backend`)."""
        if not (folder / SETTINGS).exists():
            raise DataError(f"not a judge folder: no {SETTINGS}", folder)
        backend = resolve_backend(backend)
        saved = json.loads((folder / SETTINGS).read_text())
        if saved.get("input_format") != INPUT_FORMAT:  # older judges read one joint sequence
            raise DataError("this judge reads another input format than this PairRank's: retrain it", folder)
        settings = JudgeSettings(**saved)
        mono_net = CrossEncoderNet.load(folder / MONO)
        inputs = JudgeInputs(
            mono_net.tokenizer, item_text, item_tokens=settings.item_tokens, history_items=settings.history_items
        )

        def network(name: str) -> CrossEncoderNet | OnnxNet:
            net = mono_net if name == MONO else CrossEncoderNet.load(folder / name)
            return OnnxNet(onnx_export(net, folder / name), net.tokenizer) if backend == "onnx" else net

        duo = DuoJudge(network(DUO), inputs) if settings.duo_alpha is not None else None
        return cls(settings, MonoJudge(network(MONO), inputs), duo)
