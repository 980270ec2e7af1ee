"""Typed settings read from the environment (names of contract §7).

Each service subclasses :class:`ServiceSettings` with its own fields and default port.
Settings are built in the composition root (``create_app``), never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.runtime.policy import DistrictPolicy, load_policy

#: Hosts and domains of the shipped example values (docs, overlays): never production.
_EXAMPLE_HOSTS = {"localhost", "127.0.0.1", "::1", "example.org", "example.com", "example.net"}
_EXAMPLE_DOMAINS = (".example.org", ".example.com", ".example.net", ".localhost")

#: Values that must never reach production as a secret.
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "dev", "local"}


class ServiceSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: ClassVar[str] = "service"
    default_http_port: ClassVar[int] = 8000

    environment: Literal["local", "test", "production"] = "local"
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = 0
    #: Serve ``/metrics`` on this port only, and nothing else there (0: ``/metrics`` on
    #: the HTTP port). The deployment sets 9464, so the monitoring namespace's
    #: NetworkPolicy can admit Prometheus to the metrics and never to the APIs.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Largest request body accepted on any route (a few routes, such as the roster
    #: upload, have their own larger limit); bigger ones get 413 before they are read.
    http_max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = ""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    #: Prefix of every database name (e.g. ``test_`` for an isolated test run).
    mongodb_database_prefix: str = ""
    #: CA bundle that signed the MongoDB members' certificates (TLS to the database:
    #: the URI says ``tls=true``/``ssl=true``); unset: the system CAs.
    mongodb_tls_ca_file: Path | None = None

    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    #: Local/test addition: append finished spans as JSON lines to this file.
    otel_traces_file: Path | None = None

    district_policy_file: Path | None = None
    #: Base of the links in emails: the web front end (services/web), which serves them.
    portal_public_url: str = "http://localhost:8080"

    #: Production start-up checks deliberately skipped, comma separated (e.g.
    #: ``public-url-example`` while trying the portal on a staging host); each is logged.
    production_waivers: str = ""

    #: How long an outbox message may stay claimed by a relay that died.
    outbox_lease_seconds: float = 30.0
    #: How often the relay looks for messages it was not woken for (crash recovery).
    outbox_poll_seconds: float = 0.5

    @model_validator(mode="after")
    def _defaults_and_production_floor(self) -> ServiceSettings:
        if not self.http_port:
            self.http_port = self.default_http_port
        if self.environment == "production":
            self.refuse_placeholders()
        return self

    def refuse_placeholders(self) -> None:
        """Refuse to start in production with a secret left at a placeholder value."""
        for name, value in self:
            if isinstance(value, SecretStr) and value.get_secret_value().lower() in _PLACEHOLDERS:
                raise ValueError(f"{name.upper()} must be set to a real secret in production")

    def production_problems(self) -> dict[str, str]:
        """What a production start-up refuses (waiver name → why); services add their own.

        Checked by :meth:`check_production` in the composition roots of the services that
        use these values, not when settings are read, so operator commands run in
        production still work."""
        problems: dict[str, str] = {}
        url = urlsplit(self.portal_public_url)
        if url.scheme != "https":
            problems["public-url-https"] = "PORTAL_PUBLIC_URL must be an https:// address"
        host = (url.hostname or "").lower()
        if host in _EXAMPLE_HOSTS or host.endswith(_EXAMPLE_DOMAINS):
            problems["public-url-example"] = (
                f"PORTAL_PUBLIC_URL is still an example address ({host})"
            )
        return problems

    def check_production(self) -> list[str]:
        """In production, refuse to start on any :meth:`production_problems` not named in
        ``PRODUCTION_WAIVERS``; returns the waived ones (for the start-up log)."""
        if self.environment != "production":
            return []
        waived = {w.strip() for w in self.production_waivers.split(",") if w.strip()}
        problems = self.production_problems()
        refused = {name: why for name, why in problems.items() if name not in waived}
        if refused:
            listed = "; ".join(f"{why} (waiver: {name})" for name, why in refused.items())
            raise ValueError(f"refusing to start in production: {listed}")
        return sorted(waived & problems.keys())

    @property
    def database_name(self) -> str:
        """The service's own MongoDB database."""
        return f"{self.mongodb_database_prefix}{self.service_name}"

    def load_policy(self) -> DistrictPolicy:
        """The district policy (``DISTRICT_POLICY_FILE`` or the bundled Duval policy)."""
        return load_policy(self.district_policy_file)

    @property
    def trace_service_name(self) -> str:
        """``OTEL_SERVICE_NAME`` or the service name."""
        return self.otel_service_name or self.service_name
