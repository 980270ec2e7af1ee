"""The console's OpenID Connect glue (Authlib's Starlette client) against an in-memory
provider: discovery, JWKS, authorization and token endpoints served by an httpx mock
transport. What the provider checks (PKCE) and what the console must check (state, nonce,
issuer, audience, signature, expiry, rotated keys) each have a test. Browser tests do the
same through the real Keycloak."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from web.staff.auth import AuthlibStaffProvider, SignInFailed

from shared.runtime.policy import StaffPolicy

ISSUER = "https://idp.example/realms/district"
CLIENT = "staff-console"
REDIRECT = "http://127.0.0.1:8080/staff/auth/callback"


class MemoryProvider:
    """An OpenID provider in memory: one key (rotatable), codes used once, PKCE S256."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.jwks_fetches = 0
        self.codes: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, Any] = {"sub": "u-1", "name": "Ana Alvarez", "schools": ["0123"]}
        self.id_token_changes: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None

    def rotate(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/certs",
                "end_session_endpoint": f"{ISSUER}/logout",
                "id_token_signing_alg_values_supported": ["RS256"],
            })  # fmt: skip
        if path.endswith("/certs"):
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path.endswith("/token"):
            form = parse_qs(request.content.decode())
            if form.get("grant_type") == ["refresh_token"]:
                return httpx.Response(200, json={"access_token": "refreshed", "expires_in": 300})
            grant = self.codes.pop(form.get("code", [""])[0], None)
            if grant is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            verifier = form.get("code_verifier", [""])[0]
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if challenge.rstrip(b"=").decode() != grant["code_challenge"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            id_claims = {"iss": ISSUER, "aud": CLIENT, "iat": now, "exp": now + 300,
                         "nonce": grant["nonce"], **self.claims, **self.id_token_changes}  # fmt: skip
            access = self.sign({"iss": ISSUER, "aud": CLIENT, "exp": now + 300,
                                "realm_access": {"roles": ["district-admin"]}, **self.claims})  # fmt: skip
            return httpx.Response(200, json={
                "access_token": access, "token_type": "Bearer", "expires_in": 300,
                "refresh_token": "r-1", "id_token": self.sign(id_claims, self.sign_with),
            })  # fmt: skip
        return httpx.Response(404)

    def authorize(self, url: str) -> dict[str, str]:
        """What the login page does: a code for the request, sent back with the state."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(8)
        self.codes[code] = query
        return {"code": code, "state": query["state"]}


def callback_request(params: dict[str, str]) -> Request:
    return Request({
        "type": "http", "method": "GET", "path": "/staff/auth/callback", "headers": [],
        "query_string": urlencode(params).encode(),
    })  # fmt: skip


@pytest.fixture
def idp() -> MemoryProvider:
    return MemoryProvider()


def console(idp: MemoryProvider) -> AuthlibStaffProvider:
    return AuthlibStaffProvider(
        issuer=ISSUER, client_id=CLIENT, client_secret="s3cret", scope="openid profile",
        policy=StaffPolicy(), transport=httpx.MockTransport(idp.handle),
    )  # fmt: skip


async def sign_in(
    provider: AuthlibStaffProvider, idp: MemoryProvider, store: dict[str, Any]
) -> dict[str, str]:
    url = await provider.authorize_redirect(callback_request({}), store, REDIRECT, "es")
    assert "ui_locales=es" in url and "nonce=" in url
    return idp.authorize(url)


async def test_sign_in_reads_the_schools_and_the_admin_role(idp: MemoryProvider) -> None:
    provider, store = console(idp), {}
    params = await sign_in(provider, idp, store)
    assert json.dumps(store).count("code_verifier") == 1  # kept server-side, by state
    user = await provider.complete(callback_request(params), store)
    assert user.staff_id == "u-1" and user.name == "Ana Alvarez"
    assert user.schools == ("0123",)
    assert user.district_admin  # realm_access is only in the access token
    assert user.refresh_token == "r-1" and store == {}


async def test_a_tampered_state_or_a_replayed_callback_is_refused(idp: MemoryProvider) -> None:
    provider, store = console(idp), {}
    params = await sign_in(provider, idp, store)
    with pytest.raises(SignInFailed, match="mismatching_state"):
        await provider.complete(callback_request({**params, "state": "forged"}), store)
    await provider.complete(callback_request(params), store)
    with pytest.raises(SignInFailed, match="mismatching_state"):
        await provider.complete(callback_request(params), store)


async def test_a_code_used_twice_is_refused_by_the_provider(idp: MemoryProvider) -> None:
    provider = console(idp)
    first, second = {}, {}  # type: ignore[var-annotated]
    params = await sign_in(provider, idp, first)
    await provider.complete(callback_request(params), first)
    # the same code again, under a state this browser really started
    url = await provider.authorize_redirect(callback_request({}), second, REDIRECT, "en")
    state = parse_qs(urlsplit(url).query)["state"][0]
    with pytest.raises(SignInFailed, match="invalid_grant"):
        await provider.complete(callback_request({"code": params["code"], "state": state}), second)


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": "other"},
        {"iss": "https://evil.example"},
        {"aud": "another-client"},
        {"exp": 1_000_000},
    ],
)
async def test_an_id_token_that_does_not_check_out_is_refused(
    idp: MemoryProvider, change: dict[str, Any]
) -> None:
    provider, store = console(idp), {}
    idp.id_token_changes = change
    params = await sign_in(provider, idp, store)
    with pytest.raises(SignInFailed):
        await provider.complete(callback_request(params), store)


async def test_an_id_token_signed_by_another_key_is_refused(idp: MemoryProvider) -> None:
    provider, store = console(idp), {}
    idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    params = await sign_in(provider, idp, store)
    with pytest.raises(SignInFailed):
        await provider.complete(callback_request(params), store)


async def test_rotated_keys_are_fetched_without_a_restart(idp: MemoryProvider) -> None:
    provider = console(idp)
    store: dict[str, Any] = {}
    await provider.complete(callback_request(await sign_in(provider, idp, store)), store)
    fetches = idp.jwks_fetches
    idp.rotate()
    user = await provider.complete(callback_request(await sign_in(provider, idp, store)), store)
    assert user.staff_id == "u-1"
    assert idp.jwks_fetches > fetches


async def test_refresh_keeps_who_and_where(idp: MemoryProvider) -> None:
    provider, store = console(idp), {}
    user = await provider.complete(callback_request(await sign_in(provider, idp, store)), store)
    user = await provider.refresh(user)
    assert user.access_token == "refreshed" and user.schools == ("0123",)


async def test_an_unreachable_provider_is_a_sign_in_failure() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    provider = AuthlibStaffProvider(
        issuer=ISSUER, client_id=CLIENT, client_secret=None, scope="openid",
        policy=StaffPolicy(), transport=httpx.MockTransport(down),
    )  # fmt: skip
    with pytest.raises(SignInFailed):
        await provider.authorize_redirect(callback_request({}), {}, REDIRECT, "en")


async def test_sign_out_ends_the_providers_session_too(idp: MemoryProvider) -> None:
    provider, store = console(idp), {}
    user = await provider.complete(callback_request(await sign_in(provider, idp, store)), store)
    url = await provider.logout_url(user, "http://127.0.0.1:8080/staff/sign-in")
    assert url is not None and url.startswith(f"{ISSUER}/logout?")
    query = parse_qs(urlsplit(url).query)
    assert query["id_token_hint"] == [user.id_token]
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:8080/staff/sign-in"]
