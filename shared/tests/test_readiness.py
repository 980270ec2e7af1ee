"""/readyz means "can serve its HTTP API": identity and linking stay ready while Kafka is
unreachable (their requests only write to MongoDB; events wait in the outbox) and say so
in the details; the consuming services are not ready without Kafka; nobody is ready
without MongoDB. Dependency states are stubbed here (unit test, no lifespan)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

KAFKA_DOWN = {"mongodb": "ok", "kafka": "unreachable (KafkaConnectionError)"}
MONGO_DOWN = {"mongodb": "unreachable (ServerSelectionTimeoutError)", "kafka": "ok"}
ALL_OK = {"mongodb": "ok", "kafka": "ok"}


def client_with(service: str, checks: dict[str, str]) -> TestClient:
    app_module = importlib.import_module(f"{service}.app")
    settings_module = importlib.import_module(f"{service}.settings")
    app = app_module.create_app(settings_module.Settings(environment="test", otel_traces_file=None))

    async def readiness() -> dict[str, str]:
        return dict(checks)

    app.state.runtime.readiness = readiness
    return TestClient(app)


@pytest.mark.parametrize("service", ["identity", "linking"])
def test_api_services_stay_ready_without_kafka(service: str) -> None:
    response = client_with(service, KAFKA_DOWN).get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["degraded"] == ["kafka"]
    assert body["checks"]["kafka"].startswith("unreachable")


@pytest.mark.parametrize("service", ["notifier", "scheduler", "webhooks"])
def test_consuming_services_need_kafka(service: str) -> None:
    response = client_with(service, KAFKA_DOWN).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["checks"] == KAFKA_DOWN


@pytest.mark.parametrize("service", ["identity", "notifier"])
def test_nobody_is_ready_without_mongodb(service: str) -> None:
    assert client_with(service, MONGO_DOWN).get("/readyz").status_code == 503


def test_ready_without_degradation() -> None:
    body = client_with("linking", ALL_OK).get("/readyz").json()
    assert body == {"status": "ready", "checks": ALL_OK}


def test_mongodb_tls_ca_file_reaches_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MONGODB_TLS_CA_FILE (components/mongodb-tls) becomes pymongo's tlsCAFile."""
    from shared.runtime import mongo
    from shared.runtime.settings import ServiceSettings

    seen: list[dict[str, object]] = []
    monkeypatch.setattr(mongo, "AsyncMongoClient", lambda uri, **kw: seen.append(kw))
    ca = tmp_path / "ca.crt"
    mongo.create_client(ServiceSettings(mongodb_tls_ca_file=ca))
    mongo.create_client(ServiceSettings())
    assert seen[0]["tlsCAFile"] == str(ca)
    assert "tlsCAFile" not in seen[1]


@pytest.mark.parametrize("error", ["kafka", "mongodb"])
def test_an_unreachable_dependency_in_a_request_is_a_503_problem(error: str) -> None:
    """A request that meets an unreachable broker or MongoDB answers 503 problem+json
    with Retry-After (the client retries), not a 500."""
    from aiokafka.errors import KafkaConnectionError
    from fastapi import FastAPI
    from pymongo.errors import ServerSelectionTimeoutError

    from shared.runtime.problems import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/things")
    async def write() -> None:
        if error == "kafka":
            raise KafkaConnectionError("broker unreachable")
        raise ServerSelectionTimeoutError("no primary")

    response = TestClient(app, raise_server_exceptions=False).post("/v1/things")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"].endswith("/dependency-unavailable") and body["status"] == 503
    assert "broker" not in body.get("detail", "")  # no internals leak
