"""HTTP request metrics of every service's API, labelled by route template.

One ASGI middleware (installed by :meth:`ServiceRuntime.http_app`) records, for each
request that a route answers:

``http_server_requests_total{method, route, status}``
    requests finished, by the route's *template* (``/v1/links/{link_id}``, never the raw
    path: a label per link id would grow without bound) and status code;
``http_server_request_duration_seconds{method, route}``
    a latency histogram, from the first byte in to the last byte out;
``http_server_requests_in_progress{method}``
    requests being served now.

Requests no route matched are counted under ``route="unmatched"``. The operations
endpoints (``/healthz``, ``/readyz``, ``/metrics``) are left out: probes and scrapes
would swamp the rates, and a not-ready answer (503) is not an API error. An exception
that escapes the app counts as a 500.

The alerts (deploy/k8s/components/monitoring) and the dashboard read these names.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths that are not the service's API.
EXCLUDED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"
#: Seconds: from a cached read (ms) to an argon2 sign-in under load and a roster upload.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter(
    "http_server_requests",
    "HTTP requests finished, by route template and status code",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_server_request_duration_seconds",
    "HTTP request duration, by route template",
    ["method", "route"],
    buckets=BUCKETS,
)
IN_PROGRESS = Gauge("http_server_requests_in_progress", "HTTP requests being served", ["method"])


def route_template(scope: Scope) -> str:
    """The template of the route that matched (Starlette puts it in the scope)."""
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class HttpMetricsMiddleware:
    """ASGI middleware recording :data:`REQUESTS`, :data:`DURATION`, :data:`IN_PROGRESS`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXCLUDED_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        IN_PROGRESS.labels(method).inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            IN_PROGRESS.labels(method).dec()
            route = route_template(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            DURATION.labels(method, route).observe(time.perf_counter() - started)
