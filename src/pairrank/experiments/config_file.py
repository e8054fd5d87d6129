"""Model options from a JSON or TOML file (a flat table of option = value)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pairrank.errors import ConfigError


def read_config(path: Path | None) -> dict[str, Any]:
    """The table in `path` ({} without a file); unreadable or not a table is a `ConfigError` naming it."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a table of option = value")
    return values
