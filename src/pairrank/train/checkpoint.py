"""Training checkpoints as safetensors (tensors) + JSON (everything else); no pickle.

A checkpoint folder holds `state.safetensors` (network, best network,
optimiser tensors, weight average) and `state.json` (epoch, curve, best
epoch, optimiser settings) and is replaced atomically each epoch, so a run
killed at any moment leaves the last complete epoch behind. Random streams
need no saving: the loop seeds them from (seed, epoch, rank).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


@dataclass
class TrainingState:
    """Everything needed to continue a run exactly where it stopped."""

    epoch: int  # last completed epoch
    network: dict[str, torch.Tensor]
    optimiser: dict[str, Any]
    best: dict[str, torch.Tensor] | None
    best_epoch: int
    curve: list[float]
    finished: bool = False
    average: dict[str, torch.Tensor] | None = None  # the weight average's state, when the run keeps one
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(folder: Path, state: TrainingState) -> None:
    """Write `state` to `folder`, replacing any previous checkpoint atomically."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    optimiser_tensors, optimiser_meta = _split_optimiser(state.optimiser)
    tensors = {f"network.{k}": v for k, v in state.network.items()}
    tensors |= {f"best.{k}": v for k, v in (state.best or {}).items()}
    tensors |= {f"optimiser.{k}": v for k, v in optimiser_tensors.items()}
    tensors |= {f"average.{k}": v for k, v in (state.average or {}).items()}
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(partial / STATE_TENSORS))
    meta = {
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "curve": state.curve,
        "has_best": state.best is not None,
        "has_average": state.average is not None,
        "optimiser": optimiser_meta,
        "finished": state.finished,
        "extra": state.extra,
    }
    (partial / STATE_JSON).write_text(json.dumps(meta, indent=1))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path) -> TrainingState | None:
    """The checkpoint in `folder` (or its `.old` copy if a replace was interrupted), else None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_JSON).exists() and (candidate / STATE_TENSORS).exists():
            return _read(candidate)
    return None


def _read(folder: Path) -> TrainingState:
    meta = json.loads((folder / STATE_JSON).read_text())
    tensors = load_file(str(folder / STATE_TENSORS))

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    return TrainingState(
        epoch=meta["epoch"],
        network=part("network."),
        optimiser=_join_optimiser(part("optimiser."), meta["optimiser"]),
        best=part("best.") if meta["has_best"] else None,
        best_epoch=meta["best_epoch"],
        curve=meta["curve"],
        finished=meta["finished"],
        average=part("average.") if meta.get("has_average") else None,
        extra=meta["extra"],
    )


def _split_optimiser(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimiser state_dict -> (flat tensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimiser(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}
