"""The HTTP service under load: wrk on loopback against POST /v1/recommend, one `pairrank serve` process.

    .venv/bin/python benchmarks/serve_load.py [--seconds 60] [--connections 2,8] [--scenarios ml-ease,ml-textknn,1m]

Each request asks a random known user's top 10 (the stored-events lookup included). Scenarios:
- `ml-ease`, `ml-textknn`: ml-latest-small's 9.7k items; EASE (its `loo` split refit on train+valid) scores
  every item; TextKNN is answered from a FAISS exact inner-product index.
- `1m`: 1,000,000 items with synthetic 64-d unit vectors (clustered), served as a TextKNN run (a user's vector
  is the recency-weighted mean of their items'), searched in FAISS HNSW; 1,000 users with 20 items each. The
  served top 100 of 200 users is compared with exact search (numpy) for recall@100.
Needs wrk (Debian package `wrk`). Writes benchmarks/results/serve_load.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import scipy.sparse as sp
from dev_datasets import ROOT, load
from results_text import header

from pairrank.data.idmap import IdMap
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split, make_split
from pairrank.experiments.training import train_model, write_run
from pairrank.models.textknn import TextKNN

SYNTHETIC_ITEMS, SYNTHETIC_USERS, DIM, HISTORY, CLUSTERS = 1_000_000, 1_000, 64, 20, 1_000
LUA = """math.randomseed(7)
local ids = {%s}
request = function()
  local body = '{"user_id": "' .. ids[math.random(#ids)] .. '", "k": 10}'
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"}, body)
end
"""


def ml_run(work: Path, model: str) -> tuple[Path, list[str]]:
    split_dir = work / "split-loo"
    if not (split_dir / "train.csv").exists():
        make_split(load("ml-latest-small"), "loo", split_dir)
    data = SplitData.from_split(Split.read(split_dir))
    fitted, info = train_model(data, model, final=True)
    run = write_run(fitted, info, work / f"run-{model}")
    return run, list(fitted.users.ids)


def synthetic_run(work: Path) -> tuple[Path, list[str], TextKNN]:
    """A TextKNN run over 1M synthetic item vectors, and the model itself, to check recall against."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, CLUSTERS, SYNTHETIC_ITEMS)] + 0.5 * rng.normal(
        size=(SYNTHETIC_ITEMS, DIM)
    ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    histories = [rng.choice(SYNTHETIC_ITEMS, HISTORY, replace=False) for _ in range(SYNTHETIC_USERS)]
    model = TextKNN()
    model.users = IdMap([f"u{i}" for i in range(SYNTHETIC_USERS)])
    model.items = IdMap([f"i{i}" for i in range(SYNTHETIC_ITEMS)])
    model.item_titles = [f"item {i}" for i in range(SYNTHETIC_ITEMS)]
    rows = np.repeat(np.arange(SYNTHETIC_USERS), HISTORY)
    model.history = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, np.concatenate(histories))), shape=(SYNTHETIC_USERS, SYNTHETIC_ITEMS)
    )
    model.text_vectors = vectors
    model.profile_weights = model._history_weights(histories)
    run = model.save(work / "run-1m")
    return run, list(model.users.ids), model


def serve(run: Path, work: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    db = work / f"events-{run.name}.sqlite"
    db.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pairrank", "serve", "--run", str(run), "--db", str(db), "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit(server.stderr.read().decode())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_test(url: str, users: list[str], seconds: int, connections: int, work: Path) -> dict[str, float]:
    script = work / "recommend.lua"
    script.write_text(LUA % ", ".join(f'"{u}"' for u in users))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(output, flush=True)
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, float]:
    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return {
        "p50": millis("50"),
        "p99": millis("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": requests,
        "errors": errors,
    }


def recall_at_100(url: str, model: TextKNN, users: int = 200) -> float:
    """The served top 100 against exact search (the model scoring every item, in process)."""
    hits = []
    for user in range(users):
        served = httpx.post(f"{url}/v1/recommend", json={"user_id": f"u{user}", "k": 100}, timeout=30).json()
        found = set(model.items.index([item["item_id"] for item in served["items"]]).tolist())
        exact, _ = model.recommend(np.array([user]), 100)
        hits.append(len(found & set(exact[0].tolist())) / 100)
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", default="2,8", help="wrk connections: one run per value")
    parser.add_argument("--scenarios", default="ml-ease,ml-textknn,1m")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-serve-load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_load.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for scenario in args.scenarios.split(","):
        reference = None
        if scenario.startswith("ml-"):
            run, users = ml_run(args.work, scenario.removeprefix("ml-"))
            label, items = f"ml-latest-small, {scenario.removeprefix('ml-')}", "9,742"
        elif scenario == "1m":
            run, users, reference = synthetic_run(args.work)
            label, items = "synthetic, textknn (FAISS HNSW)", f"{SYNTHETIC_ITEMS:,}"
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        server, url, ready = serve(run, args.work)
        try:
            httpx.post(f"{url}/v1/recommend", json={"user_id": users[0]}, timeout=60)  # warm up
            recall = recall_at_100(url, reference) if reference is not None else None
            for connections in map(int, args.connections.split(",")):
                measured = load_test(url, users, args.seconds, connections, args.work)
                rows.append(
                    f"| {label} | {items} | {connections} | {measured['p50']:.1f} | {measured['p99']:.1f} "
                    f"| {measured['rps']:.0f} | {measured['requests']:,} | {measured['errors']} "
                    f"| {'-' if recall is None else f'{recall:.3f}'} | {ready:.0f} |"
                )
                print(rows[-1], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    lines = header(
        "The HTTP service under load",
        f".venv/bin/python benchmarks/serve_load.py --seconds {args.seconds} --connections {args.connections} "
        f"--scenarios {args.scenarios}",
        f"wrk (1 thread, closed loop: each connection sends its next request when the last is answered; "
        f"{args.seconds} s per row) on loopback against one `pairrank serve` process (one uvicorn worker) on the "
        "same 2 cores; each request is a random known user's top 10, their stored events read from SQLite.",
    )
    lines += [
        "",
        "| served | items | connections | p50 ms | p99 ms | requests/s | requests | errors | recall@100 vs exact "
        "| start s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Start: from launching `pairrank serve` to its first ready answer (loading the run, building the index).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
