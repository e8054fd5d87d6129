"""Hyperparameter search on validation NDCG@10 with Optuna (TPE sampler, median pruning).

Each trial fits the model on train with a sampled config and scores valid;
models trained in epochs report their validation NDCG after every epoch, so
unpromising trials stop early. The best config is a plain dict of model
options, loadable by `pairrank train --config`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from rich.table import Table

from pairrank.data.split_data import SplitData
from pairrank.errors import ConfigError, DataError
from pairrank.experiments.training import model_config, new_model
from pairrank.models.registry import model_class, model_names
from pairrank.models.validation import validation_ndcg
from pairrank.progress import progress_bar
from pairrank.train.loop import Trainer

METRIC = "ndcg@10"

SearchSpace = Callable[[optuna.Trial], dict[str, Any]]


@dataclass
class TuneResult:
    """The outcome of a search: the best config and one row per trial."""

    model: str
    best_config: dict[str, Any]
    best_value: float
    best_number: int
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """What `<out>.trials.json` holds."""
        return {
            "model": self.model,
            "metric": f"{METRIC} (valid)",
            "best": {"number": self.best_number, "value": self.best_value, "config": self.best_config},
            "seconds": round(self.seconds, 2),
            "trials": self.trials,
        }


def search_space(name: str) -> SearchSpace:
    """The search space of a registered model (beside its config); ConfigError if unknown or nothing to tune."""
    config_class = model_class(name).Config
    if not dataclasses.fields(config_class):
        raise ConfigError(f"{name} has nothing to tune: it has no hyperparameters")
    space = getattr(config_class, "search_space", None)
    if space is None:
        raise ConfigError(f"{name} has no search space; tunable models: {', '.join(tunable_models())}")
    return space


def tunable_models() -> list[str]:
    """The installed models whose config has a search space."""
    return [name for name in model_names() if hasattr(model_class(name).Config, "search_space")]


def fixed_options(name: str, max_epochs: int | None) -> dict[str, Any]:
    """Options held fixed in every trial: `epochs` capped at `max_epochs` where the model has it."""
    defaults = {f.name: f.default for f in dataclasses.fields(model_class(name).Config)}
    if max_epochs is None or "epochs" not in defaults:
        return {}
    return {"epochs": min(max_epochs, defaults["epochs"])}


def pruning_callback(trial: optuna.Trial) -> Callable[[int, float], None]:
    """An `on_epoch` for a `Trainer`: report each epoch's score; raise TrialPruned when told to stop."""

    def on_epoch(epoch: int, value: float) -> None:
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({METRIC} {value:.4f})")

    return on_epoch


class Objective:
    """Fit on train with the trial's config and return validation NDCG@10.

    Bad input or options (ConfigError, DataError) stop the study and are kept in
    `error`, to be raised after it as one line rather than an Optuna traceback.
    """

    def __init__(self, data: SplitData, name: str, fixed: dict[str, Any]):
        self.name, self.space, self.fixed = name, search_space(name), fixed
        self.train, self.valid = data.train(), data.valid()
        self.error: ConfigError | DataError | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        config = {**self.space(trial), **self.fixed}
        trial.set_user_attr("config", config)
        try:
            model = new_model(self.name, model_config(self.name, config), Trainer(on_epoch=pruning_callback(trial)))
            model.fit(self.train, self.valid)
        except (ConfigError, DataError) as error:
            self.error = error
            trial.study.stop()
            raise optuna.TrialPruned(str(error)) from None
        return validation_ndcg(model, self.valid)


@contextmanager
def quiet_training() -> Iterator[None]:
    """Silence per-trial progress bars (PAIRRANK_QUIET) and Optuna's per-trial logs; restore both after."""
    previous_env, previous_verbosity = os.environ.get("PAIRRANK_QUIET"), optuna.logging.get_verbosity()
    os.environ["PAIRRANK_QUIET"] = "1"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous_verbosity)
        if previous_env is None:
            os.environ.pop("PAIRRANK_QUIET", None)
        else:
            os.environ["PAIRRANK_QUIET"] = previous_env


def tune_model(
    data: SplitData,
    name: str,
    n_trials: int,
    *,
    timeout: float | None = None,
    seed: int = 42,
    max_epochs: int | None = None,
) -> TuneResult:
    """Search `name`'s hyperparameters on the split's validation NDCG@10."""
    search_space(name)
    if not len(data.split.valid):
        raise ConfigError(f"{data.split.path / 'valid.csv'}: no validation interactions; tuning needs them")
    fixed = fixed_options(name, max_epochs)
    objective = Objective(data, name, fixed)
    started = time.perf_counter()
    with progress_bar(f"tuning {name}", total=n_trials) as bar, quiet_training():
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=optuna.pruners.MedianPruner()
        )

        def advance(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            completed = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            bar.advance(description=f"tuning {name}: best {METRIC} {study.best_value:.4f}" if completed else None)

        study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[advance])
    if objective.error is not None:
        raise objective.error
    return _result(study, name, time.perf_counter() - started)


def _result(study: optuna.Study, name: str, seconds: float) -> TuneResult:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(f"tuning {name}: no trial completed (all pruned or out of time); raise --trials or --timeout")
    best = study.best_trial
    rows = [_trial_row(t) for t in study.trials]
    return TuneResult(name, best.user_attrs["config"], float(best.value), best.number, rows, seconds)


def _trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": value,
        "params": trial.params,
        "last_epoch": trial.last_step,
        "seconds": round(seconds, 2) if seconds is not None else None,
    }


def trials_path(out: Path) -> Path:
    """`best.json` -> `best.trials.json`, beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.trials.json")


def write_results(result: TuneResult, out: Path) -> tuple[Path, Path]:
    """Write the best config to `out` and the trials table beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.best_config, indent=2) + "\n")
    table_path = trials_path(out)
    table_path.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return out, table_path


def trials_table(result: TuneResult) -> Table:
    """The trials for the terminal, best marked."""
    names = list(dict.fromkeys(k for row in result.trials for k in row["params"]))
    epochs = any(row["last_epoch"] is not None for row in result.trials)  # only models that report epochs
    table = Table(title=f"tuning {result.model}: valid {METRIC} per trial (best in bold)")
    for column in ("#", "state", METRIC, *names, *(["epochs"] if epochs else []), "s"):
        table.add_column(column, justify="left" if column == "state" else "right")
    for row in result.trials:
        cells = [str(row["number"]), row["state"].lower(), _format(row["value"], ".4f")]
        cells += [_format(row["params"].get(n), ".3g") for n in names]
        cells += [_format(row["last_epoch"])] if epochs else []
        cells.append(_format(row["seconds"], ".1f"))
        table.add_row(*cells, style="bold green" if row["number"] == result.best_number else None)
    return table


def _format(value: Any, spec: str = ".4g") -> str:
    if value is None:
        return ""
    return format(value, spec) if isinstance(value, float) else str(value)
