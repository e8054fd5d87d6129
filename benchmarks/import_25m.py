"""Time `load_dataset(dir, "movielens")` on a synthetic MovieLens-25M-sized directory.

Generates ratings.csv (25,000,095 rows for 162,541 users and 59,047 rated
movies, popularity and activity skewed like the real set), movies.csv
(62,423 movies) and tags.csv (~1.09M rows) with numpy + pyarrow, then runs
the import in a child process (pinned to --cpus cores) and reports its
time and peak resident memory (ru_maxrss of the child). Appends a row to
benchmarks/results/import_25m.md.

    python benchmarks/import_25m.py [--workdir DIR] [--cpus 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

N_RATINGS = 25_000_095
N_USERS = 162_541
N_RATED = 59_047
N_MOVIES = 62_423
N_TAGS = 1_093_360
N_TAG_WORDS = 73_050
MAX_MOVIE_ID = 209_171
MIN_PER_USER = 20
RATING_LEVELS = np.array(["0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"])
RATING_SHARE = np.array([1.6, 3.2, 1.6, 6.6, 5.0, 19.6, 12.6, 26.6, 8.9, 14.4])  # % of ratings, like ML-25M
GENRES = (
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror IMAX "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
).split()
TIME_RANGE = (789_652_009, 1_574_327_703)
TARGET_SECONDS, TARGET_GB = 90.0, 6.0
RESULTS = Path(__file__).resolve().parent / "results" / "import_25m.md"
ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from pairrank.data.importers import load_dataset
t1 = time.perf_counter()
data = load_dataset(sys.argv[1], "movielens")
t2 = time.perf_counter()
items = data.items
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "ratings": len(data.interactions),
                  "users": int(data.interactions["user_id"].nunique()), "items": len(items),
                  "tagged": int((items["tags"] != "").sum())}))
"""


def write_header(path: Path, names: list[str]) -> None:
    path.write_text(",".join(names) + "\n")


def append_csv(path: Path, table: pa.Table, quoting: str = "none") -> None:
    with open(path, "ab") as f:
        pcsv.write_csv(table, f, pcsv.WriteOptions(include_header=False, quoting_style=quoting))


def user_counts(rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: at least 20, heavy-tailed, summing to N_RATINGS."""
    extra = rng.lognormal(mean=3.6, sigma=1.25, size=N_USERS)
    extra = np.floor(extra / extra.sum() * (N_RATINGS - MIN_PER_USER * N_USERS)).astype(np.int64)
    counts = MIN_PER_USER + extra
    short = N_RATINGS - int(counts.sum())
    counts[rng.choice(N_USERS, size=short, replace=False)] += 1
    return counts


def popularity(n: int, exponent: float = 1.05, offset: float = 15.0) -> np.ndarray:
    weights = 1.0 / (np.arange(n) + offset) ** exponent
    return weights / weights.sum()


def generate(directory: Path, seed: int = 25) -> dict:
    """Write ratings.csv, movies.csv and tags.csv; returns their sizes."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    movie_ids = np.sort(rng.choice(np.arange(2, MAX_MOVIE_ID + 1), size=N_MOVIES - 1, replace=False))
    movie_ids = np.concatenate([[1], movie_ids])
    rated = rng.permutation(movie_ids)[:N_RATED]  # rated movies in popularity order

    counts = user_counts(rng)
    users = np.repeat(np.arange(1, N_USERS + 1, dtype=np.int64), counts)
    cdf = np.cumsum(popularity(N_RATED))
    movies = rated[np.minimum(np.searchsorted(cdf, rng.random(N_RATINGS)), N_RATED - 1)]
    order = np.argsort(users * (MAX_MOVIE_ID + 1) + movies, kind="stable")  # by user, then movie
    movies = movies[order]
    del order
    ratings = pa.array(RATING_LEVELS).take(
        pa.array(rng.choice(len(RATING_LEVELS), size=N_RATINGS, p=RATING_SHARE / RATING_SHARE.sum()).astype(np.int8))
    )
    timestamps = rng.integers(*TIME_RANGE, size=N_RATINGS)
    path = directory / "ratings.csv"
    write_header(path, ["userId", "movieId", "rating", "timestamp"])
    step = 5_000_000
    for start in range(0, N_RATINGS, step):
        part = slice(start, start + step)
        append_csv(path, pa.table({"u": users[part], "m": movies[part], "r": ratings[part], "t": timestamps[part]}))
    del users, movies, ratings, timestamps

    write_movies(directory / "movies.csv", movie_ids, rng)
    write_tags(directory / "tags.csv", rated, rng)
    return {p.name: p.stat().st_size for p in directory.iterdir()}


def write_movies(path: Path, movie_ids: np.ndarray, rng: np.random.Generator) -> None:
    years = rng.integers(1902, 2020, size=len(movie_ids))
    genre_counts = rng.integers(0, 4, size=len(movie_ids))
    words = ["Return", "Night", "Café", "Love", "City", "Dark", "Story", "The", "Man", "Über", "Last", "Day"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["movieId", "title", "genres"])
        for i, (movie, year, k) in enumerate(zip(movie_ids, years, genre_counts)):
            title = " ".join(words[(i * 7 + j) % len(words)] for j in range(1 + i % 4))
            if i % 9 == 0:
                title = f"{title}, The"
            genres = "|".join(rng.choice(GENRES, size=k, replace=False)) if k else "(no genres listed)"
            out.writerow([int(movie), f"{title} {i} ({year})", genres])


def write_tags(path: Path, rated: np.ndarray, rng: np.random.Generator) -> None:
    vocabulary = np.array([f"tag {i}" if i % 13 else f"tag, with comma {i}" for i in range(N_TAG_WORDS)])
    cdf = np.cumsum(popularity(N_TAG_WORDS, exponent=1.1, offset=5.0))
    words = np.minimum(np.searchsorted(cdf, rng.random(N_TAGS)), N_TAG_WORDS - 1)
    movies = rated[np.minimum(np.searchsorted(np.cumsum(popularity(N_RATED)), rng.random(N_TAGS)), N_RATED - 1)]
    table = pa.table(
        {
            "u": rng.integers(1, N_USERS + 1, size=N_TAGS),
            "m": movies,
            "t": pa.array(vocabulary).take(pa.array(words)),
            "s": rng.integers(*TIME_RANGE, size=N_TAGS),
        }
    )
    write_header(path, ["userId", "movieId", "tag", "timestamp"])
    append_csv(path, table, quoting="needed")


def run_import(directory: Path, cpus: int) -> tuple[dict, float, float]:
    """(child's report, wall seconds, peak RSS in GB) of the import in a child process."""
    env = dict(os.environ, OMP_NUM_THREADS=str(cpus), PYTHONPATH=str(ROOT / "src"))
    available = sorted(os.sched_getaffinity(0))

    def pin() -> None:
        os.sched_setaffinity(0, available[:cpus])

    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory)], env=env, preexec_fn=pin, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"import failed:\n{done.stderr}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, peak_gb


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    ram_gb = int(meminfo[1]) * 1024 / 1e9 if len(meminfo) > 1 else float("nan")
    models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")]  # fmt: skip
    model = models[0] if models else platform.processor()
    return f"{os.cpu_count()} CPUs ({model}), {ram_gb:.0f} GB RAM, Python {platform.python_version()}"


def record(row: list[str]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# MovieLens-25M import benchmark\n\n"
            '`load_dataset(dir, "movielens")` on a synthetic 25,000,095-rating directory '
            f"(targets: < {TARGET_SECONDS:.0f} s, < {TARGET_GB:.0f} GB peak RSS on 2 cores).\n\n"
            "| date (UTC) | command | machine | cores used | generate s | load s | child wall s "
            "| peak RSS GB | ratings | targets |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n"
        )
    with open(RESULTS, "a") as f:
        f.write("| " + " | ".join(row) + " |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="where to write the data set (kept); default: a temp dir")
    parser.add_argument("--cpus", type=int, default=2, help="cores the import may use (default 2)")
    parser.add_argument("--reuse", action="store_true", help="skip generation when --workdir already holds the files")
    args = parser.parse_args()
    temp = None if args.workdir else Path(tempfile.mkdtemp(prefix="ml25m-"))
    directory = args.workdir or temp
    try:
        start = time.perf_counter()
        if args.reuse and (directory / "ratings.csv").is_file():
            generated = "reused"
        else:
            sizes = generate(directory)
            generated = f"{time.perf_counter() - start:.1f}"
            print(f"generated in {generated} s: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items()))
        report, wall, peak = run_import(directory, args.cpus)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    ok = report["load_s"] < TARGET_SECONDS and peak < TARGET_GB
    print(
        f"load_dataset: {report['load_s']:.1f} s (child wall {wall:.1f} s), peak RSS {peak:.2f} GB, "
        f"{report['ratings']:,} ratings, {report['users']:,} users, {report['items']:,} items "
        f"({report['tagged']:,} tagged) -> {'within' if ok else 'MISSES'} targets"
    )
    command = "python benchmarks/import_25m.py " + " ".join(sys.argv[1:])
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    record(
        [
            date,
            f"`{command.strip()}`",
            machine(),
            str(min(args.cpus, os.cpu_count() or args.cpus)),
            generated,
            f"{report['load_s']:.1f}",
            f"{wall:.1f}",
            f"{peak:.2f}",
            f"{report['ratings']:,}",
            "met" if ok else "missed",
        ]
    )


if __name__ == "__main__":
    main()
