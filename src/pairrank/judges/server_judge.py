"""The LLM judge behind any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, Ollama, hosted).

Each question goes out as the user's message, with the assistant's answer
begun by `ANSWER_PREFIX` (a prefilled assistant turn), one token asked for,
greedy. P(A before B) is read from the answer token's `top_logprobs` where
the server gives them (" A" and " B", or "A" and "B"), and from the answer's
text otherwise (A: 1, B: 0, anything else: 1/2). Requests time out, are
retried with exponential backoff on connection errors, 429 and 5xx, and run
at most `concurrency` at a time; verdicts are cached by (model, question),
and calls, cache hits and tokens are counted. The API key is read from the
environment variable `api_key_env` when a request is made, never stored.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import requests

from pairrank.errors import ConfigError
from pairrank.judges.llm_prompts import ANSWER_PREFIX, Prompts, PromptSettings

RETRIED_STATUS = {429, 500, 502, 503, 504}


@dataclass
class ServerOptions:
    base_url: str  # up to the API version, e.g. http://127.0.0.1:8080/v1
    model: str = ""  # the model name the server serves ("" where it serves one)
    api_key_env: str | None = "OPENAI_API_KEY"  # the environment variable holding the key; None: no key
    timeout: float = 60.0  # seconds per request
    retries: int = 3  # further tries after a failed request
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    concurrency: int = 4  # requests in flight at most
    top_logprobs: int = 20


class ServerJudge:
    """P(a before b) from a chat-completions endpoint; `counters` holds calls, cache hits and tokens."""

    def __init__(self, prompts: Prompts, options: ServerOptions):
        self.prompts, self.options = prompts, options
        self.cache: dict[tuple[str, str], float] = {}
        self.counters = {"calls": 0, "cached": 0, "from_text": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()
        self._session = requests.Session()

    @property
    def settings(self) -> PromptSettings:
        return self.prompts.settings

    def history_text(self, history: Sequence[int]) -> str:
        return self.prompts.history_text(history)

    def prefer(self, history: str, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        """P(a before b) for each ordered pair, from this history block (`history_text`)."""
        questions = [self.prompts.pair_question(history, a, b) for a, b in pairs]
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            return np.asarray(list(pool.map(self._verdict, questions)), dtype=np.float64)

    def _verdict(self, question: str) -> float:
        key = (self.options.model, question)
        with self._lock:
            if key in self.cache:
                self.counters["cached"] += 1
                return self.cache[key]
        reply = self._post(
            "/chat/completions",
            {
                "model": self.options.model,
                "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": ANSWER_PREFIX}],
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": self.options.top_logprobs,
            },
        )
        probability, from_logprobs = answer_probability(reply["choices"][0])
        usage = reply.get("usage") or {}
        with self._lock:
            self.cache[key] = probability
            self.counters["calls"] += 1
            self.counters["from_text"] += not from_logprobs
            self.counters["prompt_tokens"] += int(usage.get("prompt_tokens", 0))
            self.counters["completion_tokens"] += int(usage.get("completion_tokens", 0))
        return probability

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        options = self.options
        headers = {}
        if options.api_key_env and os.environ.get(options.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[options.api_key_env]}"
        url = options.base_url.rstrip("/") + path
        attempt = 0
        while True:
            last = attempt == options.retries
            try:
                response = self._session.post(url, json=body, headers=headers, timeout=options.timeout)
            except requests.RequestException as error:
                if last:
                    raise ConfigError(f"LLM server {url} unreachable after {attempt + 1} tries: {error}") from None
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRIED_STATUS or last:
                    raise ConfigError(f"LLM server {url} answered {response.status_code}: {response.text[:300]}")
            time.sleep(options.backoff * 2**attempt)
            attempt += 1


def server_options(values: dict[str, Any]) -> ServerOptions:
    """`ServerOptions` from a config table; a missing `base_url` or an unknown option is a `ConfigError`."""
    try:
        return ServerOptions(**values)
    except TypeError as error:
        names = ", ".join(ServerOptions.__dataclass_fields__)
        raise ConfigError(f"server options: {error} (options: {names})") from None


def answer_probability(choice: dict[str, Any]) -> tuple[float, bool]:
    """P(A) from one chat-completion choice, and whether it came from log-probabilities (else from the text)."""
    content = (choice.get("logprobs") or {}).get("content") or []
    if content:
        found: dict[str, float] = {}
        for entry in content[0].get("top_logprobs", []):
            letter = entry["token"].strip()
            if letter in ("A", "B"):
                found[letter] = max(found.get(letter, -math.inf), entry["logprob"])
        if found:
            floor = min(entry["logprob"] for entry in content[0]["top_logprobs"])
            a, b = found.get("A", floor), found.get("B", floor)
            return 1.0 / (1.0 + math.exp(b - a)), True
    text = ((choice.get("message") or {}).get("content") or "").strip()
    answer = text.removeprefix(ANSWER_PREFIX).strip()  # some servers repeat the prefilled start
    return {"A": 1.0, "B": 0.0}.get(answer[:1], 0.5), False
