"""``GET /.well-known/jwks.json``: the public halves of identity's guardian-token signing
keys (RFC 7517), so that linking (or any API that accepts guardian tokens) fetches them
instead of having them configured by hand.

Every configured key is listed, not only the active one: during a rotation the new key is
published before it signs and the old one stays until the tokens it signed have expired
(docs/operations/runbook.md, "Guardian token keys").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from identity.adapters.jwt_sessions import SessionTokens

#: Caches may keep the set for five minutes; a verifier that meets an unknown kid asks again.
CACHE_CONTROL = "public, max-age=300"


def build_keys_router(tokens: SessionTokens) -> APIRouter:
    """The JWKS route over ``tokens``' public keys."""
    router = APIRouter()
    document = tokens.public_jwks()

    @router.get(
        "/.well-known/jwks.json",
        tags=["keys"],
        summary="Public keys of the guardian access tokens (JWKS)",
        response_model=None,
    )
    async def jwks() -> JSONResponse:
        body: dict[str, Any] = document
        return JSONResponse(
            body,
            headers={"Cache-Control": CACHE_CONTROL},
            media_type="application/jwk-set+json",
        )

    return router
