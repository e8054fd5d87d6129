"""The `pairrank` command line: thin Typer commands over the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from pairrank.errors import ConfigError, DataError
from pairrank.models.registry import model_names
from pairrank.progress import console

if TYPE_CHECKING:
    import pandas as pd

    from pairrank.models.base import Recommender

MODEL_HELP = f"Model: {', '.join(model_names())}."

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
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    out: Annotated[Path, typer.Option(help="Run directory to write (model folder + run.json).")],
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file of model options.")] = None,
    final: Annotated[
        bool, typer.Option("--final", help="After early stopping on valid, refit on train+valid.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue from the checkpoints a killed run left in OUT/checkpoints (fresh if none)."
        ),
    ] = False,
) -> None:
    """Train one model on a split (runs data-parallel under torchrun)."""
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.config_file import read_config
    from pairrank.experiments.training import model_config, train_run

    with user_errors():
        checked = model_config(model, read_config(config))  # before any data is read
        data = SplitData.from_split(Split.read(split))
        info, wrote = train_run(data, model, checked, out, final=final, resume=resume)
    if wrote:
        console.print(f"trained {model} in {info['train_seconds']:.1f} s; wrote {out}")


@app.command()
def recommend(
    run: Annotated[Path, typer.Option(help="Run directory written by 'pairrank train'.")],
    split: Annotated[Path | None, typer.Option(help="Split directory: recommends for its test users.")] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Histories given now: CSV/Parquet of user_id,item_id[,timestamp] (one per user), "
            "or a .txt of item ids (one history)."
        ),
    ] = None,
    items: Annotated[str | None, typer.Option(help="One history given now: comma-separated item ids.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Recommendations file (.csv or .parquet); omit with --items to print a table.")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Items per user.")] = 100,
) -> None:
    """Top-k for the split's test users (train+valid items excluded), or for histories given now (theirs excluded)."""
    from pairrank.models.registry import load_model

    with user_errors():
        source = _one_source(split=split, history=history, items=items)
        if out is None and items is None:
            raise ConfigError(f"{source} needs --out (only --items can print to the terminal)")
        model = load_model(run)
        recs = _split_recs(model, split, k) if split is not None else _history_recs(model, history, items, k)
        if out is None:
            results_console.print(_recs_table(recs, k))
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        recs.to_parquet(out, index=False) if out.suffix == ".parquet" else recs.to_csv(out, index=False)
    console.print(f"wrote {recs['user_id'].nunique()} users x top-{k} to {out}")


def _one_source(**options: object) -> str:
    """The one option (as '--name') that was given; none or several is a ConfigError."""
    given = [f"--{name}" for name, value in options.items() if value is not None]
    if len(given) != 1:
        named = ", ".join(f"--{name}" for name in options)
        raise ConfigError(f"give exactly one of {named} (got {', '.join(given) or 'none'})")
    return given[0]


def _split_recs(model: Recommender, split: Path, k: int) -> pd.DataFrame:
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.recommending import recommend_for_test

    return recommend_for_test(model, SplitData.from_split(Split.read(split)), k)


def _history_recs(model: Recommender, history: Path | None, items: str | None, k: int) -> pd.DataFrame:
    """Top-k for each history of the --history file or for the --items list, unknown item ids skipped with a warning."""
    from pairrank.data.histories import anonymous_history, code_histories, read_histories
    from pairrank.experiments.recommending import recommend_histories_frame
    from pairrank.models.registry import history_models

    if not model.scores_histories:
        raise ConfigError(
            f"{model.name} cannot recommend for a history given now (it scores only the users it was trained on); "
            f"models that can: {', '.join(history_models())}"
        )
    source = history if history is not None else "--items"
    frame = read_histories(history) if history is not None else anonymous_history(items.split(","), source)
    user_ids, histories, unknown = code_histories(model.items, frame, source)
    if len(unknown):
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        console.print(
            f"[yellow]warning:[/yellow] skipped {len(unknown)} item id(s) not in the model's catalogue: {shown}",
            highlight=False,
            soft_wrap=True,
        )
    return recommend_histories_frame(model, user_ids, histories, k)


def _recs_table(recs: pd.DataFrame, k: int) -> Table:
    table = Table(title=f"top-{k} for the given history")
    for column in ("rank", "item_id", "score"):
        table.add_column(column, justify="right" if column != "item_id" else "left")
    for row in recs.itertuples(index=False):
        table.add_row(str(row.rank), str(row.item_id), f"{row.score:.4f}")
    return table


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
    models: Annotated[str, typer.Option(help=f"Comma-separated model names ({', '.join(model_names())}).")],
    out: Annotated[Path, typer.Option(help="Output directory for results.json, results.md, report.html.")],
    final: Annotated[
        bool, typer.Option(help="Refit on train+valid before scoring test (PROTOCOL.md final numbers).")
    ] = True,
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file: one table of options per model.")] = None,
) -> None:
    """Train, recommend and evaluate each model; write a report."""
    from pairrank.experiments.benchmark import run_benchmark
    from pairrank.experiments.config_file import read_config

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
def tune(
    split: Annotated[Path, typer.Option(help="Split directory (needs a non-empty valid.csv).")],
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    trials: Annotated[int, typer.Option(min=1, help="Number of trials.")],
    out: Annotated[Path, typer.Option(help="Best config (JSON) to write; the trials go beside it as *.trials.json.")],
    timeout: Annotated[float | None, typer.Option(min=0, help="Start no new trial after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the TPE sampler.")] = 42,
    max_epochs: Annotated[
        int | None, typer.Option(min=1, help="Cap 'epochs' of models trained in epochs (kept in the best config).")
    ] = None,
) -> None:
    """Search a model's hyperparameters on validation NDCG@10 (Optuna TPE, median pruning)."""
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.tune import search_space, trials_table, tune_model, write_results

    with user_errors():
        search_space(model)  # unknown model or nothing to tune: fail before reading the split
        data = SplitData.from_split(Split.read(split))
        result = tune_model(data, model, trials, timeout=timeout, seed=seed, max_epochs=max_epochs)
        best_path, table_path = write_results(result, out)
    results_console.print(trials_table(result))
    results_console.print(f"best valid ndcg@10: {result.best_value:.4f} (trial {result.best_number})")
    console.print(f"wrote {best_path} (for pairrank train --config) and {table_path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the split, recommendations and report go.")] = Path("runs/demo"),
    data: Annotated[Path, typer.Option(help="MovieLens directory.")] = BUNDLED_DATA,
    protocol: Annotated[Protocol, typer.Option(help="Split protocol.")] = Protocol.temporal80,
) -> None:
    """The main job end to end on the bundled MovieLens sample: import, split, train the baselines, evaluate, report."""
    from pairrank.data.importers import load_dataset
    from pairrank.data.split_io import make_split
    from pairrank.experiments.benchmark import run_benchmark
    from pairrank.models.registry import baseline_names

    with user_errors():
        raw = load_dataset(data, "movielens")
        split_dir = out / f"split-{protocol.value}"
        summary = make_split(raw, protocol.value, split_dir)
        console.print(
            f"split {data} with {protocol.value}: {summary['train_interactions']} train, "
            f"{summary['valid_interactions']} valid, {summary['test_interactions']} test"
        )
        run_benchmark(split_dir, baseline_names(), out / "benchmark")
    _print_results(out / "benchmark")


if __name__ == "__main__":
    app()
