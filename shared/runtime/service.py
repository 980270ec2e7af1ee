"""What every service's composition root assembles: MongoDB client, Kafka publisher,
FastStream broker with reliable consumers, outbox relay, HTTP app with health, metrics,
problem details and AsyncAPI.

A service's ``create_app(settings)`` builds a :class:`ServiceRuntime`, registers its
subscribers, routers, start-up steps and background loops on it, and returns
``runtime.http_app()``. Nothing connects before the app's lifespan starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.asyncapi_documents import service_document, sis_document
from shared.contracts.topics import PRODUCERS
from shared.runtime.body_limit import BodyLimitMiddleware
from shared.runtime.consumer import Consumers, Handler
from shared.runtime.http_metrics import HttpMetricsMiddleware
from shared.runtime.kafka import KafkaPublisher, faststream_security
from shared.runtime.limits import DEPENDENCY_WAIT_SECONDS
from shared.runtime.logs import configure_logging, get_logger
from shared.runtime.metrics_port import MetricsPortSplit
from shared.runtime.mongo import create_client, ping, service_database
from shared.runtime.outbox import OutboxRelay, ensure_outbox_index
from shared.runtime.problems import document_problems, install_problem_handlers, problem
from shared.runtime.settings import ServiceSettings
from shared.runtime.tracing import configure_tracing, redact_request_span

log = get_logger(__name__)

#: 1 when the last readiness check reached the dependency, else 0 (labels: mongodb, kafka).
DEPENDENCY_UP = Gauge(
    "portal_dependency_up",
    "Whether the last readiness check reached the dependency",
    ["dependency"],
)

Step = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """The shared infrastructure of one service process."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        title: str,
        description: str = "",
        serves_without_kafka: bool = False,
    ) -> None:
        """``serves_without_kafka``: the HTTP API only writes to MongoDB (events wait in
        the outbox), so the service stays ready while the broker is unreachable; Kafka's
        state is still reported in ``/readyz`` and ``portal_dependency_up``."""
        self.settings = settings
        self.serves_without_kafka = serves_without_kafka
        self.name = settings.service_name
        self.title = title
        self.description = description
        configure_logging(self.name, settings.log_level)
        self.tracer_provider = configure_tracing(
            settings.trace_service_name,
            otlp_endpoint=settings.otel_exporter_otlp_endpoint,
            traces_file=settings.otel_traces_file,
        )
        self.mongo: AsyncMongoClient[dict[str, Any]] = create_client(settings)  # lazy: no I/O
        self.db: AsyncDatabase[dict[str, Any]] = service_database(self.mongo, settings)
        self.publisher = KafkaPublisher(settings)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=self.name,
            graceful_timeout=20.0,
            description=description,
            security=faststream_security(settings),
            # FastStream's own log lines go through our JSON and redaction pipeline.
            logger=logging.getLogger("faststream.portal"),
        )
        self.consumers = Consumers(
            self.broker, self.publisher, service=self.name, prefix=settings.kafka_topic_prefix
        )
        self._outbox_collections: list[AsyncCollection[dict[str, Any]]] = []
        self.relay: OutboxRelay | None = None
        self._startup: list[Step] = []
        self._background: list[Step] = []
        self._shutdown: list[Step] = []
        self._routers: list[APIRouter] = []
        self._larger_bodies: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: True once the producer and the consumers have connected to Kafka.
        self.kafka_connected = False
        #: First delay between background attempts to reach Kafka (doubles up to 10 s).
        self.kafka_retry_seconds = 0.5
        #: At shutdown, how long the consumers may take to stop (their drain is FastStream's
        #: graceful_timeout, 20 s, within it); the producer gets at most 10 s after them.
        self.kafka_stop_seconds = 25.0

    # --- registration -------------------------------------------------------------

    def subscribe(self, topic: Any, handler: Handler, *, description: str = "") -> None:
        """Consume ``topic`` with ``handler`` (see :class:`Consumers`)."""
        self.consumers.subscribe(topic, handler, description=description)

    def outbox(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        """Relay the outbox entries of ``collection`` to Kafka."""
        self._outbox_collections.append(collection)

    def on_startup(self, step: Step) -> None:
        """Run ``step`` at start-up once MongoDB is reachable (e.g. create indexes; Kafka
        may still be down)."""
        self._startup.append(step)

    def on_shutdown(self, step: Step) -> None:
        """Run ``step`` when the process stops, before connections close."""
        self._shutdown.append(step)

    def background(self, loop: Step) -> None:
        """Run ``loop`` for the life of the process (cancelled at shutdown)."""
        self._background.append(loop)

    def include_router(self, router: APIRouter) -> None:
        """Serve ``router``'s routes."""
        self._routers.append(router)

    def allow_larger_body(self, path: str, max_bytes: int) -> None:
        """Accept bodies up to ``max_bytes`` on ``path`` (every other route keeps
        ``HTTP_MAX_BODY_BYTES``); the route must authenticate before it reads the body."""
        self._larger_bodies[path] = max_bytes

    def wake_relay(self) -> None:
        """Relay outbox entries now (handlers call it after committing events)."""
        if self.relay is not None:
            self.relay.wake()

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Connect, prepare, start consuming and relaying.

        MongoDB is waited for (nothing works without it). Kafka is not: if the broker
        does not answer at once, the service starts anyway (liveness ok, ``/readyz``
        shows Kafka unreachable), the outbox holds the events, and the producer and the
        consumers connect in the background as soon as the broker is back. So a pod
        restarted during a broker outage is not killed in a loop by its probes."""
        await self._until_ready("MongoDB", lambda: ping(self.mongo))
        for coll in self._outbox_collections:
            await ensure_outbox_index(coll)
        for step in self._startup:
            await step()
        self.relay = OutboxRelay(
            self._outbox_collections,
            self.publisher,
            poll_seconds=self.settings.outbox_poll_seconds,
            lease_seconds=self.settings.outbox_lease_seconds,
        )
        if self._outbox_collections:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for loop in self._background:
            self._tasks.append(asyncio.create_task(self._guard(loop), name=loop.__name__))
        if not await self._connect_kafka():
            log.warning(
                "Kafka unreachable: serving without it, connecting in the background",
                bootstrap=self.settings.kafka_bootstrap_servers,
            )
            self._tasks.append(
                asyncio.create_task(self._connect_kafka_until_up(), name="kafka-connect")
            )
        log.info(
            "service started",
            http_port=self.settings.http_port,
            consumes=[str(t) for t in self.consumers.topics],
            kafka=self.kafka_connected,
        )

    async def _connect_kafka(self) -> bool:
        """One attempt at the producer and then the consumers; False while the broker
        is unreachable (a half-started broker is stopped again, to retry cleanly)."""
        try:
            await self.publisher.connect()
            await self.broker.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("Kafka connection failed", error=type(exc).__name__)
            with suppress(Exception):
                await self.broker.stop()
            return False
        self.kafka_connected = True
        return True

    async def _connect_kafka_until_up(self) -> None:
        """Retry :meth:`_connect_kafka` with backoff (up to 10 s apart) until it works."""
        delay = self.kafka_retry_seconds
        while not await self._connect_kafka():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        log.info("Kafka reachable again: producing and consuming")
        self.wake_relay()

    async def stop(self) -> None:
        """Stop consuming (finishing in-flight messages), then the loops, then close."""
        for task in self._tasks:
            if task.get_name() == "kafka-connect":
                task.cancel()
        # Bounded: with the broker unreachable, leaving the group and flushing the producer
        # would wait for it until the pod's grace period ran out (seen in the broker-outage
        # fault test). Unsent events stay in the outbox; uncommitted ones are redelivered.
        with suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), self.kafka_stop_seconds)
        for step in self._shutdown:
            with suppress(Exception):
                await step()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            if task.get_name() != "outbox-relay":
                task.cancel()
        with suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)
        with suppress(Exception):
            await asyncio.wait_for(self.publisher.stop(), min(10.0, self.kafka_stop_seconds))
        await self.mongo.close()
        self.tracer_provider.shutdown()
        log.info("service stopped")

    async def _until_ready(
        self, what: str, attempt: Step, timeout: float = DEPENDENCY_WAIT_SECONDS
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.2
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                if loop.time() > deadline:
                    raise RuntimeError(f"{what} not reachable after {timeout:.0f}s") from exc
                log.warning("waiting for dependency", dependency=what, error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _guard(self, loop: Step) -> None:
        """Keep a background loop alive through unexpected errors."""
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop crashed; restarting", loop=loop.__name__)
                await asyncio.sleep(1.0)

    # --- health and documents -----------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """Check MongoDB and Kafka for real; a failed check names the dependency."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(self.mongo), 2.0)
            checks["mongodb"] = "ok"
        except Exception as exc:
            checks["mongodb"] = f"unreachable ({type(exc).__name__})"
        try:
            ok = await asyncio.wait_for(self.publisher.ready(), 2.0)
            if ok and not self.kafka_connected:
                checks["kafka"] = "connecting"  # the consumers are not subscribed yet
            else:
                checks["kafka"] = "ok" if ok else "unreachable"
        except Exception as exc:
            checks["kafka"] = f"unreachable ({type(exc).__name__})"
        for dependency, state in checks.items():
            DEPENDENCY_UP.labels(dependency).set(1 if state == "ok" else 0)
        return checks

    def required_for_readiness(self) -> set[str]:
        """The dependencies without which this service cannot serve its HTTP API."""
        return {"mongodb"} if self.serves_without_kafka else {"mongodb", "kafka"}

    def asyncapi(self) -> dict[str, Any]:
        """The service's AsyncAPI 3 document: what it publishes, consumes and dead-letters,
        generated from the contracts (shared/contracts/asyncapi_documents.py)."""
        return service_document(
            self.name,
            title=f"{self.title} events",
            description=self.description,
            consumed=self.consumers.descriptions,
        )

    def http_app(self, *, version: str = "1.0.0", openapi: bool = True) -> FastAPI:
        """The service's HTTP app: its routers plus health, metrics and documents."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=self.title,
            version=version,
            description=self.description,
            lifespan=lifespan,
            openapi_url="/openapi.json" if openapi else None,
            docs_url="/docs" if openapi else None,
            redoc_url=None,
        )
        install_problem_handlers(app)
        generate_openapi = app.openapi

        def openapi_with_problems() -> dict[str, Any]:
            # The error answers as they are: problem+json (shared/runtime/problems.py).
            if app.openapi_schema is None:
                app.openapi_schema = document_problems(generate_openapi())
            return app.openapi_schema

        app.openapi = openapi_with_problems  # type: ignore[method-assign]
        app.add_middleware(HttpMetricsMiddleware)
        app.add_middleware(MetricsPortSplit, metrics_port=self.settings.metrics_port)
        # Added last, so it runs first: an over-size body is refused before anything reads it.
        app.add_middleware(
            BodyLimitMiddleware,
            max_bytes=self.settings.http_max_body_bytes,
            larger=self._larger_bodies,
        )
        for router in self._routers:
            app.include_router(router)
        app.include_router(self._ops_router())
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls="healthz,readyz,metrics",
            server_request_hook=redact_request_span,
        )
        with suppress(Exception):
            PymongoInstrumentor().instrument(tracer_provider=self.tracer_provider)
        app.state.runtime = self
        return app

    def _ops_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz", summary="Liveness: the process is running")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @router.get(
            "/readyz",
            summary="Readiness: the service can serve its HTTP API (MongoDB, and Kafka for "
            "the services whose work is consuming it); every dependency's state in `checks`",
        )
        async def readyz() -> Response:
            checks = await self.readiness()
            required = self.required_for_readiness()
            if all(v == "ok" for k, v in checks.items() if k in required):
                degraded = sorted(k for k, v in checks.items() if v != "ok")
                body: dict[str, Any] = {"status": "ready", "checks": checks}
                if degraded:
                    # Still serving: events wait in the outbox until the broker is back.
                    body["degraded"] = degraded
                return JSONResponse(body)
            return problem(
                503,
                type_="not-ready",
                title="Service Unavailable",
                detail="a dependency is unreachable",
                checks=checks,
            )

        @router.get("/metrics", summary="Prometheus metrics")
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        @router.get("/asyncapi.json", summary="AsyncAPI 3 document of this service's events")
        async def asyncapi_json() -> dict[str, Any]:
            return self.asyncapi()

        @router.get("/docs/asyncapi", response_class=HTMLResponse, include_in_schema=False)
        async def asyncapi_html() -> str:
            from faststream.specification.asyncapi import get_asyncapi_html

            class _Rendered:  # what the viewer needs of a FastStream specification
                title = f"{self.title} events"

                def to_json(_self) -> str:
                    return json.dumps(self.asyncapi())

            return get_asyncapi_html(_Rendered(), try_it_out_path=None)  # type: ignore[arg-type]

        @router.get(
            "/asyncapi/sis.json",
            summary="AsyncAPI 3 document of the public link events an SIS may consume",
        )
        async def asyncapi_sis_json() -> dict[str, Any]:
            return sis_document()

        return router


def produced_by(service: str) -> Sequence[str]:
    """Unprefixed topics ``service`` publishes."""
    return [str(t) for t, p in PRODUCERS.items() if p == service]
