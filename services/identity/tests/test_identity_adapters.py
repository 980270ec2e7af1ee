"""Adapters without the network: captcha siteverify (mock transport), JWT keys and
rotation, argon2id in the thread pool."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from identity.adapters.captcha import (
    SITEVERIFY_URLS,
    CaptchaUnavailable,
    NoCaptcha,
    SiteverifyCaptcha,
    build_captcha,
)
from identity.adapters.hashing import Argon2Hasher, Argon2Parameters
from identity.adapters.jwt_sessions import InvalidSession, SessionTokens
from identity_fakes import session_tokens


def captcha(handler, provider: str = "turnstile") -> tuple[SiteverifyCaptcha, list]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return SiteverifyCaptcha(provider, "s3cret", client=client), seen


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
async def test_siteverify_posts_secret_response_and_ip(provider: str) -> None:
    verifier, seen = captcha(lambda r: httpx.Response(200, json={"success": True}), provider)
    assert await verifier.verify("tok", "1.2.3.4") is True
    request = seen[0]
    assert str(request.url) == SITEVERIFY_URLS[provider]
    form = dict(x.split("=") for x in request.content.decode().split("&"))
    assert form == {"secret": "s3cret", "response": "tok", "remoteip": "1.2.3.4"}


async def test_siteverify_rejections_and_outages() -> None:
    verifier, _ = captcha(lambda r: httpx.Response(200, json={"success": False,
                                                              "error-codes": ["bad"]}))
    assert await verifier.verify("tok", None) is False
    assert await verifier.verify(None, None) is False  # no token: no call needed
    verifier, _ = captcha(lambda r: httpx.Response(503))
    with pytest.raises(CaptchaUnavailable):
        await verifier.verify("tok", None)
    verifier, _ = captcha(lambda r: httpx.Response(200, content=b"<html>"))
    with pytest.raises(CaptchaUnavailable):
        await verifier.verify("tok", None)

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    verifier, _ = captcha(boom)
    with pytest.raises(CaptchaUnavailable):
        await verifier.verify("tok", None)


async def test_captcha_configuration() -> None:
    assert isinstance(build_captcha("none", None), NoCaptcha)
    assert await NoCaptcha().verify(None, None)
    with pytest.raises(ValueError, match="CAPTCHA_SECRET"):
        build_captcha("hcaptcha", None)
    with pytest.raises(ValueError, match="unknown"):
        SiteverifyCaptcha("friendly", "x")


def test_tokens_carry_the_contract_claims_and_rotate_by_kid() -> None:
    tokens = session_tokens()
    now = datetime.now(UTC)
    token, expires = tokens.issue(account_id="a1", email="e@x.net", name="J D", locale="es",
                                  sid="0.abc", now=now, ttl=timedelta(minutes=15))
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    public = tokens.public_keys_pem()["k1"]
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="guardian-portal")
    assert claims["iss"] == "urn:guardian-portal:identity"
    assert {k: claims[k] for k in ("sub", "email", "name", "locale", "sid")} == {
        "sub": "a1", "email": "e@x.net", "name": "J D", "locale": "es", "sid": "0.abc"}
    assert claims["exp"] - claims["iat"] == 900 and expires > now
    # Rotation: sign with k2, tokens from k1 still verify while k1 is configured.
    tokens.active_kid = "k2"
    newer, _ = tokens.issue(account_id="a1", email="e", name="n", locale="en", sid="0.x",
                            now=now, ttl=timedelta(minutes=15))
    assert jwt.get_unverified_header(newer)["kid"] == "k2"
    assert tokens.verify(token).account_id == tokens.verify(newer).account_id == "a1"


def test_invalid_tokens_are_refused() -> None:
    tokens = session_tokens()
    old = datetime.now(UTC) - timedelta(hours=1)
    expired, _ = tokens.issue(account_id="a", email="e", name="n", locale="en", sid="0.x",
                              now=old, ttl=timedelta(minutes=15))
    for bad in (expired, "garbage", "eyJhbGciOiJub25lIn0.e30.", expired[:-4] + "AAAA"):
        with pytest.raises(InvalidSession):
            tokens.verify(bad)
    with pytest.raises(InvalidSession):
        session_tokens().verify(tokens.issue(
            account_id="a", email="e", name="n", locale="en", sid="0.x",
            now=datetime.now(UTC), ttl=timedelta(minutes=5))[0])  # other keys, same kids


def test_key_configuration() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pems = {"k9": key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()}
    tokens = SessionTokens.from_settings(json.dumps(pems), None, production=True)
    assert tokens.active_kid == "k9"
    with pytest.raises(ValueError, match="must be set in production"):
        SessionTokens.from_settings(None, None, production=True)
    with pytest.raises(ValueError, match="JSON"):
        SessionTokens.from_settings("{nope", None, production=False)
    with pytest.raises(ValueError, match="no private key"):
        SessionTokens(pems, "k1")
    assert SessionTokens.from_settings(None, None, production=False).active_kid == "local-1"


async def test_argon2id_hash_verify_and_rehash() -> None:
    fast = Argon2Hasher(Argon2Parameters(memory_kib=1024, time_cost=1), workers=1)
    encoded = await fast.hash("Secr3t!pw")
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await fast.verify(encoded, "Secr3t!pw") and not await fast.verify(encoded, "nope")
    assert not await fast.verify(None, "Secr3t!pw")  # dummy hash: same cost, never true
    assert not await fast.verify("not-a-hash", "x")
    assert not fast.needs_rehash(encoded)
    owasp = Argon2Hasher(workers=1)
    assert owasp.needs_rehash(encoded)
    assert (await owasp.hash("x")).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    fast.close()
    owasp.close()
