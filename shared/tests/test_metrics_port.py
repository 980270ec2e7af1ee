"""METRICS_PORT: /metrics only on the metrics port, the APIs only on the serving port."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.runtime.metrics_port import MetricsPortSplit


def _app(metrics_port: int) -> FastAPI:
    app = FastAPI()

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {"metrics": "yes"}

    @app.get("/v1/thing")
    async def thing() -> dict[str, str]:
        return {"thing": "yes"}

    app.add_middleware(MetricsPortSplit, metrics_port=metrics_port)
    return app


async def _status(app: FastAPI, base: str, path: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
        return (await c.get(path)).status_code


async def test_each_port_serves_only_its_own() -> None:
    app = _app(9464)
    assert await _status(app, "http://pod:9464", "/metrics") == 200
    assert await _status(app, "http://pod:9464", "/v1/thing") == 404
    assert await _status(app, "http://pod:8001", "/v1/thing") == 200
    assert await _status(app, "http://pod:8001", "/metrics") == 404


async def test_without_a_metrics_port_everything_is_on_the_serving_port() -> None:
    app = _app(0)
    assert await _status(app, "http://pod:8001", "/metrics") == 200
    assert await _status(app, "http://pod:8001", "/v1/thing") == 200
