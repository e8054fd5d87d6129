"""A model registry: run folders kept as named versions, and which one is served.

    REGISTRY/versions/<name>/   a run folder (from `pairrank train`), copied in whole
    REGISTRY/CURRENT            the served version's name

`activate` replaces CURRENT atomically (written aside, then renamed over it), so
a reader sees the old name or the new one, never half of either; every replica
serving the registry notices the switch and reloads (`ServedModel`). A version
is copied in under a temporary name and renamed into place, so a half-copied
version is never listed.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from pairrank.errors import ConfigError, DataError
from pairrank.models.folder import read_meta

VERSIONS, CURRENT = "versions", "CURRENT"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ModelRegistry:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @staticmethod
    def holds(folder: str | Path) -> bool:
        """Whether `folder` is a registry (rather than a single run folder)."""
        return (Path(folder) / VERSIONS).is_dir()

    def versions(self) -> list[str]:
        root = self.folder / VERSIONS
        return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME.match(p.name)) if root.is_dir() else []

    def current(self) -> str:
        """The served version's name."""
        path = self.folder / CURRENT
        if not path.is_file():
            raise DataError(f"no {CURRENT} file: activate a version first (pairrank registry activate)", self.folder)
        name = path.read_text().strip()
        if name not in self.versions():
            raise DataError(f"names version {name!r}, which the registry does not hold", path)
        return name

    def path(self, name: str) -> Path:
        return self.folder / VERSIONS / name

    def add(self, run: str | Path, name: str) -> Path:
        """Copy a run folder in as version `name` (a new name: versions are never overwritten)."""
        if not NAME.match(name):
            raise ConfigError(f"a version name is letters, digits, '.', '_' and '-' (up to 100), not {name!r}")
        read_meta(run)  # a model folder, or a DataError naming what is wrong
        target = self.path(name)
        if target.exists():
            raise ConfigError(f"the registry already holds version {name!r}: versions are never overwritten")
        staging = self.folder / VERSIONS / f".{name}.{uuid.uuid4().hex}.partial"
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(run, staging)
        staging.rename(target)
        return target

    def activate(self, name: str) -> None:
        """Serve version `name` from now on (every replica switches within its check interval)."""
        if name not in self.versions():
            raise ConfigError(f"no version {name!r} in the registry; it holds: {', '.join(self.versions()) or 'none'}")
        staging = self.folder / f".{CURRENT}.{uuid.uuid4().hex}"
        staging.write_text(name + "\n")
        os.replace(staging, self.folder / CURRENT)
