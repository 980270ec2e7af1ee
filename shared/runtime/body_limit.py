"""Refuse over-size request bodies before anyone reads them (issue 15, item 3).

A pure ASGI middleware, so it sees the body as the server delivers it: a declared
``Content-Length`` over the limit is answered 413 at once, without reading a byte, and a
body sent without one (chunked) is counted as it streams and cut off the moment it passes
the limit. The route never receives more than the limit, so nothing is spooled to memory
or disk beyond it. One small limit covers every route; a few routes (the roster upload)
are given a larger one by path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from shared.runtime.problems import PROBLEM_BASE, PROBLEM_JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The default limit of every route (``HTTP_MAX_BODY_BYTES``): JSON bodies are small.
DEFAULT_MAX_BODY_BYTES = 256 * 1024


def _problem(limit: int) -> bytes:
    return json.dumps(
        {
            "type": PROBLEM_BASE + "payload-too-large",
            "title": "The request body is too large.",
            "status": 413,
            "detail": f"the limit is {limit} bytes",
        }
    ).encode()


class BodyLimitMiddleware:
    """413 ``application/problem+json`` for a body over the limit of its path."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    def limit_for(self, path: str) -> int:
        """The limit of ``path``."""
        return self.larger.get(path.rstrip("/") or "/", self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", "/"))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit, close=True)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit, close=True)
                    # The route sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the route answers is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # Answered already: the route failed on the body it was denied
            # (ClientDisconnect), which is no error of the service.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int, *, close: bool) -> None:
    body = _problem(limit)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
