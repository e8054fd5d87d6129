"""A model folder's `config.json`: which model, its options, and the pairrank that wrote it.

Loading checks the stamp before anything else is read: a folder written in
another layout, or a missing or malformed file, is a `DataError` naming the
file, never a bare `KeyError`.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pairrank.errors import DataError
from pairrank.version import __version__

CONFIG_FILE = "config.json"
FOLDER_FORMAT = 1  # the layout of a model folder; raise it when a change breaks reading older folders


@dataclass(frozen=True)
class ModelMeta:
    model: str
    config: dict[str, Any]
    pairrank_version: str
    folder_format: int

    def write(self, directory: Path) -> None:
        meta = {
            "model": self.model,
            "config": self.config,
            "pairrank_version": self.pairrank_version,
            "folder_format": self.folder_format,
        }
        (Path(directory) / CONFIG_FILE).write_text(json.dumps(meta, indent=2))


def new_meta(model: str, config: dict[str, Any]) -> ModelMeta:
    """The stamp for a folder this pairrank writes now."""
    return ModelMeta(model, config, __version__, FOLDER_FORMAT)


def read_meta(directory: str | Path) -> ModelMeta:
    """The checked `config.json` of a model folder."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise DataError("model folder not found", directory)
    if not path.exists():
        raise DataError(f"not a model folder: no {CONFIG_FILE}", directory)
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"not valid JSON: {error}", path) from None
    if not isinstance(meta, dict):
        raise DataError("expected a JSON object", path)
    written_by = meta.get("pairrank_version")
    if not isinstance(written_by, str):
        raise DataError("no pairrank version: not a model folder written by pairrank", path, field="pairrank_version")
    folder_format = meta.get("folder_format")
    if folder_format != FOLDER_FORMAT:
        raise DataError(
            f"written by pairrank {written_by} in folder format {folder_format}; pairrank {__version__} reads "
            f"format {FOLDER_FORMAT}: train the model again with this version",
            path,
            field="folder_format",
        )
    for field, kind in (("model", str), ("config", dict)):
        if not isinstance(meta.get(field), kind):
            raise DataError(f"missing or not a {kind.__name__}", path, field=field)
    return ModelMeta(meta["model"], meta["config"], written_by, folder_format)


def replace_folder(target: str | Path, write: Callable[[Path], None], keep: Sequence[str] = ()) -> Path:
    """Write a model folder with `write(staging)` beside `target`, then swap it into `target`'s place.

    Readers never see a half-written folder or the old run's files beside the new model. Entries of the
    old folder named in `keep` (a run's checkpoints) move into the new one. A folder at `target` that is
    neither a model folder nor holds only `keep` entries is refused, not replaced.
    """
    target = Path(target)
    if target.exists():
        _check_replaceable(target, keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    staging = target.with_name(f".{target.name}.new-{tag}")
    staging.mkdir()
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not target.exists():
        staging.rename(target)
        return target
    for name in keep:
        if (target / name).exists():
            (target / name).rename(staging / name)
    old = target.with_name(f".{target.name}.old-{tag}")
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old)
    return target


def _check_replaceable(target: Path, keep: Sequence[str]) -> None:
    if not target.is_dir():
        raise DataError("exists and is not a folder; refusing to replace it with a model folder", target)
    others = [entry.name for entry in target.iterdir() if entry.name not in keep]
    if others and not (target / CONFIG_FILE).exists():
        raise DataError(
            f"exists and is not a model folder (it holds {sorted(others)[:3]}); refusing to replace it", target
        )
