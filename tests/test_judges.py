"""Cross-encoder judges: inputs, blending, pair-wise learning, the mono/duo models and `pairrank rerank`."""

from __future__ import annotations

import copy
import io
import os

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import final_run
from rich.console import Console
from typer.testing import CliRunner

from pairrank import progress
from pairrank.cli import app
from pairrank.errors import ConfigError
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.reranking import load_judge
from pairrank.judges.backend import resolve_backend, resolve_precision
from pairrank.judges.inputs import JudgeInputs
from pairrank.judges.judge import DuoJudge, MonoJudge, blend
from pairrank.judges.network import CrossEncoderNet, OnnxNet, onnx_export
from pairrank.judges.ranker import DuoRanker
from pairrank.judges.training import (
    POPULARITY_WINDOW,
    Pairs,
    TrainingOptions,
    choose_alpha,
    fit_pairs,
    sample_pairs,
    train_mono,
)
from pairrank.models.itemknn import ItemKNN
from pairrank.models.registry import load_model, model_class

TINY = {"layers": 2, "max_pairs": 48, "valid_users": 12, "top": 12, "duo_top": 3, "history_items": 2}
TINY_TORCH = TINY | {"backend": "torch"}  # reloads to exactly the in-memory (torch) judge
COLOURS = ["red", "green", "blue", "yellow"]
THINGS = ["apple", "car", "house", "shirt", "kite", "boat"]


@pytest.fixture(scope="module")
def network() -> CrossEncoderNet:
    return CrossEncoderNet.from_backbone("all-MiniLM-L6-v2", layers=2)


def test_inputs_read_the_latest_items_newest_first_within_their_token_budget(network):
    texts = ["alpha one", "beta two", "gamma three four five six seven eight nine ten", "delta"]
    inputs = JudgeInputs(network.tokenizer, texts, item_tokens=3, history_items=2)
    assert inputs.texts[2] == "gamma three four"
    assert inputs.history(np.array([-1, 0, 1, 2])) == "gamma three four; beta two"
    batch = inputs.duo(["delta", "delta", "alpha one"], [(0, 1), (1, 0), (2, 3)])
    assert batch["owner"].tolist() == [0, 0, 1]  # each distinct history tokenized once

    def text(kind: str, row: int) -> str:
        return network.tokenizer.decode(batch[f"{kind}_ids"][row][batch[f"{kind}_mask"][row].bool()])

    assert text("history", 0) == "[CLS] delta [SEP]" and text("history", 1) == "[CLS] alpha one [SEP]"
    assert text("candidate", 0) == "alpha one [SEP] beta two [SEP]"
    assert text("candidate", 2) == "gamma three four [SEP] delta [SEP]"
    assert batch["candidate_positions"][0, 0] == 3 and batch["candidate_positions"][2, 0] == 4  # after the history


def test_the_history_is_encoded_once_as_plain_bert_would_and_rows_do_not_mix(network):
    inputs = JudgeInputs(network.tokenizer, THINGS, item_tokens=8, history_items=2)
    batch = inputs.mono(["red apple", "red apple", "a blue car"], [0, 1, 2])
    with torch.no_grad():
        history, _ = network.encode(batch)
        plain = network.model.base_model(
            input_ids=batch["history_ids"],
            attention_mask=batch["history_mask"],
            token_type_ids=torch.zeros_like(batch["history_ids"]),
        ).last_hidden_state
    keep = batch["history_mask"].bool()
    torch.testing.assert_close(history[keep], plain[keep], atol=1e-4, rtol=1e-4)
    together = network.predict(batch).numpy()
    alone = [network.predict(inputs.mono([h], [c])).numpy()[0] for h, c in [("red apple", 1), ("a blue car", 2)]]
    np.testing.assert_allclose(together[1:], alone, atol=1e-5)
    assert abs(network.predict(inputs.mono(["green kite"], [1])).numpy()[0] - alone[0]) > 1e-4  # history matters


def test_blend_moves_from_the_input_order_to_the_judge():
    judge = np.array([0.0, 1.0, 3.0, 2.0])
    assert np.argsort(-blend(judge, 0.0)).tolist() == [0, 1, 2, 3]
    assert np.argsort(-blend(judge, 1.0)).tolist() == [2, 3, 1, 0]
    alpha, ndcg = choose_alpha([judge], [np.array([False, False, True, False])])
    assert alpha > 0 and ndcg["blend"] == 1.0 and ndcg["input"] < 1.0


def test_duo_wins_ask_both_orders(network):
    inputs = JudgeInputs(network.tokenizer, ["a kite", "a boat", "a car"], item_tokens=8, history_items=2)
    wins = DuoJudge(network, inputs).wins("a house", [0, 1, 2])
    assert wins.sum() == pytest.approx(3.0)  # every pair (asked in both orders) hands out exactly one win


def test_mono_learns_a_pairwise_preference_from_text(network):
    """The positive shares the history's colour, the negative does not: after BPR fine-tuning the judge ranks
    held-out pairs (unseen things) the same way."""
    texts = [f"{colour} {thing}" for colour in COLOURS for thing in THINGS]
    index = {text: i for i, text in enumerate(texts)}
    inputs = JudgeInputs(network.tokenizer, texts, item_tokens=8, history_items=1)
    rng = np.random.default_rng(0)

    def pairs(things: list[str], n: int) -> Pairs:
        rows = []
        for _ in range(n):
            colour, other = rng.choice(COLOURS, 2, replace=False)
            a, b, c = rng.choice(things, 3)
            rows.append((f"{colour} {a}", index[f"{colour} {b}"], index[f"{other} {c}"]))
        histories, positives, negatives = zip(*rows)
        return Pairs(list(histories), np.array(positives), np.array(negatives))

    train, held_out = pairs(THINGS[:4], 160), pairs(THINGS[4:], 60)
    judge = MonoJudge(CrossEncoderNet(copy.deepcopy(network.model), network.tokenizer), inputs)

    def accuracy() -> float:
        wins = [judge.score(h, [p, n]) for h, p, n in zip(held_out.histories, held_out.positives, held_out.negatives)]
        return float(np.mean([w[0] > w[1] for w in wins]))

    before = accuracy()
    losses = train_mono(
        judge.network, inputs, train, TrainingOptions(epochs=4, learning_rate=3e-4, batch_size=16, seed=0)
    )
    assert losses[-1] < losses[0]
    assert accuracy() > max(0.85, before)


def test_fine_tuning_logs_its_running_loss_ten_times_an_epoch(monkeypatch):
    """A log of a long fine-tuning says how the loss goes while an epoch runs, not only at its end."""
    log = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=log, force_terminal=False, width=200))
    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 3600.0)
    monkeypatch.delenv("PAIRRANK_QUIET", raising=False)
    model, seen = torch.nn.Linear(3, 1), []

    def loss_of(rows: np.ndarray) -> torch.Tensor:
        value = model(torch.ones(len(rows), 3)).pow(2).mean()
        seen.append(float(value.detach()))
        return value

    losses = fit_pairs(model, loss_of, 40, TrainingOptions(epochs=2, learning_rate=0.05, batch_size=2, seed=0), "t")
    lines = [line.split(": ")[1] for line in log.getvalue().splitlines() if "epoch 2 loss so far" in line]
    assert len(lines) == 9  # every 2 of the epoch's 20 steps, but the last, which the epoch's own line reports
    assert lines[0] == f"epoch 2 loss so far {np.mean(seen[20:22]):.4f}"
    assert lines[-1] == f"epoch 2 loss so far {np.mean(seen[20:38]):.4f}"
    assert f"t judge: epoch 2 loss {losses[1]:.4f}" in log.getvalue()
    assert losses[1] < losses[0]


def test_hard_negatives_come_from_the_history_before_the_positive(loo_data):
    """Each negative is among the retriever's top for the items before its positive (as at serving time, where
    the held-out item is not in the history), and none is an item of the user's train history."""
    train = loo_data.dataset(loo_data.split.train)
    retriever = ItemKNN().fit(train)
    sequences = train.user_sequences(train.active_users())
    pairs = sample_pairs(
        train,
        retriever,
        lambda history: " ".join(map(str, history[history >= 0])),
        history_items=max(map(len, sequences)),
        positions=2,
        negatives=3,
        top=10,
        max_pairs=10_000,
        seed=0,
    )
    whole = {(tuple(full[:-cut]), full[-cut]): full for full in sequences for cut in (1, 2) if full.size > cut}
    assert len(pairs) > 100
    for history, positive, negative in zip(pairs.history_items, pairs.positives, pairs.negatives):
        full = whole[tuple(history), positive]
        later = full[history.size :]
        top, _ = retriever.recommend_histories([history], 10 + later.size)
        assert negative not in full
        assert negative in top[0][~np.isin(top[0], later)][:10]


def test_an_unseen_retriever_lists_positives_as_at_serving_and_listed_pairs_keep_only_those(loo_data):
    """With `negatives_from = "unseen"` the pairs' retriever is fit without each user's last `positions` train
    items (the positives), so it lists far fewer of them than one fit on all of train, which learned each from its
    own user's row; `positives = "listed"` keeps only positives in the retriever's top for the history before them."""
    train = loo_data.dataset(loo_data.split.train)
    judged = DuoRanker(negatives_from="unseen", positions=2, top=20)
    judged.retriever = model_class("ease")().fit(train)
    unseen = judged.pairs_retriever(train)
    users = train.active_users()
    sequences = train.user_sequences(users)
    for user, sequence in zip(users, sequences):
        assert set(unseen.user_history(user)) == set(sequence[:-2])
    fitted = DuoRanker(negatives_from="train")
    fitted.retriever = judged.retriever
    assert fitted.pairs_retriever(train) is judged.retriever
    longest = max(map(len, sequences))
    options = dict(history_items=longest, positions=2, negatives=1, top=20, max_pairs=10_000, seed=0)
    text = lambda history: " ".join(map(str, history[history >= 0]))  # noqa: E731
    listed_by = {
        name: sample_pairs(train, retriever, text, listed_only=True, **options)
        for name, retriever in (("train", judged.retriever), ("unseen", unseen))
    }
    every = sample_pairs(train, unseen, text, **options)
    assert len(listed_by["unseen"]) < len(every) / 2 < len(listed_by["train"])
    whole = {(tuple(full[:-cut]), full[-cut]): full for full in sequences for cut in (1, 2) if full.size > cut}
    pairs = listed_by["unseen"]
    assert len(pairs) >= 10
    with pytest.raises(ConfigError, match="scores histories"):
        sample_pairs(train, model_class("bprmf")(), text, listed_only=True, **options)
    for history, positive in zip(pairs.history_items, pairs.positives):
        later = whole[tuple(history), positive][history.size + 1 :]
        top, _ = unseen.recommend_histories([history], 20 + later.size)
        assert positive in top[0][~np.isin(top[0], later)][:20]


def test_popularity_matched_negatives_sit_next_to_their_positive_in_popularity(loo_data):
    """With `negatives_from = "popularity"` each negative is within POPULARITY_WINDOW places of its positive in
    train popularity order and never one of the user's train items, so popularity orders such pairs near a coin,
    where a retriever's hard negatives are nearly always the more popular item."""
    train = loo_data.dataset(loo_data.split.train)
    sequences = train.user_sequences(train.active_users())
    text = lambda history: " ".join(map(str, history[history >= 0]))  # noqa: E731
    options = dict(history_items=max(map(len, sequences)), positions=2, negatives=2, top=20, max_pairs=10_000, seed=0)
    matched = sample_pairs(train, None, text, popularity_matched=True, **options)
    hard = sample_pairs(train, model_class("ease")().fit(train), text, **options)
    order = np.argsort(train.item_popularity, kind="stable")
    place = np.argsort(order)
    whole = {(tuple(full[:-cut]), full[-cut]): full for full in sequences for cut in (1, 2) if full.size > cut}
    assert len(matched) > 100
    for history, positive, negative in zip(matched.history_items, matched.positives, matched.negatives):
        assert abs(place[positive] - place[negative]) <= POPULARITY_WINDOW
        assert negative not in whole[tuple(history), positive]
    popularity = train.item_popularity

    def more_popular(pairs: Pairs) -> float:
        return float(np.mean(popularity[pairs.negatives] > popularity[pairs.positives]))

    assert more_popular(matched) < 0.65 < 0.8 < more_popular(hard)
    with pytest.raises(ConfigError, match="listed"):
        sample_pairs(train, None, text, popularity_matched=True, listed_only=True, **options)


def test_bad_judge_options_fail_before_data_is_read():
    with pytest.raises(ConfigError, match="duo_top"):
        DuoRanker(top=5, duo_top=10)
    with pytest.raises(ConfigError, match="single model"):
        DuoRanker(retriever="pipeline")
    with pytest.raises(ConfigError, match="scores histories"):
        DuoRanker(retriever="bprmf")  # listed positives need the retriever's list for the history before each
    DuoRanker(retriever="bprmf", positives="all", negatives_from="train")
    with pytest.raises(ConfigError, match='set positives = "all"'):
        DuoRanker(negatives_from="popularity")  # listed positives (the default) need the retriever's list
    DuoRanker(retriever="bprmf", positives="all", negatives_from="popularity")


@pytest.fixture(scope="module")
def duo_run(tmp_path_factory, loo_data):
    return final_run(tmp_path_factory, loo_data, "duo", TINY_TORCH)


def test_duo_model_reranks_the_retrievers_top_and_reloads(duo_run, loo_data):
    model, run = duo_run
    assert model.report["pairs"] == TINY["max_pairs"]
    assert 0.0 <= model.report["mono_alpha"] <= 1.0 and model.reranker.duo is not None
    assert model.report["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")  # where it trained
    users = np.arange(5)
    recs, _ = model.recommend(users, 20)
    retriever_recs, _ = model.retriever.recommend(users, TINY["top"])
    for row in range(len(users)):  # the top M is the retriever's top M, re-ordered; below it, the retriever's order
        assert set(recs[row, : TINY["top"]]) == set(retriever_recs[row])
    assert model.history[users][np.arange(len(users))[:, None], recs].nnz == 0
    again, _ = load_model(run).recommend(users, 20)
    assert np.array_equal(recs, again)


def test_the_onnx_judge_scores_like_the_torch_one(duo_run, loo_data):
    _, run = duo_run
    assert not list(run.rglob("*.onnx"))  # saving exports nothing: the export is made when first loaded
    torch_judge, onnx_judge = (load_judge(run, loo_data, backend) for backend in ("torch", "onnx"))
    export = onnx_export(torch_judge.mono.network, run / "judge" / "mono")
    assert export.is_relative_to(os.environ["PAIRRANK_CACHE"]) and export.is_file()
    made = export.stat().st_mtime_ns
    assert onnx_export(torch_judge.mono.network, run / "judge" / "mono") == export  # found, not made again
    assert export.stat().st_mtime_ns == made and not list(export.parent.glob("*.partial.onnx"))
    history, items = onnx_judge.inputs.history(np.arange(5)), np.arange(10, 40)
    mono = [judge.mono.score(history, items) for judge in (torch_judge, onnx_judge)]
    assert np.corrcoef(*mono)[0, 1] > 0.95  # int8 noise against a barely trained judge's narrow spread
    duo = [judge.duo.wins(history, items[:5]) for judge in (torch_judge, onnx_judge)]
    assert np.abs(duo[0] - duo[1]).max() < 0.1
    auto_judge = load_judge(run, loo_data)  # the default backend, "auto"
    assert isinstance(auto_judge.mono.network, OnnxNet if resolve_backend("auto") == "onnx" else CrossEncoderNet)


@pytest.mark.parametrize(
    ("cpu_info", "expected"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n", "torch"),  # AVX2 alone (AMD EPYC Zen 1)
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n", "onnx"),  # AVX-512 VNNI
        ("processor\t: 0\nflags\t\t: fpu avx2 avx_vnni\n", "onnx"),  # AVX-VNNI
        ("processor\t: 0\nFeatures\t: fp asimd asimddp\n", "onnx"),  # Arm with the dot-product extension
        (None, "torch"),  # no /proc/cpuinfo
    ],
)
def test_the_auto_backend_runs_int8_only_on_cpus_with_int8_dot_products(cpu_info, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "cpuinfo"
    if cpu_info is not None:
        path.write_text(cpu_info)
    assert resolve_backend("auto", path) == expected
    assert resolve_backend("onnx", path) == "onnx" and resolve_backend("torch", path) == "torch"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto", path) == "torch"
    with pytest.raises(ConfigError, match="unknown judge backend 'tf'"):
        resolve_backend("tf", path)


@pytest.mark.parametrize(
    ("cpu_info", "expected"),
    [
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n", "float32"),  # no bfloat16 instructions
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n", "bfloat16"),  # AVX-512 BF16 (Zen 4)
        ("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n", "bfloat16"),  # AMX (Intel Xeon)
        (None, "float32"),  # no /proc/cpuinfo
    ],
)
def test_the_auto_llm_precision_is_bfloat16_only_on_cpus_with_bfloat16_instructions(
    cpu_info, expected, tmp_path, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "cpuinfo"
    if cpu_info is not None:
        path.write_text(cpu_info)
    assert resolve_precision("auto", path) == expected
    assert resolve_precision("float32", path) == "float32" and resolve_precision("bfloat16", path) == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_precision("auto", path) == "float32"
    with pytest.raises(ConfigError, match="unknown LLM precision 'float16'"):
        resolve_precision("float16", path)


def test_rerank_command_reorders_only_each_users_top(duo_run, loo_data, ease_run, tmp_path, small_loo_split):
    _, run = duo_run
    recs = recommend_for_test(load_model(ease_run), loo_data, k=20)
    recs.to_csv(tmp_path / "ease.csv", index=False)
    runner = CliRunner()
    args = ["rerank", "--judge", run, "--split", small_loo_split, "--recs", tmp_path / "ease.csv", "--top", 8]
    result = runner.invoke(app, [str(a) for a in [*args, "--out", tmp_path / "duo.csv"]])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "duo.csv", dtype={"user_id": str, "item_id": str})
    before = recs.astype({"user_id": str, "item_id": str})
    for user, group in out.groupby("user_id"):
        original = before[before["user_id"] == user].sort_values("rank")["item_id"].tolist()
        reranked = group.sort_values("rank")["item_id"].tolist()
        assert set(reranked[:8]) == set(original[:8]) and reranked[8:] == original[8:]
    assert not out.equals(before)
    recs.loc[0, "item_id"] = "no-such-item"
    recs.to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(app, [str(a) for a in [*args[:6], tmp_path / "bad.csv", "--out", tmp_path / "x.csv"]])
    assert bad.exit_code == 2 and "bad.csv" in bad.output and "no-such-item" in bad.output
    fusion = runner.invoke(app, [str(a) for a in [*args, "--model", "fusion", "--out", tmp_path / "x.csv"]])
    assert fusion.exit_code == 2 and "only a pipeline run has a fusion stage" in fusion.output
    twice = pd.concat([recs.iloc[1:3], recs.iloc[[1]].assign(rank=99)])
    twice.to_csv(tmp_path / "twice.csv", index=False)
    repeated = runner.invoke(app, [str(a) for a in [*args[:6], tmp_path / "twice.csv", "--out", tmp_path / "y.csv"]])
    assert repeated.exit_code == 2 and "has item" in repeated.output
