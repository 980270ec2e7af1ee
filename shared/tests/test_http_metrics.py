"""HTTP request metrics: counted by route template (never the raw path), errors and
latency included, operations endpoints left out; every service's app records them."""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from shared.runtime.http_metrics import UNMATCHED, HttpMetricsMiddleware


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware)

    @app.get("/t/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/t/boom")
    async def boom() -> None:
        raise RuntimeError("handler bug")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_requests_are_counted_by_route_template() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    template = "/t/items/{item_id}"
    before = sample("http_server_requests_total", method="GET", route=template, status="200")
    hist = sample("http_server_request_duration_seconds_count", method="GET", route=template)
    for item_id in ("a", "b", "c"):
        assert client.get(f"/t/items/{item_id}").status_code == 200
    after = sample("http_server_requests_total", method="GET", route=template, status="200")
    assert after - before == 3
    assert (
        sample("http_server_request_duration_seconds_count", method="GET", route=template) - hist
        == 3
    )
    # No label value carries an id.
    routes = {
        s.labels.get("route")
        for m in REGISTRY.collect()
        if m.name == "http_server_requests"
        for s in m.samples
    }
    assert not {"/t/items/a", "/t/items/b", "/t/items/c"} & routes


def test_errors_unmatched_paths_and_wrong_methods() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    labels_500 = {"method": "GET", "route": "/t/boom", "status": "500"}
    labels_404 = {"method": "GET", "route": UNMATCHED, "status": "404"}
    labels_405 = {"method": "POST", "route": "/t/items/{item_id}", "status": "405"}
    before = [
        sample("http_server_requests_total", **x) for x in (labels_500, labels_404, labels_405)
    ]
    assert client.get("/t/boom").status_code == 500
    assert client.get("/no/such/path/123").status_code == 404
    assert client.post("/t/items/x").status_code == 405
    after = [
        sample("http_server_requests_total", **x) for x in (labels_500, labels_404, labels_405)
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert sample("http_server_requests_in_progress", method="GET") == 0


def test_operations_endpoints_are_not_counted() -> None:
    client = TestClient(make_app())
    before = sample("http_server_requests_total", method="GET", route="/healthz", status="200")
    client.get("/healthz")
    assert (
        sample("http_server_requests_total", method="GET", route="/healthz", status="200") == before
    )


@pytest.mark.parametrize("service", ["identity", "linking", "notifier", "scheduler", "webhooks"])
def test_every_service_records_http_metrics(service: str) -> None:
    """Each composition root serves the metrics on /metrics (no lifespan: nothing
    connects)."""
    app_module = importlib.import_module(f"{service}.app")
    settings_module = importlib.import_module(f"{service}.settings")
    app = app_module.create_app(settings_module.Settings(environment="test", otel_traces_file=None))
    assert any(m.cls is HttpMetricsMiddleware for m in app.user_middleware)
    client = TestClient(app)
    client.get("/asyncapi.json")
    text = client.get("/metrics").text
    assert 'http_server_requests_total{method="GET",route="/asyncapi.json",status="200"}' in text
    assert "http_server_request_duration_seconds_bucket" in text
