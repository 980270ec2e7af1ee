"""Settings of the web front end (environment names: docs/services/web.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from shared.runtime.settings import ServiceSettings
from shared.runtime.staff_tokens import LOCAL_OIDC_AUDIENCE, LOCAL_OIDC_ISSUER, is_loopback_http

#: The local Keycloak's console client secret (a published, local-only value).
LOCAL_CONSOLE_SECRET = "local-dev-staff-console-secret"  # noqa: S105 - local dev stack only


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
    #: How long the list of the roster's schools is reused before linking is asked again
    #: (a school added by a roster import appears in the pages at most this late).
    web_schools_refresh_seconds: float = Field(default=300.0, ge=0)
    #: Most sessions (drafts and signed-in) kept in memory at once; the oldest go first.
    web_max_sessions: int = Field(default=50_000, ge=100)

    #: The school staff console under ``/staff``. Defaults to on outside production and
    #: off in production, where it is turned on only in a deployment reachable from the
    #: district's internal network.
    web_staff_console: bool | None = None
    #: The district's OpenID provider (its discovery document is
    #: ``<issuer>/.well-known/openid-configuration``); the same value as linking's.
    staff_oidc_issuer: str | None = None
    #: The console's client at the provider (linking's ``STAFF_OIDC_AUDIENCE``).
    staff_oidc_client_id: str | None = None
    staff_oidc_client_secret: SecretStr | None = None
    #: Scopes asked for at sign-in (Entra ID: add the API scope, e.g.
    #: ``api://<client id>/access_as_user``, so the access token is meant for linking).
    staff_oidc_scope: str = "openid profile email"
    #: The console's address as staff browsers reach it (``https://staff.district.org``):
    #: the base of the redirect URI. Unset: the address of the request.
    web_staff_public_url: str | None = None

    @model_validator(mode="after")
    def _staff_console(self) -> Settings:
        if not self.staff_console_enabled:
            return self
        issuer, client_id, secret = self.staff_oidc()
        if not (issuer.startswith("https://") or is_loopback_http(issuer)):
            raise ValueError("STAFF_OIDC_ISSUER must be an https URL")
        if self.environment == "production":
            if not self.staff_oidc_issuer or not client_id or not secret:
                raise ValueError(
                    "the staff console (WEB_STAFF_CONSOLE=true) needs STAFF_OIDC_ISSUER, "
                    "STAFF_OIDC_CLIENT_ID and STAFF_OIDC_CLIENT_SECRET in production"
                )
            if not issuer.startswith("https://"):
                raise ValueError("STAFF_OIDC_ISSUER must be an https URL in production")
        return self

    @property
    def staff_console_enabled(self) -> bool:
        """Whether ``/staff`` is served."""
        if self.web_staff_console is not None:
            return self.web_staff_console
        return self.environment != "production"

    def staff_oidc(self) -> tuple[str, str, str | None]:
        """(issuer, client id, client secret) of the console; outside production the
        local Keycloak's ``district`` realm and ``staff-console`` client by default."""
        if self.staff_oidc_issuer:
            secret = self.staff_oidc_client_secret
            return (
                self.staff_oidc_issuer.rstrip("/"),
                self.staff_oidc_client_id or "",
                secret.get_secret_value() if secret else None,
            )
        if self.environment == "production":
            return "", self.staff_oidc_client_id or "", None
        secret = self.staff_oidc_client_secret
        return (
            LOCAL_OIDC_ISSUER,
            self.staff_oidc_client_id or LOCAL_OIDC_AUDIENCE,
            secret.get_secret_value() if secret else LOCAL_CONSOLE_SECRET,
        )

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
