"""The model a running service answers with, and its hot reload.

`--run` names a run folder (served as it is) or a registry (`ModelRegistry`). For
a registry, a watcher thread reads which version is current every
`check_seconds`; on a switch it loads the new version beside the old one and
then swaps the reference, so a request in flight finishes on the model it
started with and no request waits for, or fails during, a load. A version that
fails to load is reported on stderr and the old one stays served.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from pairrank.errors import ConfigError, DataError
from pairrank.serve.events import EventStore
from pairrank.serve.registry import ModelRegistry
from pairrank.serve.service import RankingService

CHECK_SECONDS = 1.0


class ServedModel:
    """The current `RankingService`; `service` is read once per request."""

    def __init__(
        self, service: RankingService, registry: ModelRegistry | None = None, check_seconds: float = CHECK_SECONDS
    ):
        self.service, self.registry, self.check_seconds = service, registry, check_seconds
        self.on_switch: list[Callable[[RankingService], None]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._switch_lock = threading.Lock()

    @classmethod
    def open(cls, source: str | Path, store: EventStore, check_seconds: float = CHECK_SECONDS) -> ServedModel:
        """Serve a run folder, or a registry's current version."""
        if not ModelRegistry.holds(source):
            return cls(RankingService(source, store))
        registry = ModelRegistry(source)
        return cls(_load(registry, registry.current(), store), registry, check_seconds)

    def switch_to(self, version: str) -> RankingService:
        """Make `version` current in the registry and serve it now (this replica; the others follow)."""
        if self.registry is None:
            raise ConfigError("this service serves a single run folder, not a registry: nothing to switch to")
        self.registry.activate(version)
        self.check()
        return self.service

    def check(self) -> None:
        """Load and serve the registry's current version if it is not the one served."""
        if self.registry is None:
            return
        with self._switch_lock:
            version = self.registry.current()
            if version != self.service.version:
                self.service = _load(self.registry, version, self.service.store)
                for listener in self.on_switch:
                    listener(self.service)

    def start_watching(self) -> None:
        if self.registry is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch, name="pairrank-registry-watcher", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                self.check()
            except (DataError, ConfigError, OSError) as error:  # keep serving the loaded version
                print(f"pairrank serve: cannot switch versions: {error}", file=sys.stderr, flush=True)


def _load(registry: ModelRegistry, version: str, store: EventStore) -> RankingService:
    return RankingService(registry.path(version), store, version=version)
