"""Does the LLM judge learn from pairs at all, and from which? Held-out pair-wise accuracy, zero-shot and after
LoRA fine-tuning on easy, train-fit or listed pairs, beside the cross-encoders and simple yardsticks.

    .venv/bin/python benchmarks/llm_learnability.py [--dataset ml-latest-small] [--pairs 640] [--held-out 400]
        [--train easy,train-fit,listed] [--config FILE] [--out FILE]

On the `loo` split of the pipeline benchmark. Training pairs from the train sequences (`sample_pairs`, as
`pairrank train --model llm-judge` draws them): `train-fit`, the old drawing (each user's last 2 train items as
positives against 2 of the top 20 of EASE fit on all of train, for the history before each positive); `easy`,
the same histories and positives against items drawn uniformly outside each history; `listed`, the drawing the
cross-encoders now default to (positives from each user's last 8 train items, kept only where a copy of EASE fit
without those items lists them in its top 20, against 2 others of that top 20). `--pairs` of each (a seeded
sample). Held-out pairs
come from seeded validation users, histories from train: `listed`, the valid item where EASE (fit on train, which
never saw it) lists it in its top 20, against another of that top 20 (the pairs a re-ranker of EASE's list faces);
`hard`, any user's valid item against one of EASE's top 20; `easy`, against a uniform draw outside the history.
Every LLM judge answers both orders of each pair; a pair is right when the mean of P(positive first) and
1 - P(negative first) is above one half (a tie counts half). Judges: SmolLM2-135M-Instruct zero-shot, then fresh
LoRA adapters fine-tuned on each kind of training pairs (`--train`) with the default `llm-judge` options
(`--config` adds to them), each also scored on 200 of its own training pairs. Yardsticks on the same held-out
pairs: popularity in train, EASE's score, and the mono and duo cross-encoders of the runs that
`benchmarks/rerank.py` keeps (trained on the same train part): `duo-loo` and the pipeline run's judges, where
they exist, each with its pairs' drawing as its config.json records it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dev_datasets import DATASETS, ROOT, bench_split
from results_text import header, out_option

from pairrank.data.dataset import Dataset
from pairrank.experiments.config_file import read_config
from pairrank.experiments.reranking import load_judge
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.judge import CrossEncoderReranker
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.llm_training import LoraOptions, add_adapters, train_llm_judge
from pairrank.judges.training import Pairs, TrainingOptions, sample_pairs
from pairrank.models.base import Recommender
from pairrank.models.registry import model_class

TOP = 20  # hard negatives come from EASE's top 20, the list the judge re-ranks
TRAIN_SAMPLE = 200  # training pairs each fine-tuned judge is scored on
KINDS = ("listed", "hard", "easy")  # held-out pairs
TRAINING = {  # the pairs' drawing: positions, listed positives only, and the EASE ranking them (all of train, unseen)
    "train-fit": (2, False, "train"),
    "listed": (8, True, "unseen"),
}


@dataclass
class HeldOut:
    """Held-out pairs: each validation user's train history (item indices), valid item and negatives; `listed`
    holds a negative where EASE lists the valid item, -1 elsewhere."""

    users: np.ndarray
    histories: list[np.ndarray]
    positives: np.ndarray
    hard: np.ndarray
    easy: np.ndarray
    listed: np.ndarray

    def kind(self, kind: str) -> tuple[list[int], np.ndarray]:
        """The rows and negatives of one kind of pairs."""
        negatives = getattr(self, kind)
        rows = np.flatnonzero(negatives >= 0)
        return list(rows), negatives[rows]


def uniform_outside(rng: np.random.Generator, n_items: int, taken: np.ndarray) -> int:
    """An item drawn uniformly from the catalogue, outside `taken`."""
    while True:
        item = int(rng.integers(n_items))
        if item not in taken:
            return item


def easy_twins(pairs: Pairs, n_items: int, seed: int) -> Pairs:
    """The same histories and positives against uniform draws outside each history (and the positive)."""
    rng = np.random.default_rng(seed)
    negatives = [
        uniform_outside(rng, n_items, np.append(items, positive))
        for items, positive in zip(pairs.history_items, pairs.positives)
    ]
    return Pairs(pairs.histories, pairs.positives, np.asarray(negatives), pairs.history_items)


def held_out_pairs(train: Dataset, valid: Dataset, ease: Recommender, count: int, seed: int) -> HeldOut:
    """Seeded validation users whose valid item EASE has not ranked first (so a hard negative exists)."""
    rng = np.random.default_rng(seed)
    users = rng.permutation(valid.active_users())
    candidates, _ = ease.recommend(users, TOP + 1)
    truth = valid.matrix
    kept, histories, positives, hard, easy, listed = [], [], [], [], [], []
    for user, ranked, history in zip(users, candidates, train.user_sequences(users)):
        positive = int(truth.indices[truth.indptr[user]])
        pool = ranked[(ranked >= 0) & (ranked != positive)][:TOP]
        if not history.size or not pool.size:
            continue
        kept.append(user)
        histories.append(history)
        positives.append(positive)
        hard.append(int(rng.choice(pool)))
        easy.append(uniform_outside(rng, train.n_items, np.append(history, positive)))
        listed.append(int(rng.choice(pool)) if positive in ranked[:TOP] else -1)
        if len(kept) == count:
            break
    arrays = (np.asarray(values) for values in (kept, positives, hard, easy, listed))
    users, positives, hard, easy, listed = arrays
    return HeldOut(users, histories, positives, hard, easy, listed)


def verdicts(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Accuracy, log-loss and first-position rate from P(positive first) and P(negative first) per pair."""
    p = np.clip((first + 1.0 - second) / 2.0, 1e-6, 1 - 1e-6)
    right = np.where(np.isclose(p, 0.5), 0.5, (p > 0.5).astype(float))
    return {
        "accuracy": float(right.mean()),
        "log_loss": float(-np.log(p).mean()),
        "p_first": float(np.concatenate([first, second]).mean()),
        "pairs": len(p),
    }


def llm_verdicts(judge: LLMJudge, histories: list[str], positives: np.ndarray, negatives: np.ndarray) -> dict:
    requests = [(h, [(int(p), int(n)), (int(n), int(p))]) for h, p, n in zip(histories, positives, negatives)]
    answers = np.stack(judge.prefer_many(requests))
    return verdicts(answers[:, 0], answers[:, 1])


def score_verdicts(scores_pos: np.ndarray, scores_neg: np.ndarray) -> dict[str, float]:
    """Accuracy of a point-wise score (higher first); ties count half."""
    right = np.where(scores_pos == scores_neg, 0.5, (scores_pos > scores_neg).astype(float))
    return {"accuracy": float(right.mean()), "pairs": len(right)}


def cross_encoder_rows(reranker: CrossEncoderReranker, label: str, held: HeldOut) -> dict[str, dict]:
    texts = [reranker.inputs.history(history) for history in held.histories]
    rows = {}
    for kind in KINDS:
        users, negatives = held.kind(kind)
        mono = np.array([reranker.mono.score(texts[u], [held.positives[u], n]) for u, n in zip(users, negatives)])
        rows[f"mono cross-encoder ({label}), {kind}"] = score_verdicts(mono[:, 0], mono[:, 1])
        if reranker.duo is not None:
            duo = np.array(
                [
                    reranker.duo.prefer(texts[u], [(held.positives[u], n), (n, held.positives[u])])
                    for u, n in zip(users, negatives)
                ]
            )
            rows[f"duo cross-encoder ({label}), {kind}"] = verdicts(duo[:, 0], duo[:, 1])
    return rows


def judge_rows(judge: LLMJudge, label: str, held: HeldOut, own: Pairs | None) -> dict[str, dict]:
    texts = [judge.history_text(history) for history in held.histories]
    rows = {}
    for kind in KINDS:
        users, negatives = held.kind(kind)
        rows[f"{label}, {kind}"] = llm_verdicts(judge, [texts[u] for u in users], held.positives[users], negatives)
    if own is not None:
        sample = slice(0, TRAIN_SAMPLE)
        rows[f"{label}, its own training pairs"] = llm_verdicts(
            judge, own.histories[sample], own.positives[sample], own.negatives[sample]
        )
    for row, value in rows.items():
        print(f"{row}: {value}", flush=True)
    return rows


def fine_tuned(options: dict, titles: list[str], pairs: Pairs) -> tuple[LLMJudge, dict]:
    """A fresh judge with LoRA adapters trained on `pairs` as `llm-judge` trains them."""
    config = LLMRanker(options).config
    judge = LLMJudge(CausalLM.load(config.model), titles, config.prompt())
    add_adapters(
        judge.lm,
        LoraOptions(config.lora_rank, config.lora_alpha, tuple(config.lora_modules), config.seed, config.lora_blocks),
    )
    started = time.perf_counter()
    training = TrainingOptions(config.epochs, config.learning_rate, config.batch_size, config.seed)
    losses = train_llm_judge(judge, pairs, training)
    return judge, {"losses": [round(x, 4) for x in losses], "seconds": round(time.perf_counter() - started)}


def training_pairs(kind: str, train: Dataset, history_text, history_items: int, pairs_count: int, seed: int) -> Pairs:
    """`--pairs` training pairs of one kind (`TRAINING`, or `easy`: the train-fit pairs' easy twins)."""
    positions, listed_only, fit_on = TRAINING["train-fit" if kind == "easy" else kind]
    keep = ~train.latest_rows(positions, at_most_half=False) if fit_on == "unseen" else np.ones(len(train), bool)
    retriever = model_class("ease")().fit(train.subset(keep))
    pairs = sample_pairs(
        train,
        retriever,
        history_text,
        history_items=history_items,
        positions=positions,
        negatives=2,
        top=TOP,
        max_pairs=pairs_count,
        seed=seed,
        listed_only=listed_only,
    )
    return easy_twins(pairs, train.n_items, seed) if kind == "easy" else pairs


def run(args: argparse.Namespace) -> None:
    """Score the yardsticks and the judges, writing the results after each fine-tuned judge."""
    data = bench_split(args.dataset, "loo")
    train, valid = data.train(), data.valid()
    options = read_config(args.config)
    config = LLMRanker(options).config
    ease = model_class("ease")().fit(train)
    titles = data.item_titles if any(data.item_titles) else data.item_text
    results: dict = {"rows": {}, "training": {}, "yardsticks": {}}
    held = held_out_pairs(train, valid, ease, args.held_out, config.seed)
    popularity, ease_scores = train.item_popularity, ease.score(held.users)
    for kind in KINDS:
        users, negatives = held.kind(kind)
        results["rows"][f"popularity in train, {kind}"] = score_verdicts(
            popularity[held.positives[users]], popularity[negatives]
        )
        results["rows"][f"EASE's score, {kind}"] = score_verdicts(
            ease_scores[users, held.positives[users]], ease_scores[users, negatives]
        )
    for folder in ("duo-loo", "pipeline-loo"):
        run_dir = ROOT / "runs" / f"bench-rerank-{args.dataset}" / folder
        if run_dir.is_dir():
            results["rows"] |= cross_encoder_rows(load_judge(run_dir, data, whole_pipeline=False), folder, held)
            results["yardsticks"][folder] = pair_options(run_dir)
    zero_shot = LLMJudge(CausalLM.load(config.model), titles, config.prompt())
    results["rows"] |= judge_rows(zero_shot, "LLM zero-shot", held, None)
    history_text = zero_shot.history_text
    del zero_shot
    for kind in args.train.split(","):
        pairs = training_pairs(kind, train, history_text, config.history_items, args.pairs, config.seed)
        judge, training = fine_tuned(options, titles, pairs)
        results["training"][kind] = training | {"pairs": len(pairs)}
        results["rows"] |= judge_rows(judge, f"LLM fine-tuned on {kind} pairs", held, pairs)
        args.out.write_text(render(args, results))


def pair_options(run_dir: Path) -> str:
    """How a `duo` or pipeline run's judges drew their pairs, as far as its config.json records it."""
    config = json.loads((run_dir / "config.json").read_text())["config"]
    options = config.get("judge_options", config)
    named = {key: options[key] for key in ("positives", "negatives_from", "positions") if key in options}
    if not named:
        return (
            "its config.json does not record how its pairs were drawn (the judge defaults of the code that trained it)"
        )
    return "pairs drawn with " + ", ".join(f"{key} = {value!r}" for key, value in named.items())


def render(args: argparse.Namespace, results: dict) -> str:
    config = "" if args.config is None else f" --config {args.config.relative_to(ROOT)}"
    command = (
        f".venv/bin/python benchmarks/llm_learnability.py --dataset {args.dataset} --pairs {args.pairs} "
        f"--held-out {args.held_out} --train {args.train}{config}"
        f"{out_option(args.out, default_out(args.dataset), ROOT)}"
    )
    notes = (
        f"Held-out pairs of {args.held_out} seeded validation users of the `loo` split, histories from train: "
        f"`listed`, the valid item where EASE lists it in its top {TOP}, against another of that top {TOP} (what "
        f"a re-ranker of EASE's list faces); `hard`, every user's valid item against one of EASE's top {TOP}; "
        "`easy`, against a uniform draw outside the history. Training pairs: `train-fit` (each user's last 2 train "
        f"items against EASE's top {TOP} from an EASE fit on all of train), `listed` (positives from the last 8, "
        f"only where an EASE fit without them lists them in its top {TOP}), `easy` (the train-fit pairs against "
        "uniform draws). Accuracy: the share of pairs a judge orders right (both orders asked for the LLM and duo "
        "judges); log-loss and P(first) (the mean probability given to whichever item is asked first: 0.5 is no "
        "position bias) for the pair-wise judges."
    )
    lines = header(f"Does the LLM judge learn? Held-out pair-wise accuracy on {args.dataset}", command, notes)
    lines += ["", "| judge, held-out pairs | pairs | accuracy | log-loss | P(first) |", "|---|---|---|---|---|"]
    for row, value in results["rows"].items():
        loss = f"{value['log_loss']:.4f}" if "log_loss" in value else "-"
        first = f"{value['p_first']:.3f}" if "p_first" in value else "-"
        lines.append(f"| {row} | {value['pairs']} | {value['accuracy']:.3f} | {loss} | {first} |")
    lines.append("")
    for folder, drawn in results["yardsticks"].items():
        lines.append(f"- cross-encoders of `runs/bench-rerank-{args.dataset}/{folder}`: {drawn}.")
    for kind, training in results["training"].items():
        lines.append(
            f"- LLM fine-tuning on {kind} pairs: {training['pairs']} pairs in both orders, {training['seconds']} s, "
            f"mean loss per epoch {', '.join(str(x) for x in training['losses'])}."
        )
    return "\n".join(lines) + "\n"


def default_out(dataset: str) -> Path:
    return ROOT / "benchmarks" / "results" / f"llm_learnability-{dataset}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=DATASETS, default="ml-latest-small")
    parser.add_argument("--pairs", type=int, default=640)
    parser.add_argument("--held-out", type=int, default=400)
    parser.add_argument("--train", default="easy,train-fit,listed", help="training pairs, in order")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.out = args.out or default_out(args.dataset)
    unknown = set(args.train.split(",")) - {"easy", *TRAINING}
    if unknown:
        parser.error(f"unknown --train kinds {sorted(unknown)}; choose from easy, {', '.join(TRAINING)}")
    run(args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
