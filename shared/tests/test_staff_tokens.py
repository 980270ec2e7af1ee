"""Staff token verification against an OpenID provider's discovery document and JWKS.

The provider here is a small HTTP server in the test process (a fake of the district's
provider: unit tests); tests/integration/test_staff_oidc.py does the same against the
dev stack's Keycloak.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.runtime.jwks import JwksCache, KeySourceUnavailable, UnknownKey
from shared.runtime.policy import StaffPolicy
from shared.runtime.staff_tokens import (
    LOCAL_OIDC_AUDIENCE,
    LOCAL_OIDC_ISSUER,
    LOCAL_STAFF_ISSUER,
    StaffAuthSettings,
    StaffTokenRefused,
    StaffTokenVerifier,
    discovery_url,
    oidc_issuer,
)

AUDIENCE = "staff-console"


class FakeProvider:
    """Discovery document + JWKS over real HTTP; keys can be rotated; hits are counted."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.hits: list[str] = []
        self.issuer_override: str | None = None
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.hits.append(self.path)
                if provider.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path.endswith("/.well-known/openid-configuration"):
                    body: dict[str, Any] = {
                        "issuer": provider.issuer_override or provider.issuer,
                        "jwks_uri": f"{provider.issuer}/certs",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }
                elif self.path.endswith("/certs"):
                    body = {"keys": [provider.public_jwk(k) for k in provider.keys]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}/realms/district"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.rotate()

    def rotate(self, kind: str = "rsa") -> str:
        kid = f"k-{uuid.uuid4().hex[:8]}"
        if kind == "rsa":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}

    def token(self, kid: str | None = None, **over: Any) -> str:
        kid = kid or next(reversed(self.keys))
        key = self.keys[kid]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "staff-1",
            "iat": now,
            "exp": now + 300,
            "schools": ["0123"],
            **over,
        }
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    p = FakeProvider()
    yield p
    p.server.shutdown()


def verifier(provider: FakeProvider, **kwargs: Any) -> StaffTokenVerifier:
    trust = oidc_issuer(provider.issuer, AUDIENCE, StaffPolicy(), **kwargs)
    return StaffTokenVerifier([trust], leeway=0)


async def refused(v: StaffTokenVerifier, token: str) -> StaffTokenRefused:
    with pytest.raises(StaffTokenRefused) as caught:
        await v.verify(token)
    return caught.value


async def test_a_token_of_the_discovered_provider_is_accepted_and_mapped(
    provider: FakeProvider,
) -> None:
    v = verifier(provider)
    access, claims = await v.verify(provider.token(schools=["0123", "0456"]))
    assert access.staff_id == "staff-1" and access.schools == {"0123", "0456"}
    assert not access.district_admin and claims["aud"] == AUDIENCE
    admin, _ = await v.verify(
        provider.token(schools=[], realm_access={"roles": ["district-admin"]})
    )
    assert admin.district_admin
    # one discovery and one JWKS fetch for both tokens
    assert [h.rsplit("/", 1)[-1] for h in provider.hits] == ["openid-configuration", "certs"]


async def test_a_rotated_key_is_fetched_without_a_restart(provider: FakeProvider) -> None:
    v = verifier(provider, min_refresh_interval=0)
    await v.verify(provider.token())
    new_kid = provider.rotate(kind="ec")  # the provider publishes a second key and uses it
    access, _ = await v.verify(provider.token(kid=new_kid))
    assert access.staff_id == "staff-1"
    assert provider.hits.count("/realms/district/certs") == 2


async def test_invented_key_ids_in_parallel_cost_one_fetch(provider: FakeProvider) -> None:
    v = verifier(provider, min_refresh_interval=60)
    good = provider.token()
    await v.verify(good)
    rogue = FakeProvider()
    try:
        forged = [rogue.token(kid=None, iss=provider.issuer) for _ in range(1)]
        rogue_kid = next(iter(rogue.keys))
        tokens = [
            jwt.encode(
                jwt.decode(forged[0], options={"verify_signature": False}),
                rogue.keys[rogue_kid],
                algorithm="RS256",
                headers={"kid": f"invented-{i}"},
            )
            for i in range(20)
        ]
        results = await asyncio.gather(
            *(v.verify(t) for t in tokens), return_exceptions=True
        )
    finally:
        rogue.server.shutdown()
    assert all(isinstance(r, StaffTokenRefused) for r in results)
    assert {r.detail for r in results if isinstance(r, StaffTokenRefused)} == {
        "unknown signing key of the identity provider"
    }
    # first use + at most one refetch for all twenty unknown key ids
    assert provider.hits.count("/realms/district/certs") <= 2
    assert (await v.verify(good))[0].staff_id == "staff-1"


@pytest.mark.parametrize(
    ("over", "code", "status", "detail"),
    [
        ({"exp": 1_000_000_000}, "staff-token-expired", 401, "expired"),
        ({"aud": "another-app"}, "staff-token-invalid", 401, "not meant for"),
        ({"iss": "https://login.other-district.example"}, "staff-token-untrusted", 401, "issuer"),
        ({"schools": []}, "staff-without-school", 403, "'schools'"),
        ({"sub": None}, "staff-token-invalid", 401, "'sub'"),
        ({"nbf": 4_000_000_000}, "staff-token-invalid", 401, "not valid yet"),
    ],
)
async def test_refusals_say_why(
    provider: FakeProvider, over: dict[str, Any], code: str, status: int, detail: str
) -> None:
    claims = {k: v for k, v in over.items() if v is not None}
    token = provider.token(**claims)
    if over.get("sub", "") is None:
        body = jwt.decode(token, options={"verify_signature": False})
        del body["sub"]
        kid = next(iter(provider.keys))
        token = jwt.encode(body, provider.keys[kid], algorithm="RS256", headers={"kid": kid})
    exc = await refused(verifier(provider), token)
    assert (exc.code, exc.status) == (code, status)
    assert detail in exc.detail


async def test_unsigned_or_symmetric_tokens_are_refused(provider: FakeProvider) -> None:
    v = verifier(provider)
    kid = next(iter(provider.keys))
    body = jwt.decode(provider.token(), options={"verify_signature": False})
    unsigned = jwt.encode(body, None, algorithm="none", headers={"kid": kid})
    hmac = jwt.encode(body, "a-public-modulus-as-secret-32bytes!!", algorithm="HS256",
                      headers={"kid": kid})
    for token in (unsigned, hmac):
        assert (await refused(v, token)).code == "staff-token-invalid"
    assert (await refused(v, "not-a-jwt")).code == "staff-sign-in-required"


async def test_a_provider_whose_discovery_names_another_issuer_is_not_trusted(
    provider: FakeProvider,
) -> None:
    provider.issuer_override = "https://evil.example"
    exc = await refused(verifier(provider), provider.token())
    assert (exc.code, exc.status) == ("staff-idp-unavailable", 503)


async def test_cached_keys_keep_working_while_the_provider_is_down(
    provider: FakeProvider,
) -> None:
    now = [0.0]
    trust = oidc_issuer(provider.issuer, AUDIENCE, StaffPolicy(), min_refresh_interval=0)
    trust.provider.keys._clock = lambda: now[0]  # type: ignore[union-attr]
    v = StaffTokenVerifier([trust], leeway=0)
    token = provider.token()
    await v.verify(token)
    provider.down = True
    now[0] += 7200  # the cached set is old: a refetch is tried, fails, old keys stay
    assert (await v.verify(token))[0].staff_id == "staff-1"
    fresh = FakeProvider()
    try:
        cold = oidc_issuer(fresh.issuer, AUDIENCE, StaffPolicy())
        fresh.down = True
        exc = await refused(StaffTokenVerifier([cold], leeway=0), fresh.token())
        assert (exc.code, exc.status) == ("staff-idp-unavailable", 503)
    finally:
        fresh.server.shutdown()


async def test_the_jwks_cache_drops_removed_keys_after_max_age(provider: FakeProvider) -> None:
    now = [0.0]
    cache = JwksCache(f"{provider.issuer}/certs", max_age=100, min_refresh_interval=0,
                      clock=lambda: now[0])
    old = next(iter(provider.keys))
    await cache.get(old)
    provider.keys.pop(old)
    new = provider.rotate()
    now[0] += 101
    with pytest.raises(UnknownKey):
        await cache.get(old)
    assert (await cache.get(new)).key_id == new
    provider.down = True
    empty = JwksCache(f"{provider.issuer}/certs")
    with pytest.raises(KeySourceUnavailable):
        await empty.get(new)


def test_discovery_url_follows_the_spec() -> None:
    assert discovery_url("https://accounts.google.com") == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )
    assert discovery_url("https://login.microsoftonline.com/t/v2.0/") == (
        "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration"
    )


def _settings(**values: Any) -> StaffAuthSettings:
    return StaffAuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_settings_trust_the_local_keycloak_and_staff_token_outside_production() -> None:
    local = _settings()
    assert local.staff_oidc() == (LOCAL_OIDC_ISSUER, LOCAL_OIDC_AUDIENCE)
    labels = [(t.issuer, t.label) for t in local.staff_issuers(StaffPolicy())]
    assert labels == [(LOCAL_OIDC_ISSUER, "oidc"), (LOCAL_STAFF_ISSUER, "local")]
    off = _settings(staff_oidc_issuer="")
    assert [t.label for t in off.staff_issuers(StaffPolicy())] == ["local"]


def test_production_settings_need_an_https_provider_and_its_audience() -> None:
    prod = {"environment": "production", "mongodb_uri": "mongodb://db.example:27017/?x=1"}
    with pytest.raises(ValueError, match="STAFF_OIDC_ISSUER and STAFF_OIDC_AUDIENCE"):
        _settings(**prod)
    with pytest.raises(ValueError, match="STAFF_OIDC_AUDIENCE must be set"):
        _settings(**prod, staff_oidc_issuer="https://login.example.org/d")
    with pytest.raises(ValueError, match="https"):
        _settings(
            **prod, staff_oidc_issuer="http://idp.example.org/d", staff_oidc_audience="c"
        )
    ok = _settings(
        **prod, staff_oidc_issuer="https://login.example.org/d", staff_oidc_audience="c"
    )
    # production never trusts the local staff-token key
    assert [t.label for t in ok.staff_issuers(StaffPolicy())] == ["oidc"]


async def test_a_provider_that_is_down_is_asked_once_per_interval(provider: FakeProvider) -> None:
    provider.down = True
    v = verifier(provider, min_refresh_interval=60)
    token = provider.token()
    for _ in range(5):
        assert (await refused(v, token)).code == "staff-idp-unavailable"
    assert provider.hits.count("/realms/district/.well-known/openid-configuration") == 1
