"""Typed model options: dataclasses that pydantic checks when they are built.

Every model's `Config` is decorated with `model_options`: its fields are
typed (`Literal[...]` for choices, constrained numbers for ranges) and checked
strictly, so `{"use_text": "false"}` from a JSON file, `{"lr": -1}` or
`{"epochs": "ten"}` fail when the config is built, before any data is read,
as one `ConfigError` naming the option. Cross-field rules go in
`__post_init__` and raise `ConfigError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from pairrank.errors import ConfigError

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
BelowOne = Annotated[float, Field(ge=0.0, lt=1.0)]  # a decay or a dropout that must leave something
FACTOR_CHOICES = [32, 64, 128, 256]  # the factor counts the search spaces of factor models try

T = TypeVar("T")


def model_options(cls: type[T]) -> type[T]:
    """Make `cls` a dataclass whose fields are type-checked (strictly: no "false" for False) when built."""
    return pydantic_dataclass(cls, config=ConfigDict(strict=True, extra="forbid"))


class Trial(Protocol):
    """The part of an Optuna trial a search space uses (so models need not import Optuna)."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


def config_from_dict(config_class: type[T], values: dict[str, Any] | None, *, owner: str | None = None) -> T:
    """Build `config_class` from plain values; any bad option is one `ConfigError` naming it."""
    values = dict(values or {})
    unknown = sorted(set(values) - option_names(config_class))
    owner = owner or config_class.__name__
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for {owner}; valid: {sorted(option_names(config_class))}")
    return _checked(lambda: config_class(**values), owner)


def replace_options(config: T, overrides: dict[str, Any], *, owner: str | None = None) -> T:
    """A copy of `config` with `overrides`, checked like a new config."""
    return config_from_dict(type(config), {**dataclasses.asdict(config), **overrides}, owner=owner)


def option_names(config_class: type) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class)}


def _checked(build: Any, owner: str) -> Any:
    try:
        return build()
    except ValidationError as error:
        raise ConfigError(f"{owner}: " + "; ".join(_describe(e) for e in error.errors())) from None


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as "option 'lr': Input should be greater than 0 (got -1)"."""
    if not error["loc"]:  # raised by __post_init__: a rule over several options
        return error["msg"].removeprefix("Value error, ")
    option = ".".join(str(part) for part in error["loc"])
    return f"option '{option}': {error['msg']} (got {error['input']!r})"
