"""GET /.well-known/jwks.json: identity's guardian-token keys as a JSON Web Key Set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
from fastapi import FastAPI
from identity.entrypoints.keys import build_keys_router
from identity_fakes import session_tokens


async def test_the_jwks_lists_every_key_active_first_and_verifies_issued_tokens() -> None:
    tokens = session_tokens()
    app = FastAPI()
    app.include_router(build_keys_router(tokens))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://identity"
    ) as client:
        response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert len(keys) >= 2 and keys[0]["kid"] == tokens.active_kid
    assert all(k["use"] == "sig" and k["alg"] == "ES256" and "d" not in k for k in keys)

    token, _ = tokens.issue(
        account_id="acc-1", email="g@example.net", name="G", locale="en", sid="s1",
        now=datetime.now(UTC), ttl=timedelta(minutes=5),
    )
    published = {k["kid"]: jwt.PyJWK(k) for k in keys}
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token, published[kid].key, algorithms=["ES256"], audience="guardian-portal",
        issuer="urn:guardian-portal:identity",
    )
    assert claims["sub"] == "acc-1"
