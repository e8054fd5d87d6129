"""A model folder's `config.json`: which model, its options, and the pairrank that wrote it.

Loading checks the stamp before anything else is read: a folder written in
another layout, or a missing or malformed file, is a `DataError` naming the
file, never a bare `KeyError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pairrank import __version__
from pairrank.errors import DataError

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
