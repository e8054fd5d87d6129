"""Shared fixtures: the bundled MovieLens sample and small splits cut from it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PAIRRANK_QUIET", "1")
# ranx (the metrics cross-check) is numba code: compiling its kernels takes 30-60 s on a fresh install, as in CI;
# interpreted, the same code scores the test's 200 users in about 2 s.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "datasets" / "ml-latest-small"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    return BUNDLED


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep test embeddings out of the user's cache."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["PAIRRANK_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def small_ratings(movielens_dir: Path) -> pd.DataFrame:
    """Ratings of the first 80 users of ml-latest-small (real data, fast to train on)."""
    ratings = pd.read_csv(movielens_dir / "ratings.csv", dtype={"userId": str, "movieId": str})
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    keep = ratings["user_id"].isin([str(u) for u in range(1, 81)])
    return ratings[keep].reset_index(drop=True)


@pytest.fixture(scope="session")
def small_items(movielens_dir: Path, small_ratings: pd.DataFrame) -> pd.DataFrame:
    movies = pd.read_csv(movielens_dir / "movies.csv", dtype=str).rename(columns={"movieId": "item_id"})
    return movies[movies["item_id"].isin(set(small_ratings["item_id"]))].reset_index(drop=True)


def write_small_split(out: Path, ratings: pd.DataFrame, items: pd.DataFrame, protocol: str) -> Path:
    from pairrank.data.schema import RawDataset
    from pairrank.data.split import split_interactions
    from pairrank.data.split_io import write_split

    frames = split_interactions(ratings, protocol, items["item_id"].to_numpy())
    write_split(frames, RawDataset(ratings, items=items), out)
    return out


@pytest.fixture(scope="session")
def small_loo_split(tmp_path_factory, small_ratings, small_items) -> Path:
    return write_small_split(tmp_path_factory.mktemp("loo"), small_ratings, small_items, "loo")


@pytest.fixture(scope="session")
def small_cold_split(tmp_path_factory, small_ratings, small_items) -> Path:
    return write_small_split(tmp_path_factory.mktemp("cold"), small_ratings, small_items, "cold_items")


@pytest.fixture(scope="session")
def loo_data(small_loo_split):
    """The small loo split coded once (SplitData)."""
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split

    return SplitData.from_split(Split.read(small_loo_split))


@pytest.fixture(scope="session")
def ease_run(tmp_path_factory, loo_data) -> Path:
    """An EASE run folder (default options) trained on the small loo split's train part."""
    from pairrank.experiments.training import train_model, write_run

    model, info = train_model(loo_data, "ease")
    return write_run(model, info, tmp_path_factory.mktemp("ease-run"))


def final_run(tmp_path_factory, data, name: str, options: dict):
    """A model refit on train+valid (`train_model(final=True)`) and the run folder it was written to."""
    from pairrank.experiments.training import train_model, write_run

    model, info = train_model(data, name, options, final=True)
    return model, write_run(model, info, tmp_path_factory.mktemp(f"{name}-run"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(run: Path, db: Path | str, port: int, key: str = "test-key-1") -> subprocess.Popen:
    """`pairrank serve` in a process of its own, once it answers /readyz (API key `key`)."""
    command = [sys.executable, "-m", "pairrank", "serve", "--run", str(run), "--db", str(db), "--port", str(port)]
    server = subprocess.Popen(command, env={**os.environ, "PAIRRANK_API_KEYS": key}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise AssertionError(server.stderr.read().decode())
    server.kill()
    raise AssertionError("pairrank serve did not become ready in 60 s")
