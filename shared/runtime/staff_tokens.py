"""Staff bearer tokens: verified against the district identity provider and read through
the district policy's claim mapping (:class:`shared.runtime.policy.StaffPolicy`).

A token is checked against the one trusted issuer its ``iss`` names:

* the district's OpenID provider (``STAFF_OIDC_ISSUER``): its discovery document gives
  the JWKS URL and the signing algorithms; keys are cached and refetched when a token
  names an unknown key id (see :mod:`shared.runtime.jwks`);
* an issuer configured by hand (``STAFF_JWT_ISSUER`` with ``STAFF_JWKS_URL`` or static
  PEM keys), as deployments did before discovery;
* for local runs only, the key ``portal staff-token`` signs with.

Then the signature, ``iss``, ``aud`` and ``exp`` (with a small leeway) are checked by
PyJWT, and the claims are mapped to the staff member's schools and role. Every refusal is
a :class:`StaffTokenRefused` with a code the services answer as an RFC 9457 problem.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import jwt
from pydantic import Field, model_validator

from shared.runtime.jwks import (
    ASYMMETRIC_ALGORITHMS,
    JwksCache,
    KeySourceUnavailable,
    UnknownKey,
    fetch_json,
)
from shared.runtime.logs import get_logger
from shared.runtime.policy import StaffAccess, StaffPolicy
from shared.runtime.settings import ServiceSettings

log = get_logger(__name__)


#: Titles of the refusals (staff read English or Spanish; the console sends
#: Accept-Language). Services register them with ``register_messages``.
STAFF_TOKEN_MESSAGES: dict[str, dict[str, str]] = {
    "staff-sign-in-required": {
        "en": "A valid staff bearer token is required.",
        "es": "Se requiere un token de acceso válido del personal.",
    },
    "staff-token-expired": {
        "en": "Your staff sign-in has expired. Sign in again.",
        "es": "Su sesión de personal ha caducado. Inicie sesión de nuevo.",
    },
    "staff-token-untrusted": {
        "en": "This sign-in was not issued by the district's identity provider.",
        "es": "Este inicio de sesión no lo emitió el proveedor de identidad del distrito.",
    },
    "staff-token-invalid": {
        "en": "This staff sign-in is not valid. Sign in again.",
        "es": "Este inicio de sesión del personal no es válido. Inicie sesión de nuevo.",
    },
    "staff-without-school": {
        "en": "Your staff account is not assigned to any school yet. Ask the district to "
        "assign your school.",
        "es": "Su cuenta de personal aún no tiene ninguna escuela asignada. Pida al distrito "
        "que le asigne su escuela.",
    },
    "staff-idp-unavailable": {
        "en": "Staff sign-in cannot be checked right now. Try again in a moment.",
        "es": "No se puede comprobar el inicio de sesión del personal ahora. Inténtelo de "
        "nuevo en un momento.",
    },
}


class StaffTokenRefused(Exception):
    """The request's staff token is not accepted.

    ``code`` is the problem type: ``staff-sign-in-required`` (no or malformed token),
    ``staff-token-untrusted`` (another issuer), ``staff-token-expired``,
    ``staff-token-invalid`` (signature, audience, key...), ``staff-without-school``
    (403: valid, but names no school and no district-admin role) and
    ``staff-idp-unavailable`` (503: the provider's keys cannot be fetched).
    ``detail`` says what exactly, for the staff member or the district's IT.
    """

    def __init__(self, code: str, detail: str, status: int = 401) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


class KeyResolver(Protocol):
    """Finds the public key of a token's ``kid``."""

    async def get(self, kid: str) -> Any:
        """The key (raises ``UnknownKey`` or ``KeySourceUnavailable``)."""
        ...


class StaticKeys:
    """Keys given in configuration (PEM strings by kid)."""

    def __init__(self, pems: Mapping[str, str]) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        self._keys: dict[str, Any] = {}
        for kid, pem in pems.items():
            try:
                self._keys[kid] = load_pem_public_key(pem.encode())
            except ValueError as exc:
                raise ValueError(f"public key {kid!r} is not a PEM public key") from exc

    async def get(self, kid: str) -> Any:
        """The configured key ``kid``."""
        try:
            return self._keys[kid]
        except KeyError:
            raise UnknownKey(kid) from None


class FirstOf:
    """Static keys first, then a JWKS (a configuration may give both)."""

    def __init__(self, *resolvers: KeyResolver) -> None:
        self._resolvers = resolvers

    async def get(self, kid: str) -> Any:
        """The first resolver's key ``kid``."""
        unavailable: KeySourceUnavailable | None = None
        for resolver in self._resolvers:
            try:
                return await resolver.get(kid)
            except UnknownKey:
                continue
            except KeySourceUnavailable as exc:
                unavailable = exc
        if unavailable is not None:
            raise unavailable
        raise UnknownKey(kid)


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 §4: the issuer without a trailing ``/`` plus
    ``/.well-known/openid-configuration``."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def is_loopback_http(url: str) -> bool:
    """True for ``http://127.0.0.1...``/``http://localhost...`` (the local provider)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


class OidcProvider:
    """The district's OpenID provider, known by its issuer URL.

    The discovery document is fetched on first use (a service starts even when the
    provider is down) and again when it could not be used, at most every
    ``min_refresh_interval`` seconds. Its ``issuer`` must equal the configured one.
    """

    def __init__(
        self,
        issuer: str,
        *,
        timeout: float = 5.0,
        min_refresh_interval: float = 10.0,
        max_key_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (issuer.startswith("https://") or is_loopback_http(issuer)):
            raise ValueError(f"issuer {issuer!r} must be an https URL")
        self.issuer = issuer
        self.timeout = timeout
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._failed_at: float | None = None
        self.min_refresh_interval = min_refresh_interval
        self._lock = asyncio.Lock()
        self.keys = JwksCache(
            self._jwks_uri,
            max_age=max_key_age,
            min_refresh_interval=min_refresh_interval,
            timeout=timeout,
            clock=clock,
        )

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once; raises ``KeySourceUnavailable``)."""
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                # a provider that is down is asked again at most every interval, not by
                # every staff request
                if (
                    self._failed_at is not None
                    and self._clock() - self._failed_at < self.min_refresh_interval
                ):
                    raise KeySourceUnavailable(f"{discovery_url(self.issuer)}: failed recently")
                self._failed_at = self._clock()
                document = await fetch_json(discovery_url(self.issuer), self.timeout)
                if document.get("issuer") != self.issuer:
                    raise KeySourceUnavailable(
                        f"discovery names issuer {document.get('issuer')!r}, "
                        f"not {self.issuer!r}"
                    )
                jwks_uri = document.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not (
                    jwks_uri.startswith("https://") or is_loopback_http(jwks_uri)
                ):
                    raise KeySourceUnavailable(f"discovery gives no https jwks_uri: {jwks_uri!r}")
                self._metadata = document
                self._failed_at = None
            return self._metadata

    async def _jwks_uri(self) -> str:
        return str((await self.metadata())["jwks_uri"])

    async def algorithms(self, allowed: Sequence[str]) -> list[str]:
        """The provider's token signing algorithms among ``allowed`` (asymmetric only)."""
        offered = (await self.metadata()).get("id_token_signing_alg_values_supported") or []
        wanted = [a for a in allowed if a in ASYMMETRIC_ALGORITHMS]
        chosen = [a for a in wanted if a in offered] if offered else wanted
        return chosen or wanted


@dataclass
class TrustedIssuer:
    """One issuer whose staff tokens are accepted, its keys and its claim mapping."""

    issuer: str
    audience: str
    keys: KeyResolver
    mapping: StaffPolicy
    algorithms: Sequence[str] = ("RS256", "ES256")
    #: set for a discovered provider: algorithms come from its discovery document
    provider: OidcProvider | None = None
    label: str = ""

    async def accepted_algorithms(self) -> list[str]:
        if self.provider is not None:
            return await self.provider.algorithms(self.algorithms)
        return [a for a in self.algorithms if a in ASYMMETRIC_ALGORITHMS]


#: The claims ``portal staff-token`` writes: ``schools`` and ``role``.
LOCAL_TOKEN_MAPPING = StaffPolicy.model_validate(
    {
        "school_claims": [{"claim": "schools"}],
        "district_admin_claims": [{"claim": "role", "values": ["district_admin"]}],
    }
)


@dataclass
class StaffTokenVerifier:
    """Checks staff bearer tokens against the trusted issuers."""

    issuers: Sequence[TrustedIssuer]
    leeway: int = 30
    _by_issuer: dict[str, TrustedIssuer] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_issuer = {t.issuer: t for t in self.issuers}

    async def verify(self, token: str) -> tuple[StaffAccess, dict[str, Any]]:
        """The staff member's access and the token's claims (raises ``StaffTokenRefused``)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise StaffTokenRefused("staff-sign-in-required", "malformed token") from None
        issuer = unverified.get("iss")
        trust = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if trust is None:
            raise StaffTokenRefused(
                "staff-token-untrusted",
                f"issuer {str(issuer)[:200]!r} is not the district's identity provider",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise StaffTokenRefused("staff-token-invalid", "the token names no signing key")
        try:
            key = await trust.keys.get(kid)
            algorithms = await trust.accepted_algorithms()
        except UnknownKey:
            raise StaffTokenRefused(
                "staff-token-invalid", "unknown signing key of the identity provider"
            ) from None
        except KeySourceUnavailable as exc:
            log.warning("staff token keys unavailable", issuer=trust.issuer, error=str(exc))
            raise StaffTokenRefused(
                "staff-idp-unavailable",
                "the identity provider's signing keys cannot be fetched; try again shortly",
                status=503,
            ) from None
        if header.get("alg") not in algorithms:
            raise StaffTokenRefused("staff-token-invalid", "signing algorithm not accepted")
        try:
            claims = jwt.decode(
                token,
                getattr(key, "key", key),  # a PyJWK or a bare public key
                algorithms=algorithms,
                audience=trust.audience,
                issuer=trust.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise StaffTokenRefused(
                "staff-token-expired", "the staff sign-in has expired; sign in again"
            ) from None
        except jwt.InvalidAudienceError:
            raise StaffTokenRefused(
                "staff-token-invalid", f"the token is not meant for {trust.audience!r}"
            ) from None
        except jwt.ImmatureSignatureError:
            raise StaffTokenRefused("staff-token-invalid", "the token is not valid yet") from None
        except jwt.PyJWTError as exc:
            raise StaffTokenRefused("staff-token-invalid", _reason(exc)) from None
        access = trust.mapping.access(claims)
        if access is None:
            raise StaffTokenRefused(
                "staff-token-invalid",
                f"the token has no {trust.mapping.staff_id_claim!r} claim naming the staff member",
            )
        if not access.schools and not access.district_admin:
            raise StaffTokenRefused(
                "staff-without-school",
                f"{access.missing}; the district assigns schools at its identity provider",
                status=403,
            )
        return access, claims


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "issuer mismatch"
    return type(exc).__name__


def oidc_issuer(
    issuer: str,
    audience: str,
    mapping: StaffPolicy,
    *,
    algorithms: Sequence[str] = ("RS256", "ES256", "PS256"),
    min_refresh_interval: float = 10.0,
) -> TrustedIssuer:
    """A discovered OpenID provider as a trusted issuer."""
    provider = OidcProvider(issuer, min_refresh_interval=min_refresh_interval)
    return TrustedIssuer(
        issuer=issuer,
        audience=audience,
        keys=provider.keys,
        mapping=mapping,
        algorithms=algorithms,
        provider=provider,
        label="oidc",
    )

# --- settings ---------------------------------------------------------------------------

#: ``iss`` of the tokens ``portal staff-token`` signs (local runs only).
LOCAL_STAFF_ISSUER = "urn:guardian-portal:local-staff-idp"
LOCAL_STAFF_KID = "local-staff-1"
#: The dev stack's Keycloak realm and the console's client id (local runs and tests).
LOCAL_OIDC_ISSUER = "http://127.0.0.1:8380/realms/district"
LOCAL_OIDC_AUDIENCE = "staff-console"
STAFF_AUDIENCE = "guardian-portal"


def parse_pem_keys(raw: str | None, name: str) -> dict[str, str]:
    """A JSON object kid -> PEM public key from an environment variable."""
    if not raw:
        return {}
    try:
        keys = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} must be a JSON object of kid -> PEM: {exc.msg}") from None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise ValueError(f"{name} must be a JSON object of kid -> PEM")
    return keys


class StaffAuthSettings(ServiceSettings):
    """Where staff tokens come from (environment names in docs/services/linking.md).

    ``STAFF_OIDC_ISSUER`` + ``STAFF_OIDC_AUDIENCE``: the district's OpenID provider, found
    through its discovery document (outside production it defaults to the dev stack's
    Keycloak; ``STAFF_OIDC_ISSUER=`` turns it off). ``STAFF_JWT_ISSUER`` with
    ``STAFF_JWKS_URL`` and/or ``STAFF_JWT_PUBLIC_KEYS``: an issuer configured by hand.
    Outside production the local issuer of ``portal staff-token`` is trusted too.
    """

    #: False for a service whose staff routes are optional (identity's help desk).
    staff_auth_required: ClassVar[bool] = True

    staff_oidc_issuer: str | None = None
    staff_oidc_audience: str | None = None
    staff_jwt_issuer: str = LOCAL_STAFF_ISSUER
    staff_jwt_audience: str = STAFF_AUDIENCE
    #: JWKS of a hand-configured issuer; keys cached, refetched for an unknown kid.
    staff_jwks_url: str | None = None
    #: JSON object kid -> PEM: static staff keys (instead of, or besides, the JWKS).
    staff_jwt_public_keys: str | None = None
    staff_jwt_algorithms: str = "ES256,RS256"
    #: Shortest time between two fetches of a provider's keys for unknown key ids.
    staff_keys_refresh_seconds: float = Field(default=10.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _staff_sources(self) -> StaffAuthSettings:
        parse_pem_keys(self.staff_jwt_public_keys, "STAFF_JWT_PUBLIC_KEYS")
        oidc = self.staff_oidc()
        if oidc is not None and not (oidc[0].startswith("https://") or is_loopback_http(oidc[0])):
            raise ValueError("STAFF_OIDC_ISSUER must be an https URL")
        if self.environment == "production":
            hand = self.staff_jwt_issuer != LOCAL_STAFF_ISSUER and bool(
                self.staff_jwks_url or self.staff_jwt_public_keys
            )
            if oidc is None and not hand and self.staff_auth_required:
                raise ValueError(
                    "STAFF_OIDC_ISSUER and STAFF_OIDC_AUDIENCE must be set in production "
                    "(or STAFF_JWT_ISSUER with STAFF_JWKS_URL or STAFF_JWT_PUBLIC_KEYS)"
                )
            if oidc is not None and not oidc[0].startswith("https://"):
                raise ValueError("STAFF_OIDC_ISSUER must be an https URL in production")
        return self

    def staff_oidc(self) -> tuple[str, str] | None:
        """(issuer, audience) of the discovered provider, or None."""
        if self.staff_oidc_issuer == "":
            return None
        if self.staff_oidc_issuer:
            if not self.staff_oidc_audience:
                raise ValueError("STAFF_OIDC_AUDIENCE must be set with STAFF_OIDC_ISSUER")
            return self.staff_oidc_issuer, self.staff_oidc_audience
        if self.environment == "production":
            return None
        return LOCAL_OIDC_ISSUER, self.staff_oidc_audience or LOCAL_OIDC_AUDIENCE

    @property
    def staff_algorithms(self) -> list[str]:
        """Accepted algorithms of hand-configured staff keys."""
        return [a.strip() for a in self.staff_jwt_algorithms.split(",") if a.strip()]

    def staff_issuers(self, policy: StaffPolicy) -> list[TrustedIssuer]:
        """Every issuer whose staff tokens are accepted, with its keys and claim mapping."""
        issuers: list[TrustedIssuer] = []
        oidc = self.staff_oidc()
        if oidc is not None:
            issuers.append(
                oidc_issuer(
                    oidc[0],
                    oidc[1],
                    policy,
                    min_refresh_interval=self.staff_keys_refresh_seconds,
                )
            )
        pems = parse_pem_keys(self.staff_jwt_public_keys, "STAFF_JWT_PUBLIC_KEYS")
        if self.staff_jwt_issuer == LOCAL_STAFF_ISSUER:
            if self.environment != "production":
                if not pems:
                    from shared.runtime.devkeys import dev_keypair

                    pems = {LOCAL_STAFF_KID: dev_keypair("staff-jwt")[1]}
                issuers.append(
                    TrustedIssuer(
                        issuer=LOCAL_STAFF_ISSUER,
                        audience=self.staff_jwt_audience,
                        keys=StaticKeys(pems),
                        mapping=LOCAL_TOKEN_MAPPING,
                        algorithms=self.staff_algorithms,
                        label="local",
                    )
                )
        elif pems or self.staff_jwks_url:
            resolvers: list[KeyResolver] = []
            if pems:
                resolvers.append(StaticKeys(pems))
            if self.staff_jwks_url:
                resolvers.append(
                    JwksCache(
                        self.staff_jwks_url, min_refresh_interval=self.staff_keys_refresh_seconds
                    )
                )
            issuers.append(
                TrustedIssuer(
                    issuer=self.staff_jwt_issuer,
                    audience=self.staff_jwt_audience,
                    keys=FirstOf(*resolvers),
                    mapping=policy,
                    algorithms=self.staff_algorithms,
                    label="configured",
                )
            )
        return issuers
