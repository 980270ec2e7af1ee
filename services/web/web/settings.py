"""Settings of the web front end (environment names: docs/services/web.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """Where the APIs are, and how the browser session behaves."""

    service_name: ClassVar[str] = "web"
    default_http_port: ClassVar[int] = 8080

    #: identity's HTTP API, as the front end reaches it.
    web_identity_url: str = "http://127.0.0.1:8001"
    #: linking's HTTP API, as the front end reaches it.
    web_linking_url: str = "http://127.0.0.1:8002"
    #: Time-out of one API call.
    web_api_timeout_seconds: float = Field(default=15.0, gt=0)
    #: Secure cookies (https only). Defaults to on in production, off for local http runs.
    web_cookie_secure: bool | None = None
    #: A wizard draft is kept this long after the guardian's last page.
    web_draft_idle_minutes: float = Field(default=120.0, gt=0)
    #: Proxies in front of the web front end that append to X-Forwarded-For (the ingress
    #: controller: 1). The guardian's address is that many entries from the right (the
    #: left end is whatever the client wrote); 0: the connection's peer address. It is
    #: passed on to identity, whose sign-in limits count per address.
    web_trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    #: Deprecated: ``true`` means ``WEB_TRUSTED_PROXY_HOPS=1``.
    web_trust_forwarded_for: bool = False
    #: Most sessions (drafts and signed-in) kept in memory at once; the oldest go first.
    web_max_sessions: int = Field(default=50_000, ge=100)

    @property
    def proxy_hops(self) -> int:
        """The trusted proxy hops, the deprecated switch included."""
        if self.web_trusted_proxy_hops == 0 and self.web_trust_forwarded_for:
            return 1
        return self.web_trusted_proxy_hops

    @property
    def cookie_secure(self) -> bool:
        """Whether cookies carry ``Secure``."""
        if self.web_cookie_secure is not None:
            return self.web_cookie_secure
        return self.environment == "production"
