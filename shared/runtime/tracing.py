"""OpenTelemetry tracing: provider set-up and W3C context through Kafka headers."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
#: The provider the service configured; OpenTelemetry's global provider can be set only
#: once per process, so the runtime's own tracers come from here.
_provider: TracerProvider | None = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file as JSON lines (local runs and the test suite's
    span scan; production exports OTLP)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [span.to_json(indent=None) for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(json.loads(line), separators=(",", ":")) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def configure_tracing(
    service: str, *, otlp_endpoint: str | None = None, traces_file: Path | None = None
) -> TracerProvider:
    """Install a tracer provider for ``service`` exporting to OTLP and/or a file."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    if traces_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(traces_file)))
    global _provider
    if _provider is None:
        trace.set_tracer_provider(provider)
    _provider = provider
    return provider


#: Span attributes that may carry a request's query string.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full")


def redact_query(url: str) -> str:
    """``url`` with every query value replaced by ``REDACTED``: a query may carry an email
    (the help desk's look-ups) or a token, and spans leave the service."""
    path, sep, query = url.partition("?")
    if not sep:
        return url
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    return path + "?" + "&".join(f"{name}=REDACTED" for name in names)


def redact_request_span(span: trace.Span, scope: Mapping[str, object]) -> None:
    """FastAPI server-request hook: keep query values out of the request span (the
    instrumentation records the full URL before the hook runs)."""
    if not span.is_recording() or not scope.get("query_string"):
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_query(value))
    if "url.query" in attributes:
        span.set_attribute("url.query", redact_query("?" + str(attributes["url.query"]))[1:])


def current_trace_headers() -> dict[str, str]:
    """``traceparent``/``tracestate`` of the current span, for a Kafka record."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    """The remote span context carried in Kafka headers (empty context if none)."""
    return _propagator.extract(dict(headers))


def tracer(name: str) -> trace.Tracer:
    """A tracer from the provider the service configured (the global one otherwise)."""
    return (_provider or trace.get_tracer_provider()).get_tracer(name)
