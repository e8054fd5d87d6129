"""The LLM judge behind an OpenAI-compatible server: answer parsing, retries, and llama.cpp's server on loopback."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pairrank.errors import ConfigError
from pairrank.judges.causal_lm import CausalLM
from pairrank.judges.llm_judge import LLMJudge
from pairrank.judges.llm_prompts import Prompts, PromptSettings
from pairrank.judges.llm_ranker import LLMRanker
from pairrank.judges.server_judge import ServerJudge, ServerOptions, answer_probability
from pairrank.models.registry import load_model

ROOT = Path(__file__).resolve().parents[1]
TITLES = ["Toy Story (1995)", "Aladdin (1992)", "The Lion King (1994)", "Beauty and the Beast (1991)", "Saw (2004)"]


def choice(top: dict[str, float] | None, text: str = "") -> dict:
    entries = [{"token": token, "logprob": value} for token, value in (top or {}).items()]
    logprobs = None if top is None else {"content": [{"top_logprobs": entries}]}
    return {"message": {"content": text}, "logprobs": logprobs}


def test_the_answer_probability_comes_from_the_letters_log_probabilities_else_from_the_text():
    assert answer_probability(choice({" A": -0.5, " B": -0.5, " C": -2.0})) == (0.5, True)
    p, from_logprobs = answer_probability(choice({"A": np.log(0.6), "B": np.log(0.2)}))
    assert from_logprobs and p == pytest.approx(0.75)
    only_b, _ = answer_probability(choice({" B": -0.1, " C": -3.0}))  # A below the listed floor
    assert only_b < 0.1
    assert answer_probability(choice(None, "Answer: B")) == (0.0, False)
    assert answer_probability(choice(None, "A")) == (1.0, False)
    assert answer_probability(choice(None, "Passage")) == (0.5, False)


class FlakyServer(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` requests, then " A" with P 0.8; keeps each request's headers."""

    failures = 2
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FlakyServer.seen.append({"headers": dict(self.headers), "body": body})
        if FlakyServer.failures > 0:
            FlakyServer.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        reply = {"choices": [choice({" A": np.log(0.8), " B": np.log(0.2)})], "usage": {"prompt_tokens": 40}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_requests_are_retried_cached_counted_and_carry_the_key_from_the_environment(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PAIRRANK_TEST_KEY", "secret-123")
    options = ServerOptions(f"http://127.0.0.1:{server.server_port}/v1", "m", "PAIRRANK_TEST_KEY", backoff=0.01)
    judge = ServerJudge(Prompts(TITLES, PromptSettings()), options)
    try:
        history = judge.history_text([0, 1])
        assert judge.prefer(history, [(3, 4)]) == pytest.approx([0.8])
        assert judge.prefer(history, [(3, 4)]) == pytest.approx([0.8])  # from the cache
        assert judge.counters["calls"] == 1 and judge.counters["cached"] == 1
        assert judge.counters["prompt_tokens"] == 40 and len(FlakyServer.seen) == 3  # two 503s, then the answer
        sent = FlakyServer.seen[-1]
        assert sent["headers"]["Authorization"] == "Bearer secret-123"
        assert sent["body"]["messages"][-1] == {"role": "assistant", "content": "Answer:"}
        assert "secret-123" not in repr(vars(judge)) + repr(vars(judge.options))
        FlakyServer.failures = 10
        with pytest.raises(ConfigError, match="answered 503"):
            judge.prefer(history, [(4, 3)])
    finally:
        server.shutdown()


def test_an_unreachable_server_is_one_clear_error():
    options = ServerOptions("http://127.0.0.1:9/v1", retries=1, backoff=0.01, timeout=2)
    judge = ServerJudge(Prompts(TITLES, PromptSettings()), options)
    with pytest.raises(ConfigError, match="unreachable after 2 tries"):
        judge.prefer("- Toy Story", [(3, 4)])


@pytest.fixture(scope="module")
def llama_server():
    """llama.cpp's server (xllamacpp) with the default GGUF on loopback, started and stopped here."""
    pytest.importorskip("xllamacpp")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "llm_server.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("http://127.0.0.1:"), "the server did not start"
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_verdicts_through_llama_cpps_server_agree_with_the_local_model(llama_server):
    local = LLMJudge(CausalLM.load(), TITLES)
    remote = ServerJudge(Prompts(local.titles, local.settings), ServerOptions(f"{llama_server}/v1"))
    history = local.history_text([0, 1, 2])
    pairs = [(3, 4), (4, 3), (0, 4), (4, 0)]
    served = remote.prefer(history, pairs)
    assert remote.counters["from_text"] == 0 and remote.counters["calls"] == 4
    assert remote.counters["prompt_tokens"] > 4 * 50
    assert np.abs(served - local.prefer(history, pairs)).max() < 0.05  # Q4_1 kernels against de-quantised float32


def test_an_llm_judge_run_can_ask_a_server_and_saves_no_key(llama_server, loo_data, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-saved")
    options = {"server": {"base_url": f"{llama_server}/v1"}, "finetune": False, "top": 4, "aggregation": "allpairs"}
    model = LLMRanker(options | {"valid_users": 3}).fit(loo_data.train(), loo_data.valid())
    counters = model.reranker.judge.counters
    asked = counters["calls"] + counters["cached"]
    assert asked == 12 * model.report["valid_users"] and 0 < model.report["valid_users"] <= 3  # choosing the blend
    items, _ = model.recommend(np.arange(2), 6)
    plain, _ = model.retriever.recommend(np.arange(2), 6)
    assert counters["calls"] + counters["cached"] - asked == 2 * 12  # all pairs of the top 4, both orders, two users
    assert all(set(a[:4]) == set(b[:4]) and (a[4:] == b[4:]).all() for a, b in zip(items, plain))
    model.save(tmp_path / "run")
    saved = "".join(path.read_text(errors="ignore") for path in (tmp_path / "run").rglob("*.json"))
    assert llama_server in saved and "sk-never-saved" not in saved
    again = load_model(tmp_path / "run")  # asks the same server again (its verdicts may move with its batching)
    reloaded, _ = again.recommend(np.arange(2), 6)
    assert again.reranker.judge.counters["calls"] == 2 * 12
    assert all(set(a[:4]) == set(b[:4]) and (a[4:] == b[4:]).all() for a, b in zip(reloaded, items))


def test_a_server_judge_is_zero_shot_and_pair_wise():
    with pytest.raises(ConfigError, match="zero-shot and pair-wise"):
        LLMRanker({"server": {"base_url": "http://127.0.0.1:1/v1"}})
    with pytest.raises(ConfigError, match="server options"):
        LLMRanker({"server": {"url": "http://127.0.0.1:1/v1"}, "finetune": False})
