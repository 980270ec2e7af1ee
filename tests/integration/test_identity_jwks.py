"""Identity publishes its guardian-token keys as a JWKS; linking fetches them (issue 21,
item 3). Identity runs with two keys, as in the middle of a rotation: both are published,
and linking accepts tokens of either without any key configured on its side.

(Every other integration test that runs identity and linking together goes through the
same path: the harness points linking's ``IDENTITY_JWKS_URL`` at identity.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.harness import Portal, new_portal, start_portal, stop_portal


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


KEYS = {f"2026-{n}-{uuid.uuid4().hex[:4]}": ec.generate_private_key(ec.SECP256R1()) for n in "ab"}
OLD_KID, NEW_KID = list(KEYS)


@pytest.fixture(scope="module")
def rotating(stack: None) -> Iterator[Portal]:
    portal = new_portal([], port_offset=700)
    portal.add(
        "identity",
        {
            "IDENTITY_JWT_PRIVATE_KEYS": json.dumps({k: _pem(v) for k, v in KEYS.items()}),
            "IDENTITY_JWT_ACTIVE_KID": OLD_KID,
        },
    )
    portal.add("linking")  # IDENTITY_JWKS_URL only: no key configured
    assert "IDENTITY_JWT_PUBLIC_KEYS" not in portal.services["linking"].env
    start_portal(portal)
    try:
        yield portal
    finally:
        stop_portal(portal)


def guardian_token(kid: str, key: ec.EllipticCurvePrivateKey) -> str:
    """A token in identity's format, signed with one of identity's keys."""
    now = int(time.time())
    claims = {
        "iss": "urn:guardian-portal:identity",
        "aud": "guardian-portal",
        "sub": f"acc-{uuid.uuid4().hex[:10]}",
        "email": "rotating@example.net",
        "name": "Rita Rotation",
        "locale": "en",
        "sid": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def test_identity_publishes_both_keys_of_a_rotation(rotating: Portal) -> None:
    response = httpx.get(f"{rotating.url('identity')}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [OLD_KID, NEW_KID]  # the active key first
    for published in keys:
        assert published["kty"] == "EC" and published["alg"] == "ES256"
        assert "d" not in published  # public halves only
        public = jwt.PyJWK(published).key
        expected = KEYS[published["kid"]].public_key()
        assert public.public_numbers() == expected.public_numbers()


def test_linking_accepts_tokens_of_either_published_key(rotating: Portal) -> None:
    for kid in (OLD_KID, NEW_KID):
        response = httpx.get(
            f"{rotating.url('linking')}/v1/links",
            headers={"Authorization": f"Bearer {guardian_token(kid, KEYS[kid])}"},
            timeout=10,
        )
        assert response.status_code == 200, (kid, response.text)
        assert response.json()["items"] == []


def test_linking_refuses_a_key_identity_does_not_publish(rotating: Portal) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    for kid in ("not-published", OLD_KID):  # unknown kid; known kid, other key
        response = httpx.get(
            f"{rotating.url('linking')}/v1/links",
            headers={"Authorization": f"Bearer {guardian_token(kid, stranger)}"},
            timeout=10,
        )
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
