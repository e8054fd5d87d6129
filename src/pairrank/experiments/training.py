"""Train a model on a split directory: select on valid, optionally refit on train+valid, write a run folder."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from pairrank.data.split_data import SplitData
from pairrank.models.base import Recommender
from pairrank.models.config import config_from_dict
from pairrank.models.network import NetworkRecommender
from pairrank.models.registry import model_class
from pairrank.train.distributed import join_world
from pairrank.train.loop import Trainer

CHECKPOINTS = "checkpoints"  # the sub-folder of a run folder that holds its training checkpoints


def model_config(name: str, options: dict[str, Any] | None = None) -> Any:
    """The checked config of model `name`: a bad name or option fails here, before any data is read."""
    return config_from_dict(model_class(name).Config, options, owner=name)


def new_model(name: str, config: Any, trainer: Trainer | None = None) -> Recommender:
    """An unfitted `name` model; models trained in epochs get `trainer` (checkpoints, resume, epoch callback)."""
    klass = model_class(name)
    if issubclass(klass, NetworkRecommender):
        return klass(config, trainer=trainer)
    return klass(config)


def train_model(
    data: SplitData,
    name: str,
    config: Any = None,
    *,
    final: bool = False,
    trainer: Trainer | None = None,
) -> tuple[Recommender, dict[str, Any]]:
    """Fit on train with early stopping on valid; with `final`, refit on train+valid.

    `config` is a dict of options or the model's config. A `trainer` with
    checkpoints keeps each phase's in its own sub-folder (`select/` on train,
    `final/` on train+valid), so a resumed run continues the phase it was in.
    """
    trainer = trainer or Trainer()
    started = time.perf_counter()
    info: dict[str, Any] = {"model": name, "final": final, "split": str(Path(data.split.path).resolve())}
    model = new_model(name, config, trainer.phase("select"))
    if model.uses_validation or not final:
        model.fit(data.train(), data.valid())
        if isinstance(model, NetworkRecommender):
            info |= {"curve": model.curve, "best_epoch": model.best_epoch}
        if final:
            model = model.refit(data.train_and_valid(), lambda config: new_model(name, config, trainer.phase("final")))
    elif final:
        model.fit(data.train_and_valid())
    info["train_seconds"] = round(time.perf_counter() - started, 2)
    info["config"] = dataclasses.asdict(model.config)
    return model, info


def train_run(
    data: SplitData, name: str, config: Any, out: Path, *, final: bool = False, resume: bool = False
) -> tuple[dict[str, Any], bool]:
    """`train_model` with checkpoints in `out/checkpoints`, then the run folder written to `out`.

    Under torchrun every process trains its share and only the main one writes; returns the run's
    info and whether this process wrote the folder. Without `resume`, checkpoints an earlier run left
    in `out` are removed first: they are not this run's.
    """
    checkpoints = Path(out) / CHECKPOINTS
    main = join_world().is_main
    if not resume and main:
        shutil.rmtree(checkpoints, ignore_errors=True)
    trainer = Trainer(checkpoints=checkpoints, resume=resume)
    model, info = train_model(data, name, config, final=final, trainer=trainer)
    if main:
        write_run(model, info, out)
    return info, main


def write_run(model: Recommender, info: dict[str, Any], out: Path) -> Path:
    """Save the model folder plus run.json (how it was trained), replacing any earlier run at `out`
    but keeping this run's checkpoints."""
    files = {"run.json": json.dumps(info, indent=2, default=str)}
    return model.save(out, keep=(CHECKPOINTS,), files=files)
