"""Keep ``/metrics`` and the APIs on separate ports (``METRICS_PORT``).

One server listens on both sockets; this pure ASGI middleware routes by the local port
a request arrived on: the metrics port answers ``/metrics`` and nothing else, the
serving port everything but ``/metrics``. A NetworkPolicy can then admit Prometheus to
the metrics port only.
"""

from __future__ import annotations

from typing import Any

from shared.runtime.body_limit import ASGIApp, Receive, Scope, Send

METRICS_PATH = "/metrics"


class MetricsPortSplit:
    """404 for ``/metrics`` off the metrics port, and for anything else on it."""

    def __init__(self, app: ASGIApp, *, metrics_port: int) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.metrics_port:
            await self.app(scope, receive, send)
            return
        server: Any = scope.get("server") or (None, None)
        on_metrics_port = server[1] == self.metrics_port
        wants_metrics = scope.get("path") == METRICS_PATH
        if on_metrics_port != wants_metrics:
            body = b'{"title": "Not Found", "status": 404}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
