"""The `pairrank` command line: thin Typer commands over the library."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from pairrank.errors import ConfigError, DataError, DataWarning
from pairrank.models.registry import model_names
from pairrank.progress import console

if TYPE_CHECKING:
    import pandas as pd

    from pairrank.api import Ranker

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
    """Bad input or configuration: one red line on stderr and exit code 2, no traceback.

    `DataWarning`s (a guessed column, unused columns, no timestamp) are shown as they happen.
    """

    def show(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = show
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
    teacher: Annotated[
        Path | None,
        typer.Option(help="mono/duo: an llm-judge run whose verdicts label the training pairs (distillation)."),
    ] = None,
) -> None:
    """Train one model on a split (runs data-parallel under torchrun)."""
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.config_file import read_config
    from pairrank.experiments.training import model_config, train_run

    with user_errors():
        options = read_config(config) | ({"teacher": str(teacher)} if teacher else {})
        checked = model_config(model, options)  # before any data is read
        data = SplitData.from_split(Split.read(split))
        info, wrote = train_run(data, model, checked, out, final=final, resume=resume)
    if wrote:
        console.print(f"trained {model} in {info['train_seconds']:.1f} s; wrote {out}")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def recommend(
    run: Annotated[Path, typer.Option(help="Run directory written by 'pairrank train'.")],
    user: Annotated[list[str] | None, typer.Option(help="A user the run was trained on (repeat for several).")] = None,
    split: Annotated[Path | None, typer.Option(help="Split directory: recommends for its test users.")] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Histories given now: CSV/Parquet of user_id,item_id[,timestamp] (one per user), "
            "or a .txt of item ids (one history)."
        ),
    ] = None,
    items: Annotated[str | None, typer.Option(help="One history given now: comma-separated item ids.")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Column mapping for --history, as for split: 'user_id=visitor,item_id=sku'.")
    ] = None,
    k: Annotated[
        int | None, typer.Option(min=1, help="Items per user (default 100 with --split, for evaluation; else 10).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the recommendations here (.csv or .parquet).")] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Without --out: a table with titles, or CSV/JSON on stdout.")
    ] = OutputFormat.table,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Add why: each item's top-3 supporting history items (because_ids, because_titles) and the "
            "genres/tags it shares with them (shared_attributes).",
        ),
    ] = False,
) -> None:
    """Top-k for users of the run (--user), the split's test users, or histories given now (their items excluded)."""
    from pairrank.api import Ranker

    with user_errors():
        source = _one_source(user=user, split=split, history=history, items=items)
        if out is None and format is OutputFormat.table and source in ("--split", "--history"):
            raise ConfigError(f"{source} gives many lists: write them with --out, or print --format csv|json")
        ranker = Ranker.load(run)
        k = k or (100 if split is not None else 10)
        if user is not None:
            recs = ranker.recommend(user, k, explain=explain)
        elif items is not None:
            recs = ranker.recommend_history(items.split(","), k, explain=explain)
        elif history is not None:
            recs = ranker.recommend_histories(
                _read_histories(history, columns), k, source=str(history), explain=explain
            )
        else:
            recs = _split_recs(ranker, split, k, explain)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            recs.to_parquet(out, index=False) if out.suffix == ".parquet" else recs.to_csv(out, index=False)
    if out is not None:
        console.print(f"wrote {recs['user_id'].nunique()} users x top-{k} to {out}")
    elif format is OutputFormat.csv:
        typer.echo(recs.to_csv(index=False), nl=False)
    elif format is OutputFormat.json:
        typer.echo(recs.to_json(orient="records", indent=2))
    else:
        for user_id, rows in recs.groupby("user_id", sort=False):
            reasons = _reasons(rows) if explain else None
            results_console.print(_recs_table(rows, f"top-{k} for {source.lstrip('-')} {user_id}", reasons))


def _one_source(**options: object) -> str:
    """The one option (as '--name') that was given; none or several is a ConfigError."""
    given = [f"--{name}" for name, value in options.items() if value is not None]
    if len(given) != 1:
        named = ", ".join(f"--{name}" for name in options)
        raise ConfigError(f"give exactly one of {named} (got {', '.join(given) or 'none'})")
    return given[0]


def _split_recs(ranker: Ranker, split: Path, k: int, explain: bool) -> pd.DataFrame:
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.experiments.recommending import recommend_for_test

    recs = recommend_for_test(ranker.model, SplitData.from_split(Split.read(split)), k)
    if not explain:
        return recs
    users = ranker.model.users.index(recs["user_id"].astype(str).unique())
    return ranker.explained(recs, {ranker.model.users.ids[u]: ranker.model.user_history(u) for u in users})


def _reasons(recs: pd.DataFrame) -> dict[str, str]:
    """item_id -> "title; title (shared: genre, tag)" from explained recommendations."""
    names = recs["because_titles"] if "because_titles" in recs.columns else recs["because_ids"]
    reasons = {}
    for item, because, shared in zip(recs["item_id"].astype(str), names, recs["shared_attributes"]):
        reasons[item] = because.replace("|", "; ") + (f" (shared: {shared.replace('|', ', ')})" if shared else "")
    return reasons


def _read_histories(path: Path, columns: str | None) -> pd.DataFrame:
    from pairrank.data.histories import read_histories
    from pairrank.data.interactions import ColumnMap

    return read_histories(path, ColumnMap.parse(columns))


def _recs_table(recs: pd.DataFrame, title: str, reasons: dict[str, str] | None = None) -> Table:
    """rank, item_id, score and title (when known), and `reasons[item_id]` as "because of" if given."""
    table = Table(title=title)
    shown = [c for c in ("rank", "item_id", "score", "title") if c in recs.columns]
    for column in shown:
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    if reasons is not None:
        table.add_column("because of", style="dim")
    for row in recs.itertuples(index=False):
        cells = {"rank": str(row.rank), "item_id": str(row.item_id), "score": f"{row.score:.4f}"}
        cells["title"] = getattr(row, "title", "")
        because = [reasons.get(str(row.item_id), "")] if reasons is not None else []
        table.add_row(*(cells[c] for c in shown), *because)
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


class JudgeStage(str, Enum):
    fusion = "fusion"
    mono = "mono"
    duo = "duo"


class JudgeBackend(str, Enum):
    auto = "auto"
    onnx = "onnx"
    torch = "torch"


@app.command()
def rerank(
    judge: Annotated[
        Path, typer.Option(help="Run directory of a trained 'mono', 'duo', 'llm-judge' or 'pipeline' model.")
    ],
    split: Annotated[Path, typer.Option(help="Split directory: its train+valid histories and item texts.")],
    recs: Annotated[Path, typer.Option(help="Recommendations file to re-rank (user_id,item_id,rank[,score]).")],
    out: Annotated[Path, typer.Option(help="Write the re-ranked recommendations here (.csv or .parquet).")],
    top: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Re-rank each user's top M (default: the judge's, 50 mono/duo, 20 llm-judge; a pipeline: all).",
        ),
    ] = None,
    stage: Annotated[
        JudgeStage | None,
        typer.Option(
            "--model",
            help="'mono' alone, or 'duo' over mono's top m (a duo run; the default where trained); a pipeline "
            "run: 'fusion' alone, or its fusion then its judges (default: its own judge); an llm-judge has one.",
        ),
    ] = None,
    backend: Annotated[
        JudgeBackend,
        typer.Option(
            help="'onnx': ONNX Runtime int8; 'torch': the weights as trained; 'auto': int8 where the CPU has int8 "
            "dot-product instructions (VNNI), else torch, and torch on a GPU."
        ),
    ] = JudgeBackend.auto,
) -> None:
    """Re-rank the top M of any recommendations file with a trained judge or a pipeline run."""
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split
    from pairrank.eval.recs import read_recommendations
    from pairrank.experiments.reranking import load_judge, rerank_frame

    with user_errors():
        data = SplitData.from_split(Split.read(split))
        trained = load_judge(judge, data, backend.value)
        stage_name = stage.value if stage is not None else None
        reranked, timing = rerank_frame(trained, data, read_recommendations(recs), top=top, stage=stage_name, path=recs)
        out.parent.mkdir(parents=True, exist_ok=True)
        reranked.to_parquet(out, index=False) if out.suffix == ".parquet" else reranked.to_csv(out, index=False)
    console.print(
        f"re-ranked {reranked['user_id'].nunique()} users ({timing['seconds_per_user'] * 1000:.0f} ms, "
        f"{timing['calls_per_user']:.0f} judge calls each); wrote {out}"
    )


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
    out: Annotated[Path, typer.Option(help="Where the split, runs, recommendations and report go.")] = Path(
        "runs/demo"
    ),
    data: Annotated[Path, typer.Option(help="MovieLens directory.")] = BUNDLED_DATA,
    protocol: Annotated[Protocol, typer.Option(help="Split protocol.")] = Protocol.temporal80,
) -> None:
    """The main job on the bundled MovieLens sample: import, split, train TwoTower beside the baselines,
    evaluate, report, and show one user's recommendations with the history items behind each."""
    from pairrank.api import Ranker
    from pairrank.experiments.demo import run_demo

    with user_errors():
        run = run_demo(data, out, protocol.value)
        _print_results(run.benchmark_dir)
        user, history = run.shown_user()
        ranker = Ranker.load(run.shown_run)
        recs = ranker.recommend([user], k=5)
        why = ranker.explain_history(history, recs["item_id"].tolist(), top=2)
    recent = ", ".join(ranker.titles(history[-3:]))
    results_console.print(f"\n{ranker.model.name} for user {user} ({len(history)} items, latest: {recent})")
    reasons = why.groupby("item_id")["because_title"].apply("; ".join).to_dict()
    title = f"top-5 for user {user}, and the history items each leans on most"
    results_console.print(_recs_table(recs, title, reasons))
    results_console.print(
        f"\nServe it, with live feedback and the demo page:\n  pairrank serve --run {run.shown_run}\n"
        f"then open http://127.0.0.1:8000/ (user {user}, or search items to build a history)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def serve(
    run: Annotated[
        Path, typer.Option(help="Run folder to serve (from pairrank train), or a registry (pairrank registry).")
    ],
    db: Annotated[
        str, typer.Option(help="Event store: a SQLite file path, or a database URL (postgresql://...).")
    ] = "pairrank-events.sqlite",
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option(help="API key for write endpoints (repeatable; also PAIRRANK_API_KEYS, comma-separated)."),
    ] = None,
    protect_reads: Annotated[bool, typer.Option(help="Require an API key on read endpoints too.")] = False,
) -> None:
    """Serve a run over HTTP: recommend, rank, events (live feedback) and items; OpenAPI schema at /openapi.json."""
    import uvicorn

    from pairrank.serve.app import create_app
    from pairrank.serve.auth import ApiKeys
    from pairrank.serve.events import EventStore
    from pairrank.serve.served import ServedModel

    with user_errors():
        keys = ApiKeys.from_options(api_key or [])
        if protect_reads and not keys.enabled:
            raise ConfigError("--protect-reads needs at least one --api-key (or PAIRRANK_API_KEYS)")
        served = ServedModel.open(run, EventStore(db))
    if not keys.enabled:
        console.print("[yellow]warning:[/yellow] no API keys: anyone who can reach the port can post events")
    service = served.service
    console.print(f"serving {service.model.name} ({service.version}) on http://{host}:{port}/ (events: {db})")
    uvicorn.run(create_app(served, keys, protect_reads=protect_reads), host=host, port=port, log_level="warning")


@app.command()
def retrain(
    run: Annotated[Path, typer.Option(help="The served run folder.")],
    db: Annotated[str, typer.Option(help="The event store it served with (SQLite path or database URL).")],
    out: Annotated[Path, typer.Option(help="Run folder to write the new version to.")],
    split: Annotated[
        Path | None, typer.Option(help="Split to fit on (default: the one the run's run.json names).")
    ] = None,
) -> None:
    """Fit the run's model again with the stored feedback and the items added while serving; add the result
    to a registry with 'pairrank registry add' to serve it."""
    from pairrank.serve.events import EventStore
    from pairrank.serve.retrain import retrain as fold_in

    with user_errors():
        done = fold_in(run, EventStore(db), out, split)
    console.print(
        f"retrained in {done.train_seconds:.1f} s: {done.events} stored events learned from "
        f"({done.skipped_events} on unknown items skipped), {done.added_items} added items; wrote {done.out}",
        soft_wrap=True,
    )


registry_app = typer.Typer(help="Model versions for pairrank serve: add runs, switch the served one.")
app.add_typer(registry_app, name="registry")


@registry_app.command("add")
def registry_add(
    registry: Annotated[Path, typer.Option(help="Registry folder (created if missing).")],
    run: Annotated[Path, typer.Option(help="Run folder to add (from pairrank train).")],
    version: Annotated[str, typer.Option(help="Name of the new version.")],
    activate: Annotated[bool, typer.Option(help="Serve it at once.")] = False,
) -> None:
    """Copy a run into the registry as a new version."""
    from pairrank.serve.registry import ModelRegistry

    with user_errors():
        models = ModelRegistry(registry)
        path = models.add(run, version)
        if activate or len(models.versions()) == 1:
            models.activate(version)
    console.print(f"added {path}" + (" (served now)" if models.current() == version else ""))


@registry_app.command("activate")
def registry_activate(
    registry: Annotated[Path, typer.Option(help="Registry folder.")],
    version: Annotated[str, typer.Option(help="Version to serve.")],
) -> None:
    """Switch the served version; every pairrank serve over this registry reloads within a second."""
    from pairrank.serve.registry import ModelRegistry

    with user_errors():
        ModelRegistry(registry).activate(version)
    console.print(f"serving {version}")


@registry_app.command("list")
def registry_list(registry: Annotated[Path, typer.Option(help="Registry folder.")]) -> None:
    """The versions, the served one marked with *."""
    from pairrank.serve.registry import ModelRegistry

    with user_errors():
        models = ModelRegistry(registry)
        current = models.current()
        for name in models.versions():
            results_console.print(f"{'*' if name == current else ' '} {name}")


if __name__ == "__main__":
    app()
