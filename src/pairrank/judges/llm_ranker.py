"""A retriever followed by the LLM pair-wise judge, as a model: `--model llm-judge`.

Fitting: the retriever fits on train; the judge (a local causal LM, by
default SmolLM2-135M-Instruct) is fine-tuned with LoRA on pairs from the train
sequences (each user's last items as positives, the items before them as
history, against hard negatives from the retriever's top M; list-wise, each
positive among M - 1 of them), or kept zero-shot with `finetune = false`; validation users then set how much
its order is trusted over the retriever's (`alpha`). The final run refits the retriever on train+valid and
keeps the judge. The judge alone (`judge/`) is what
`pairrank rerank --judge RUNDIR` loads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pairrank.data.dataset import Dataset
from pairrank.errors import ConfigError, DataError
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.judged import JudgedRanker
from pairrank.judges.llm_config import LLMJudgeConfig
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_prompts import Prompts
from pairrank.judges.llm_reranker import LLMReranker
from pairrank.judges.llm_training import LoraOptions, add_adapters, train_listwise_judge, train_llm_judge
from pairrank.judges.server_judge import ServerJudge, server_options
from pairrank.judges.training import TrainingOptions, choose_alpha, sample_pairs
from pairrank.models.registry import load_model, model_class
from pairrank.progress import progress_bar

JUDGE, RETRIEVER, REPORT = "judge", "retriever", "judge_report.json"


class LLMRanker(JudgedRanker):
    name = "llm-judge"
    Config = LLMJudgeConfig

    # -- fitting ---------------------------------------------------------
    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        if not self.item_titles or not any(self.item_titles):
            raise DataError(f"{self.name} reads item titles, and this dataset has none")
        if self.reranker is None and valid is None:
            raise ConfigError(f"{self.name} chooses its blend on validation users: fit(train, valid)")
        self.latest = train.sequences(self.config.history_items, -1)
        started = time.perf_counter()
        self.retriever = model_class(self.config.retriever)(self.retriever_config).fit(train, valid)
        self.report["retriever_fit_seconds"] = round(time.perf_counter() - started, 1)
        if self.reranker is None:
            self._fit_judge(train)
            self.choose_blend(valid)

    def choose_blend(self, valid: Dataset) -> None:
        """Set the judge's blend with the retriever's order (`alpha`) to the best NDCG@10 over seeded validation
        users whose valid item is in the retriever's top M (histories from train: the judge never sees the
        answer)."""
        lists, relevant = self._validation_lists(valid)
        histories = [self.reranker.judge.history_text(self.latest[user]) for user in lists]
        with progress_bar("llm judge: validation users", len(lists)) as bar:
            rankings = self.reranker.judged_many(histories, list(lists.values()), bar.advance)
        scores = [ranking.scores for ranking in rankings]
        self.reranker.alpha, ndcg = choose_alpha(scores, relevant)
        self.report |= {"valid_users": len(lists), "alpha": self.reranker.alpha, "valid_ndcg@10": ndcg}

    def _fit_judge(self, train: Dataset) -> None:
        config = self.config
        if config.server is not None:  # zero-shot: nothing to load or train here
            prompts = Prompts.of_items(self.item_titles, self.item_attributes, None, config.prompt())
            judge = ServerJudge(prompts, server_options(config.server))
        else:
            started = time.perf_counter()
            lm = CausalLM.load(config.model)
            judge = LLMJudge(lm, self.item_titles, config.prompt(), item_attributes=self.item_attributes)
            self.report |= {"load_seconds": round(time.perf_counter() - started, 1), "device": str(judge.lm.device)}
            if config.finetune:
                self._finetune(judge, train)
        self.reranker = LLMReranker(
            judge,
            mode=config.mode,
            aggregation=config.aggregation,
            settle=config.settle,
            top=config.top,
            finetuned=config.finetune,
            batch_users=config.batch_users,
            precision=config.precision,
        )

    def _finetune(self, judge: LLMJudge, train: Dataset) -> None:
        """LoRA adapters on the judge, trained on pairs (or lists) from the train sequences."""
        config = self.config
        lora = LoraOptions(
            config.lora_rank, config.lora_alpha, tuple(config.lora_modules), config.seed, config.lora_blocks
        )
        add_adapters(judge.lm, lora)
        listwise = config.mode == "listwise"
        pairs = sample_pairs(
            train,
            self.pairs_retriever(train),
            judge.history_text,
            history_items=config.history_items,
            positions=config.positions,
            negatives=config.top - 1 if listwise else config.negatives,
            top=config.top,
            max_pairs=config.max_pairs,
            seed=config.seed,
            listed_only=config.positives == "listed",
            popularity_matched=config.negatives_from == "popularity",
            grouped=listwise,
        )
        if not len(pairs):
            raise DataError("no training pairs: every user needs at least two train items")
        started = time.perf_counter()
        options = TrainingOptions(config.epochs, config.learning_rate, config.batch_size, config.seed)
        losses = (train_listwise_judge if listwise else train_llm_judge)(judge, pairs, options)
        seconds = round(time.perf_counter() - started)
        self.report |= {"pairs": len(pairs), "losses": losses, "finetune_seconds": seconds}

    # -- persistence -----------------------------------------------------
    def _write(self, directory: Path, files: dict[str, str]) -> None:
        super()._write(directory, {**files, REPORT: json.dumps(self.report, indent=2, default=float)})
        (directory / RETRIEVER).mkdir(parents=True)
        self.retriever._write(directory / RETRIEVER, {})
        self.reranker.save(directory / JUDGE)

    @classmethod
    def load(cls, directory: str | Path) -> LLMRanker:
        directory = Path(directory)
        model = super().load(directory)
        model.retriever = load_model(directory / RETRIEVER)
        model.reranker = LLMReranker.load(directory / JUDGE, model.item_titles, model.item_attributes)
        model.report = json.loads((directory / REPORT).read_text()) if (directory / REPORT).exists() else {}
        return model
