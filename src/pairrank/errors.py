"""Errors that carry where bad input was found (file, line, field)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class DataError(Exception):
    """Bad input data; `str()` is one line naming file, line and field."""

    message: str
    path: str | Path | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "<input>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message}"


class ConfigError(ValueError):
    """A model, run or command was configured wrongly."""


class TrainingDiverged(ConfigError):
    """Training produced non-finite weights (usually a learning rate too high for the data)."""


class DataWarning(UserWarning):
    """Input that was read, but not the way its author may think (an unused column, a guessed mapping)."""
