"""The LLM pair-wise judge on the packaged SmolLM2-135M-Instruct (GGUF, de-quantised by transformers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import final_run
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.errors import ConfigError, DataError
from pairrank.experiments.recommending import recommend_for_test
from pairrank.experiments.reranking import load_judge
from pairrank.judges.aggregate import all_pairs
from pairrank.judges.causal_lm import CausalLM, default_model_path, dequantised_folder
from pairrank.judges.distill import load_teacher, teacher_targets
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_prompts import ANSWER_PREFIX, SHARED_SHOWN, Prompts, PromptSettings, item_labels
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.llm_reranker import LLMReranker
from pairrank.judges.llm_training import LoraOptions, add_adapters, load_adapters, save_adapters, train_llm_judge
from pairrank.judges.training import Pairs, TrainingOptions
from pairrank.models.registry import load_model
from pairrank.pipeline.model import Pipeline

TITLES = [
    "Toy Story (1995)",
    "Aladdin (1992)",
    "The Lion King (1994)",
    "Beauty and the Beast (1991)",
    "Saw (2004)",
    "The Texas Chainsaw Massacre (1974)",
    "A very long title " + "that goes on " * 30,
]


@pytest.fixture(scope="module")
def lm():
    return CausalLM.load()


@pytest.fixture(scope="module")
def judge(lm):
    return LLMJudge(lm, TITLES)


def test_the_default_model_is_the_packaged_gguf_file():
    path = default_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_a_gguf_file_is_de_quantised_once_and_then_read_from_the_cache(lm, judge):
    kept = dequantised_folder(default_model_path())
    assert (kept / "model.safetensors").is_file() and lm.source is None
    again = LLMJudge(CausalLM.load(), TITLES)
    history = judge.history_text([0, 1, 2])
    assert np.allclose(again.prefer(history, [(3, 4), (4, 3)]), judge.prefer(history, [(3, 4), (4, 3)]), atol=1e-5)


def test_loading_refuses_what_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="GGUF"):
        CausalLM.load(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="config.json"):
        CausalLM.load(tmp_path)
    with pytest.raises(DataError, match="no such"):
        CausalLM.load(tmp_path / "missing")


def test_items_read_with_their_attributes_in_brackets_when_asked(lm):
    attributes = ["Animation|Children|Comedy", "", "Drama|" + "|".join(["Musical"] * 30)]
    titles = TITLES[:3]
    assert item_labels(titles, attributes, lm.tokenizer, PromptSettings()) == titles  # attribute_tokens 0: titles
    labels = item_labels(titles, attributes, lm.tokenizer, PromptSettings(attribute_tokens=8))
    assert labels[:2] == ["Toy Story (1995) (Animation, Children, Comedy)", "Aladdin (1992)"]
    assert labels[2].startswith("The Lion King (1994) (Drama, Musical") and labels[2].endswith("...)")
    assert len(lm.tokenizer(labels[2], add_special_tokens=False)["input_ids"]) < 30
    assert item_labels(titles, None, lm.tokenizer, PromptSettings(attribute_tokens=8)) == titles  # none known


def test_candidates_name_the_attributes_they_share_with_the_history_when_asked():
    """With `shared_attributes` each candidate names the attributes it shares with the history block's items (the
    latest `history_items`), the most shared first with their counts, at most SHARED_SHOWN; a history text not made
    by `history_text` (without its items) is refused rather than read as sharing nothing."""
    attributes = ["Drama|Crime", "Drama|Comedy", "Comedy|drama|War", "Horror", "A|B|C|D|E|F|Drama|Comedy", ""]
    titles = [f"film {index}" for index in range(len(attributes))]
    settings = PromptSettings(shared_attributes=True, history_items=2)
    prompts = Prompts.of_items(titles, attributes, None, settings)
    history = prompts.history_text([0, 1, 2])  # the latest 2: films 1 and 2
    assert history.items == (1, 2) and history == "- film 1\n- film 2"
    question = prompts.pair_question(history, 0, 3)
    assert "A: film 0 [in common: drama 2]\nB: film 3 [in common: none]" in question
    assert prompts.candidate(history, 4) == "film 4 [in common: comedy 2, drama 2]"
    assert prompts.candidate(prompts.history_text([4]), 4).count(",") == SHARED_SHOWN - 1
    assert "C: film 5 [in common: none]" in prompts.list_question(history, [0, 3, 5])
    with pytest.raises(TypeError, match="history_text"):
        prompts.pair_question(str(history), 0, 3)
    plain = Prompts.of_items(titles, attributes, None, PromptSettings())  # off by default
    assert plain.pair_question(history, 0, 3).endswith("A: film 0\nB: film 3\n\nAnswer with A or B.")
    assert Prompts.of_items(titles, None, None, settings).candidate("", 0) == "film 0"  # no attributes known


def test_prompt_ends_where_the_answer_starts_and_titles_are_cut(judge):
    history = judge.history_text([0, 1, 2])
    prompt = judge.prompt(history, 3, 4)
    assert prompt.endswith(ANSWER_PREFIX)
    assert prompt.index("Toy Story") < prompt.index("A: Beauty and the Beast") < prompt.index("B: Saw")
    assert judge.titles[6].endswith("...") and len(judge.titles[6]) < len(TITLES[6])
    assert judge.history_text(range(7)).count("\n- ") == judge.settings.history_items - 1  # only the latest


def test_a_template_must_name_exactly_history_a_and_b():
    with pytest.raises(ConfigError, match="exactly the fields"):
        PromptSettings(template="{history} {a}")
    with pytest.raises(ConfigError, match="exactly the fields"):
        PromptSettings(template="{history} {a} {b} {user}")


def test_verdicts_are_probabilities_and_do_not_depend_on_the_batch(judge):
    history = judge.history_text([0, 1, 2])
    pairs = [(3, 4), (4, 3), (3, 5), (6, 3)]  # different lengths: left padding in one batch
    together = judge.prefer(history, pairs)
    alone = np.concatenate([judge.prefer(history, [pair]) for pair in pairs])
    assert ((together > 0) & (together < 1)).all()
    assert np.allclose(together, alone, atol=1e-4)


def test_verdicts_on_a_kept_prefix_equal_those_of_the_whole_prompts(judge):
    """Calls on one history reuse its key/value cache; another history, and new weights, start afresh."""
    history, other = judge.history_text([0, 1, 2]), judge.history_text([4, 5])
    calls = [
        [judge.prompt(history, 3, 4), judge.prompt(history, 4, 3)],
        [judge.prompt(history, 5, 6), judge.prompt(history, 6, 5), judge.prompt(history, 3, 6)],
        [judge.prompt(other, 0, 1)],
        [judge.prompt(history, 3, 4)],
    ]
    cached = [judge.lm.choice_logprobs(prompts, judge.option_ids) for prompts in calls]
    assert judge.lm.prefixes.kept
    for prompts, verdicts in zip(calls, cached):
        whole = torch.log_softmax(judge.lm.option_logits(prompts, judge.option_ids), dim=-1).detach().numpy()
        assert not judge.lm.prefixes.kept  # a forward pass with gradients (training) forgets the kept prefixes
        assert np.allclose(verdicts, whole, atol=1e-4)


def test_several_users_questions_run_together_as_they_do_alone(judge):
    """Histories of different lengths: their prefixes padded to the longest in one batch."""
    requests = [
        (judge.history_text([0, 1, 2]), [(3, 4), (4, 3)]),
        (judge.history_text([5]), [(0, 6), (6, 0), (1, 2)]),
        (judge.history_text([4, 5, 6, 0]), [(2, 3), (3, 2)]),
    ]
    alone = [judge.prefer(history, pairs) for history, pairs in requests]
    judge.lm.prefixes.clear()
    together = judge.prefer_many(requests)
    again = judge.prefer_many(requests)  # now on the kept prefixes
    for first, second, third in zip(alone, together, again):
        assert np.allclose(first, second, atol=1e-4) and np.allclose(first, third, atol=1e-4)


def test_gathered_re_ranking_equals_one_user_at_a_time(judge):
    histories = [[0, 1, 2], [5], [4, 5, 6, 0], [1]]
    lists = [[3, 4, 5, 6], [0, 6, 1, 2], [2, 3, 1], [6, 5]]
    gathered = LLMReranker(
        judge, mode="pairwise", aggregation="sliding", settle=2, top=4, finetuned=False, batch_users=4
    )
    one_by_one = LLMReranker(
        judge, mode="pairwise", aggregation="sliding", settle=2, top=4, finetuned=False, batch_users=1
    )
    done = []
    together = gathered.rerank_many(histories, lists, done=lambda: done.append(1))
    assert len(done) == len(lists)
    for history, items, reranked in zip(histories, lists, together):
        assert one_by_one.rerank(history, items).tolist() == reranked.tolist()
    assert gathered.calls == one_by_one.calls > 0


def test_all_pairs_with_the_llm_asks_both_orders_of_each_pair(judge):
    history = judge.history_text([0, 1, 2])
    ranking = all_pairs(judge, history, [3, 4, 5])
    assert ranking.calls == 6 and sorted(ranking.order.tolist()) == [0, 1, 2]


def save_tiny_llama(lm: CausalLM, folder: Path, blocks: int = 1) -> Path:
    """A randomly initialised Llama of `blocks` tiny blocks with SmolLM2's tokenizer, saved as a Hugging Face
    folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(lm.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=blocks,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_folder(lm, tmp_path_factory) -> Path:
    return save_tiny_llama(lm, tmp_path_factory.mktemp("tiny-llama"))


def test_any_local_hugging_face_folder_loads(tiny_folder):
    tiny = LLMJudge(CausalLM.load(tiny_folder), TITLES)
    verdicts = tiny.prefer(tiny.history_text([0, 1]), [(3, 4), (4, 3)])
    assert verdicts.shape == (2,) and ((verdicts > 0) & (verdicts < 1)).all()
    with pytest.raises(ConfigError, match="lora_modules.*c_attn"):  # GPT-2's name: this Llama has none
        add_adapters(tiny.lm, LoraOptions(target_modules=("c_attn",)))


def test_adapters_start_from_their_seed(tiny_folder):
    """The same seed gives the same initial adapters whatever the global random state, so that a fine-tuning
    repeats; another seed gives others."""

    def initial_adapters(seed: int) -> dict[str, torch.Tensor]:
        lm = CausalLM.load(tiny_folder)
        torch.rand(7)  # moves the global random state between the two loads
        add_adapters(lm, LoraOptions(target_modules=("q_proj", "v_proj"), seed=seed))
        return {name: value.clone() for name, value in lm.model.named_parameters() if "lora_A" in name}

    first, again, other = initial_adapters(1), initial_adapters(1), initial_adapters(2)
    assert first and all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_adapters_on_the_last_blocks_only_train_there_and_reload(lm, tmp_path):
    folder = save_tiny_llama(lm, tmp_path / "three", blocks=3)
    three = CausalLM.load(folder)
    with pytest.raises(ConfigError, match="lora_blocks = 4, but the model has 3 transformer blocks"):
        add_adapters(three, LoraOptions(last_blocks=4))
    add_adapters(three, LoraOptions(last_blocks=1))
    trainable = [name for name, value in three.model.named_parameters() if value.requires_grad]
    assert trainable and all(".layers.2." in name for name in trainable)
    assert len(trainable) == 2 * len(LoraOptions().target_modules)  # A and B of each projection
    save_adapters(three, tmp_path / "adapters")
    again = CausalLM.load(folder)
    load_adapters(again, tmp_path / "adapters")
    reloaded = {name for name, _ in again.model.named_parameters() if "lora_" in name}
    assert reloaded == set(trainable)


@pytest.fixture(scope="module")
def llm_run(tiny_folder, loo_data, tmp_path_factory):
    """An llm-judge run (the tiny model, LoRA on 8 pairs, all pairs of EASE's top 6, items read with their genres,
    candidates with the genres they share with the history), refit on train+valid."""
    options = {"model": str(tiny_folder), "top": 6, "max_pairs": 8, "batch_size": 4, "aggregation": "allpairs"}
    options |= {"attribute_tokens": 6, "shared_attributes": True}
    return final_run(tmp_path_factory, loo_data, "llm-judge", options)


def test_llm_judge_model_trains_reloads_and_reranks_anyones_list(
    llm_run, loo_data, ease_run, small_loo_split, tmp_path
):
    model, run = llm_run
    assert model.report["pairs"] == 8 and (run / "judge" / "adapter_model.safetensors").is_file()
    assert model.report["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")  # where it trained
    users = np.arange(8)
    calls = model.reranker.calls
    items, _ = model.recommend(users, 10)
    retrieved, _ = model.retriever.recommend(users, 10)
    for judged, plain in zip(items, retrieved):
        assert set(judged[:6]) == set(plain[:6]) and (judged[6:] == plain[6:]).all()
    assert model.reranker.calls - calls == len(users) * 30  # all pairs of the top 6, both orders
    reloaded = load_model(run)
    again, _ = reloaded.recommend(users, 10)
    assert np.array_equal(items, again)
    with_genres = next(i for i, genres in enumerate(loo_data.item_attributes) if genres)
    first_genre = loo_data.item_attributes[with_genres].split("|")[0]
    for judge in (model.reranker.judge, reloaded.reranker.judge, load_judge(run, loo_data).judge):
        assert judge.titles[with_genres].startswith(f"{loo_data.item_titles[with_genres]} ({first_genre}")

    recs = recommend_for_test(load_model(ease_run), loo_data, k=10)
    recs = recs[recs["user_id"].isin(recs["user_id"].unique()[:20])]  # 20 users: 600 prompts
    recs.to_csv(tmp_path / "ease.csv", index=False)
    args = ["rerank", "--judge", run, "--split", small_loo_split, "--recs", tmp_path / "ease.csv"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--out", tmp_path / "llm.csv"]])
    assert result.exit_code == 0, result.output
    assert "30 judge calls" in result.output  # all pairs of the top 6, both orders
    out = pd.read_csv(tmp_path / "llm.csv", dtype={"user_id": str, "item_id": str})
    before = recs.astype({"user_id": str, "item_id": str})
    for user, group in list(out.groupby("user_id"))[:20]:
        original = before[before["user_id"] == user].sort_values("rank")["item_id"].tolist()
        reranked = group.sort_values("rank")["item_id"].tolist()
        assert set(reranked[:6]) == set(original[:6]) and reranked[6:] == original[6:]


def test_mono_learns_from_the_llm_judges_verdicts(llm_run, loo_data, small_loo_split, tmp_path):
    model, run = llm_run
    config = tmp_path / "mono.json"
    config.write_text(json.dumps({"layers": 1, "max_pairs": 6, "valid_users": 4, "top": 10, "duo_top": 3}))
    args = ["train", "--split", small_loo_split, "--model", "mono", "--config", config, "--out", tmp_path / "mono"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--teacher", run]])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "mono" / "judge_report.json").read_text())
    assert report["teacher"] == str(run) and report["pairs"] == 6
    teacher = load_teacher(run, loo_data.item_titles)
    pairs = Pairs(["h"] * 2, np.array([3, 5]), np.array([4, 6]), [np.array([0, 1]), np.array([2])])
    targets = teacher_targets(teacher, pairs)
    expected = teacher.judge.prefer(teacher.judge.history_text([0, 1]), [(3, 4), (4, 3)])
    assert targets[0] == pytest.approx((expected[0] + 1 - expected[1]) / 2, abs=1e-6)
    assert ((targets > 0) & (targets < 1)).all()
    bad = CliRunner().invoke(app, [str(a) for a in [*args, "--teacher", tmp_path / "nowhere"]])
    assert bad.exit_code == 2 and "no such run folder" in bad.output


def test_the_pipeline_re_ranks_its_top_with_the_llm_judge_and_reloads(tiny_folder, loo_data, tmp_path):
    judge = {"model": str(tiny_folder), "top": 4, "max_pairs": 4, "batch_size": 2, "aggregation": "allpairs"}
    model = Pipeline({"retrievers": ["ease"], "fusion": False, "judge": "llm-judge", "judge_options": judge})
    model.fit(loo_data.train(), loo_data.valid())
    users = np.arange(5)
    items, _ = model.recommend(users, 8)
    assert model.reranker.calls == len(users) * 12 and "judge" in model.latency
    model.save(tmp_path / "pipeline")
    assert np.array_equal(load_model(tmp_path / "pipeline").recommend(users, 8)[0], items)


def test_list_wise_judge_ranks_a_list_in_one_prompt(tiny_folder, loo_data, tmp_path_factory):
    options = {"model": str(tiny_folder), "mode": "listwise", "top": 5, "max_pairs": 4, "batch_size": 2}
    model, run = final_run(tmp_path_factory, loo_data, "llm-judge", options)
    assert model.report["pairs"] == 4 and model.reranker.mode == "listwise"
    users = np.arange(6)
    items, _ = model.recommend(users, 8)
    retrieved, _ = model.retriever.recommend(users, 8)
    for judged, plain in zip(items, retrieved):
        assert set(judged[:5]) == set(plain[:5]) and (judged[5:] == plain[5:]).all()
    assert model.reranker.calls == len(users)  # one prompt per user
    again, _ = load_model(run).recommend(users, 8)
    assert np.array_equal(items, again)


def test_list_wise_scores_are_the_letters_log_probabilities(judge):
    history = judge.history_text([0, 1, 2])
    prompt = judge.list_prompt(history, [3, 4, 5])
    assert "A: Beauty and the Beast" in prompt and "C: The Texas Chainsaw" in prompt and "D:" not in prompt
    scores = judge.list_scores(history, [3, 4, 5])
    assert scores.shape == (3,) and np.isclose(np.exp(scores).sum(), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="at most 20"):
        judge.list_prompt(history, list(range(7)) * 3)


def test_llm_judge_options_are_checked_before_any_model_loads():
    with pytest.raises(ConfigError, match="exactly the fields"):
        LLMRanker({"template": "{history} and {a}"})
    with pytest.raises(ConfigError, match="aggregation"):
        LLMRanker({"aggregation": "borda"})
    with pytest.raises(ConfigError, match="at most 20"):
        LLMRanker({"mode": "listwise", "top": 30})
    with pytest.raises(ConfigError, match="lora_modules is empty"):
        LLMRanker({"lora_modules": []})


def test_a_bfloat16_judge_scores_a_merged_copy_close_to_float32_and_saves_its_float32_adapters(judge, tmp_path):
    lm = CausalLM.load()
    add_adapters(lm, LoraOptions(last_blocks=2))
    for name, parameter in lm.model.named_parameters():
        if "lora_B" in name:  # adapters that change the verdicts (fresh ones start at zero)
            torch.nn.init.normal_(parameter, std=0.05, generator=torch.Generator().manual_seed(0))
    tuned = LLMJudge(lm, TITLES)
    history, pairs = tuned.history_text([0, 1, 2]), [(3, 4), (4, 3), (5, 1), (1, 5)]
    exact = tuned.prefer(history, pairs)
    assert not np.allclose(exact, judge.prefer(history, pairs), atol=1e-3)  # the adapters count
    options = {"mode": "pairwise", "aggregation": "sliding", "settle": 1, "top": 5, "finetuned": True}
    halved = LLMReranker(tuned, **options, precision="bfloat16")
    scorer = lm.scoring_model()
    assert scorer.dtype == torch.bfloat16 and not any("lora_" in name for name, _ in scorer.named_parameters())
    assert next(lm.model.parameters()).dtype == torch.float32  # the model itself, to train and save, unchanged
    verdicts = tuned.prefer(history, pairs)
    assert np.abs(verdicts - exact).max() < 0.05 and not np.array_equal(verdicts, exact)
    halved.save(tmp_path / "judge")
    assert json.loads((tmp_path / "judge" / "llm_judge.json").read_text())["precision"] == "bfloat16"
    again = LLMReranker.load(tmp_path / "judge", TITLES)
    assert again.judge.lm.scoring_model().dtype == torch.bfloat16
    assert np.allclose(again.judge.prefer(history, pairs), verdicts, atol=1e-6)
    again.judge.lm.score_in(torch.float32)  # the saved adapters are the float32 ones
    assert np.allclose(again.judge.prefer(history, pairs), exact, atol=1e-5)


def test_lora_fine_tuning_moves_verdicts_toward_the_positives_and_adapters_reload(judge, tmp_path):
    """Last in this file: it puts adapters on the shared model."""
    space = [0, 1, 2]  # animation: the user's history, the positives
    pairs = Pairs(
        [judge.history_text(space)] * 4, np.array([3, 3, 1, 2]), np.array([4, 5, 4, 5])
    )  # animated films over horror

    def positive_first() -> float:
        ordered = [(p, n) for p, n in zip(pairs.positives, pairs.negatives)]
        asked = judge.prefer(pairs.histories[0], ordered + [(n, p) for p, n in ordered])
        return float((asked[:4] + 1 - asked[4:]).mean() / 2)

    before = positive_first()
    add_adapters(judge.lm, LoraOptions())
    losses = train_llm_judge(judge, pairs, TrainingOptions(epochs=2, learning_rate=2e-3, batch_size=2, seed=0))
    after = positive_first()
    assert after > before + 0.02 and losses[-1] < losses[0]
    save_adapters(judge.lm, tmp_path / "adapters")
    assert (tmp_path / "adapters" / "adapter_model.safetensors").is_file()
    tuned = judge.prefer(pairs.histories[0], [(3, 4)])
    judge.lm.model = judge.lm.model.unload()  # the base model again, adapters removed
    assert not np.allclose(judge.prefer(pairs.histories[0], [(3, 4)]), tuned, atol=1e-4)
    load_adapters(judge.lm, tmp_path / "adapters")
    assert np.allclose(judge.prefer(pairs.histories[0], [(3, 4)]), tuned, atol=1e-5)
