"""API keys for the service's write and admin endpoints.

Keys come from `--api-key` (repeatable) or `PAIRRANK_API_KEYS` (comma-separated).
Only their SHA-256 digests are kept in memory, and a presented key's digest is
compared with each in constant time (`hmac.compare_digest`), so neither the keys
nor the timing of a comparison give one away. Clients send
`Authorization: Bearer <key>`: none is 401, a wrong one 403.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

ENV_KEYS = "PAIRRANK_API_KEYS"


class Unauthorized(PermissionError):
    """No key was presented (401)."""


class Forbidden(PermissionError):
    """A key was presented and is not one of the service's (403)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """The hashed keys; with none, every request is allowed (a local, single-user service)."""

    def __init__(self, keys: Iterable[str]):
        self._digests = [_digest(key) for key in {k.strip() for k in keys} if key]

    @classmethod
    def from_options(cls, keys: Iterable[str] = ()) -> ApiKeys:
        """The `--api-key` values and those of `PAIRRANK_API_KEYS`."""
        from_env = os.environ.get(ENV_KEYS, "").split(",")
        return cls([*keys, *from_env])

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def check(self, authorization: str | None) -> None:
        """Raise `Unauthorized` or `Forbidden` unless the `Authorization` header carries a known key."""
        if not self.enabled:
            return
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("send an API key: Authorization: Bearer <key>")
        presented = _digest(key.strip())
        matched = False
        for digest in self._digests:  # every digest compared, whichever matches
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            raise Forbidden("the API key is not valid")
