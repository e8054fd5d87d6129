"""The LLM pair-wise judge on the packaged SmolLM2-135M-Instruct (GGUF, de-quantised by transformers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pairrank.errors import ConfigError, DataError
from pairrank.judges.aggregate import all_pairs
from pairrank.judges.causal_lm import CausalLM, default_model_path
from pairrank.judges.llm_judge import ANSWER_PREFIX, LLMJudge, PromptSettings
from pairrank.judges.llm_training import LoraOptions, add_adapters, load_adapters, save_adapters, train_llm_judge
from pairrank.judges.training import Pairs, TrainingOptions

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


def test_loading_refuses_what_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="GGUF"):
        CausalLM.load(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="config.json"):
        CausalLM.load(tmp_path)
    with pytest.raises(DataError, match="no such"):
        CausalLM.load(tmp_path / "missing")


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


def test_all_pairs_with_the_llm_asks_both_orders_of_each_pair(judge):
    history = judge.history_text([0, 1, 2])
    ranking = all_pairs(judge, history, [3, 4, 5])
    assert ranking.calls == 6 and sorted(ranking.order.tolist()) == [0, 1, 2]


def test_any_local_hugging_face_folder_loads(lm, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(lm.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    tiny = LLMJudge(CausalLM.load(tmp_path), TITLES)
    verdicts = tiny.prefer(tiny.history_text([0, 1]), [(3, 4), (4, 3)])
    assert verdicts.shape == (2,) and ((verdicts > 0) & (verdicts < 1)).all()


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
