"""The `pairrank` command line: thin Typer commands over the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pairrank.errors import ConfigError, DataError
from pairrank.progress import console

# Tables go to stdout (at least 130 columns wide, so logs keep every column); progress and messages to stderr.
results_console = Console(width=max(Console().width, 130))

app = typer.Typer(help="PairRank: pair-wise recommendation ranking.", no_args_is_help=True, add_completion=False)

BUNDLED_DATA = Path(__file__).resolve().parents[2] / "datasets" / "ml-latest-small"


class Protocol(str, Enum):
    loo = "loo"
    temporal80 = "temporal80"
    cold_items = "cold_items"


class BadRows(str, Enum):
    error = "error"
    skip = "skip"


class OnSeen(str, Enum):
    reject = "reject"
    count = "count"


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input or configuration: one red line on stderr and exit code 2, no traceback."""
    try:
        yield
    except (DataError, ConfigError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def split(
    data: Annotated[str, typer.Option(help="Input file or directory (a database URL for --format sql).")],
    format: Annotated[
        str,
        typer.Option("--format", help="csv, tsv, jsonl, parquet, sql, movielens, amazon, goodbooks, lastfm or mind."),
    ],
    protocol: Annotated[Protocol, typer.Option(help="Split protocol of PROTOCOL.md.")],
    out: Annotated[Path, typer.Option(help="Split directory to write.")],
    columns: Annotated[
        str | None, typer.Option(help="Column mapping for generic formats, e.g. 'user_id=userId,item_id=movieId'.")
    ] = None,
    items: Annotated[Path | None, typer.Option(help="Item catalogue file (generic formats).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Field delimiter for csv/tsv (default ',' / tab).")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the input files.")] = "utf-8",
    query: Annotated[str | None, typer.Option(help="SQL query returning interactions (--format sql).")] = None,
    table: Annotated[str | None, typer.Option(help="SQL table of interactions (--format sql).")] = None,
    on_bad_rows: Annotated[
        BadRows, typer.Option(help="'error': stop at the first bad row; 'skip': skip and count them.")
    ] = BadRows.error,
) -> None:
    """Import interactions and write a train/valid/test split directory."""
    from pairrank.data.importers import GENERIC_FORMATS, load_dataset
    from pairrank.data.interactions import ColumnMap
    from pairrank.data.split_io import make_split

    with user_errors():
        options: dict = {"on_bad_rows": on_bad_rows.value}
        if format in GENERIC_FORMATS:
            options |= {
                "columns": ColumnMap.parse(columns),
                "items": items,
                "delimiter": delimiter,
                "encoding": encoding,
            }
        elif format == "sql":
            options |= {"columns": ColumnMap.parse(columns), "query": query, "table": table}
        with console.status(f"reading {data} ({format})"):
            raw = load_dataset(data, format, **options)
        if raw.skipped_rows:
            console.print(f"[yellow]skipped {raw.skipped_rows} bad row(s)[/yellow]")
        summary = make_split(raw, protocol.value, out)
    console.print(f"wrote {out}: " + ", ".join(f"{k}={v}" for k, v in summary.items() if k != "source"))


@app.command()
def train(
    split: Annotated[Path, typer.Option(help="Split directory.")],
    model: Annotated[
        str,
        typer.Option(help="mostpop, itemknn, ease, bprmf, textknn, twotower, implicit-als, implicit-bpr or lightfm."),
    ],
    out: Annotated[Path, typer.Option(help="Run directory to write (model folder + run.json).")],
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file of model options.")] = None,
    final: Annotated[
        bool, typer.Option("--final", help="After early stopping on valid, refit on train+valid.")
    ] = False,
) -> None:
    """Train one model on a split."""
    from pairrank.data.split_io import Split
    from pairrank.pipeline.runs import SplitData, read_config, train_model, write_run

    with user_errors():
        data = SplitData.from_split(Split.read(split))
        fitted, info = train_model(data, model, read_config(config), final=final)
        write_run(fitted, info, out)
    console.print(f"trained {model} in {info['train_seconds']:.1f} s; wrote {out}")


@app.command()
def recommend(
    run: Annotated[Path, typer.Option(help="Run directory written by 'pairrank train'.")],
    split: Annotated[Path, typer.Option(help="Split directory: recommends for its test users.")],
    out: Annotated[Path, typer.Option(help="Recommendations file (.csv or .parquet).")],
    k: Annotated[int, typer.Option(min=1, help="Items per user.")] = 100,
) -> None:
    """Top-k for the split's test users, their train+valid items excluded."""
    from pairrank.data.split_io import Split
    from pairrank.models.base import Recommender
    from pairrank.pipeline.runs import SplitData, recommend_for_test

    with user_errors():
        model = Recommender.load(run)
        recs = recommend_for_test(model, SplitData.from_split(Split.read(split)), k)
        out.parent.mkdir(parents=True, exist_ok=True)
        recs.to_parquet(out, index=False) if out.suffix == ".parquet" else recs.to_csv(out, index=False)
    console.print(f"wrote {recs['user_id'].nunique()} users x top-{k} to {out}")


@app.command()
def evaluate(
    split: Annotated[Path, typer.Option(help="Split directory with test.csv.")],
    recs: Annotated[Path, typer.Option(help="Recommendations file (user_id,item_id,rank).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON here.")] = None,
    on_seen: Annotated[
        OnSeen, typer.Option(help="Recommended train/valid items: 'reject' the file or 'count' and drop them.")
    ] = OnSeen.reject,
    ci: Annotated[bool, typer.Option("--ci", help="Add bootstrap 95% confidence intervals.")] = False,
) -> None:
    """Score a recommendations file against the split's test items (PROTOCOL.md)."""
    from pairrank.data.split_io import Split
    from pairrank.eval.evaluator import evaluate as run_evaluation
    from pairrank.eval.evaluator import read_recommendations

    with user_errors():
        data = Split.read(split)
        n_catalogue = len(data.item_map())
        result = run_evaluation(
            data.test,
            read_recommendations(recs),
            seen=data.seen_frame(),
            candidates=data.candidates,
            n_catalogue=n_catalogue,
            on_seen=on_seen.value,
            recs_path=recs,
        )
    results_console.print(result.table(with_ci=ci))
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_json(with_ci=ci), indent=2))
        console.print(f"wrote {json_out}")


@app.command()
def compare(
    split: Annotated[Path, typer.Option(help="Split directory with test.csv.")],
    recs_a: Annotated[Path, typer.Option(help="First recommendations file.")],
    recs_b: Annotated[Path, typer.Option(help="Second recommendations file.")],
    metric: Annotated[str, typer.Option(help="Per-user metric to compare.")] = "ndcg@10",
) -> None:
    """Paired test between two recommendation files on the same split."""
    from pairrank.data.split_io import Split
    from pairrank.eval.evaluator import evaluate as run_evaluation
    from pairrank.eval.evaluator import read_recommendations
    from pairrank.eval.report import paired_table
    from pairrank.eval.stats import paired_test

    with user_errors():
        data = Split.read(split)
        n_catalogue = len(data.item_map())
        results = [
            run_evaluation(
                data.test,
                read_recommendations(p),
                seen=data.seen_frame(),
                candidates=data.candidates,
                n_catalogue=n_catalogue,
                recs_path=p,
            )
            for p in (recs_a, recs_b)
        ]
        outcome = paired_test(results[0].per_user, results[1].per_user, metric)
    results_console.print(paired_table(outcome))


@app.command()
def benchmark(
    split: Annotated[Path, typer.Option(help="Split directory.")],
    models: Annotated[str, typer.Option(help="Comma-separated model names.")],
    out: Annotated[Path, typer.Option(help="Output directory for results.json, results.md, report.html.")],
    final: Annotated[
        bool, typer.Option(help="Refit on train+valid before scoring test (PROTOCOL.md final numbers).")
    ] = True,
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file: one table of options per model.")] = None,
) -> None:
    """Train, recommend and evaluate each model; write a report."""
    from pairrank.pipeline.benchmark import run_benchmark
    from pairrank.pipeline.runs import read_config

    with user_errors():
        names = [m.strip() for m in models.split(",") if m.strip()]
        run_benchmark(split, names, out, configs=read_config(config), final=final)
    _print_results(out)


def _print_results(out: Path) -> None:
    from pairrank.eval.report import rich_table

    summary = json.loads((out / "results.json").read_text())
    results_console.print(rich_table(summary["results"], f"{summary['protocol']} (test, full ranking)"))
    console.print(f"report: {(out / 'report.html').resolve()}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the split, recommendations and report go.")] = Path("runs/demo"),
    data: Annotated[Path, typer.Option(help="MovieLens directory.")] = BUNDLED_DATA,
    protocol: Annotated[Protocol, typer.Option(help="Split protocol.")] = Protocol.temporal80,
) -> None:
    """The main job end to end on the bundled MovieLens sample: import, split, train the baselines, evaluate, report."""
    from pairrank.data.importers import load_dataset
    from pairrank.data.split_io import make_split
    from pairrank.models.registry import BASELINES
    from pairrank.pipeline.benchmark import run_benchmark

    with user_errors():
        raw = load_dataset(data, "movielens")
        split_dir = out / f"split-{protocol.value}"
        summary = make_split(raw, protocol.value, split_dir)
        console.print(
            f"split {data} with {protocol.value}: {summary['train_interactions']} train, "
            f"{summary['valid_interactions']} valid, {summary['test_interactions']} test"
        )
        run_benchmark(split_dir, list(BASELINES), out / "benchmark")
    _print_results(out / "benchmark")


if __name__ == "__main__":
    app()
