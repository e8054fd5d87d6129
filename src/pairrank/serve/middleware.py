"""The body size limit and the request metrics, as one plain ASGI middleware (no per-request task or copy of
the response, which Starlette's `BaseHTTPMiddleware` costs).

A body over the limit is refused with 413 before the app reads it: by its
Content-Length, or, for a body sent without one, once the bytes received pass
the limit. Every request is counted and timed by its route's path template
(`/v1/items/{item_id}`), so the metrics' labels stay few.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pairrank.serve.metrics import ServiceMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WITH_BODY = ("POST", "PUT", "PATCH")


class LimitAndMeasure:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_body_bytes: int):
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._too_large(sending)
            elif length is None and scope["method"] in WITH_BODY:
                body = await self._read_limited(receive)
                if body is None:
                    await self._too_large(sending)
                else:
                    await self.app(scope, _replay(body), sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)

    async def _read_limited(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit."""
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body over {self.max_body_bytes} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the app the body read already, then waits for the client to disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
