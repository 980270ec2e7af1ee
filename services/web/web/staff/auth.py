"""Staff sign-in through the district's OpenID provider, with Authlib's Starlette client.

Authorization code + PKCE (S256), ``state`` and ``nonce`` generated and checked by Authlib;
the ID token is validated against the provider's discovery document and key set (issuer,
audience, expiry, nonce, signature). Authlib caches the key set and fetches it again when
a token names a key it has not seen, so the provider may rotate keys without a restart.

Authlib keeps a sign-in's state, nonce and PKCE verifier in ``request.session``; here that
is a dictionary of the server-side browser session (:mod:`web.sessions`), so the cookie
still holds only an opaque id. A state is removed when its callback arrives: a tampered
state, a replayed callback or a second use of a code finds nothing and is refused.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.requests import Request

from shared.runtime.logs import get_logger
from shared.runtime.policy import StaffPolicy

log = get_logger(__name__)

#: An access token this close to its expiry is refreshed before an API call.
REFRESH_MARGIN_SECONDS = 30.0


class SignInFailed(Exception):
    """The provider's answer cannot sign anyone in; ``reason`` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StaffUser:
    """A signed-in staff member: who, for which schools, and the tokens held for them."""

    staff_id: str
    name: str
    schools: tuple[str, ...]
    district_admin: bool
    access_token: str
    expires_at: float
    refresh_token: str | None = None
    id_token: str | None = None
    #: Why the claims gave no school (for the refusal page), when none and not an admin.
    missing: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """Whether the console lets this staff member in at all."""
        return bool(self.schools) or self.district_admin

    def can_act_for(self, school_id: str) -> bool:
        return self.district_admin or school_id in self.schools


class StaffProvider(Protocol):
    """The district's OpenID provider as the console uses it (a fake in unit tests)."""

    async def authorize_redirect(
        self, request: Request, state_store: MutableMapping[str, Any], redirect_uri: str,
        locale: str,
    ) -> str: ...  # fmt: skip

    async def complete(
        self, request: Request, state_store: MutableMapping[str, Any]
    ) -> StaffUser: ...

    async def refresh(self, user: StaffUser) -> StaffUser: ...

    async def logout_url(self, user: StaffUser, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's own session too (RP-initiated
        logout), or None when the provider has no end-session endpoint."""


def _name(claims: dict[str, Any]) -> str:
    for key in ("name", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def _expiry(token: dict[str, Any]) -> float:
    """When the access token expires (epoch seconds)."""
    expires_at = token.get("expires_at")
    if isinstance(expires_at, int | float):
        return float(expires_at)
    expires_in = token.get("expires_in")
    return time.time() + (float(expires_in) if isinstance(expires_in, int | float) else 300.0)


class AuthlibStaffProvider:
    """:class:`StaffProvider` on Authlib's Starlette OAuth client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scope: str,
        policy: StaffPolicy,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network in unit tests (an in-memory provider)."""
        self._policy = policy
        extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
        oauth = OAuth()
        self._app: Any = oauth.register(
            "district",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": scope,
                "code_challenge_method": "S256",
                "timeout": timeout,
                # a confidential client authenticates itself; a public one does not
                "token_endpoint_auth_method": ("client_secret_basic" if client_secret else "none"),
                **extra,
            },
        )

    async def authorize_redirect(
        self, request: Request, state_store: MutableMapping[str, Any], redirect_uri: str,
        locale: str,
    ) -> str:  # fmt: skip
        request.scope["session"] = state_store
        try:
            response = await self._app.authorize_redirect(request, redirect_uri, ui_locales=locale)
        except Exception as exc:  # unreachable provider, broken discovery document
            raise SignInFailed(f"authorization request: {type(exc).__name__}") from None
        return str(response.headers["location"])

    async def complete(self, request: Request, state_store: MutableMapping[str, Any]) -> StaffUser:
        request.scope["session"] = state_store
        try:
            token = await self._app.authorize_access_token(request)
        except OAuthError as exc:  # mismatching state, refused code (invalid_grant)
            raise SignInFailed(f"callback: {exc.error}") from None
        except Exception as exc:
            # a bad signature, issuer, audience, nonce or expiry (joserfc's errors), an
            # unreachable provider (httpx's)
            raise SignInFailed(f"callback: {type(exc).__name__}") from None
        id_claims = token.get("userinfo")
        if not id_claims:
            raise SignInFailed("no validated ID token in the answer")
        return await self._user(token, dict(id_claims))

    async def refresh(self, user: StaffUser) -> StaffUser:
        if not user.refresh_token:
            raise SignInFailed("no refresh token")
        try:
            token = await self._app.fetch_access_token(
                grant_type="refresh_token", refresh_token=user.refresh_token
            )
        except Exception as exc:
            raise SignInFailed(f"refresh: {type(exc).__name__}") from None
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise SignInFailed("refresh: no access token in the answer")
        # who the staff member is and their schools stay as read at sign-in
        user.access_token = access_token
        user.expires_at = _expiry(token)
        user.refresh_token = token.get("refresh_token") or user.refresh_token
        return user

    async def logout_url(self, user: StaffUser, post_logout_redirect_uri: str) -> str | None:
        try:
            found = await self._app.create_logout_url(
                post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=user.id_token
            )
        except Exception as exc:  # no end_session_endpoint, provider unreachable
            log.info("staff.logout_url_unavailable", error=type(exc).__name__)
            return None
        return str(found["url"])

    async def _access_claims(self, access_token: str) -> dict[str, Any]:
        """The access token's claims when it is a JWT signed by the provider's keys
        (Keycloak's and Entra ID's are; Google's are not). Some providers put roles only
        there (Keycloak's ``realm_access``)."""
        if access_token.count(".") != 2:
            return {}
        try:
            keys = KeySet.import_key_set(await self._app.fetch_jwk_set())
            return dict(jwt.decode(access_token, keys).claims)
        except Exception:
            return {}

    async def _user(self, token: dict[str, Any], id_claims: dict[str, Any]) -> StaffUser:
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise SignInFailed("no access token in the answer")
        claims = {**await self._access_claims(access_token), **id_claims}
        access = self._policy.access(claims)
        if access is None:
            raise SignInFailed("no staff id claim")
        return StaffUser(
            staff_id=access.staff_id,
            name=_name(claims) or access.staff_id,
            schools=tuple(sorted(access.schools)),
            district_admin=access.district_admin,
            access_token=access_token,
            expires_at=_expiry(token),
            refresh_token=token.get("refresh_token"),
            id_token=token.get("id_token"),
            missing=access.missing,
        )
