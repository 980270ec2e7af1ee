"""The HTTP layer on fakes: token checks, request validation and problem answers."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from linking import messages
from linking.adapters.tokens import GuardianTokenVerifier, StaffTokenRefused, StaffTokenVerifier
from linking.devtools import BundleStudent, oneroster_bundle
from linking.entrypoints.http import build_router, install_linking_problems
from linking.settings import AUDIENCE, IDENTITY_ISSUER, LOCAL_STAFF_ISSUER, Settings
from linking_fakes import World, make_world

from shared.deadlines import local_date
from shared.runtime.devkeys import dev_keypair
from shared.runtime.policy import DistrictPolicy
from shared.runtime.problems import SUPPORTED_LOCALES, install_problem_handlers
from shared.runtime.staff_tokens import LOCAL_TOKEN_MAPPING, StaticKeys, TrustedIssuer


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    d: Path = tmp_path_factory.mktemp("keys")
    return {n: dev_keypair(n, d) for n in ("identity", "staff", "rogue")}


def _token(private: str, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, private, algorithm="ES256", headers={"kid": kid})


def guardian_token(keys: dict[str, tuple[str, str]], account: str = "acct-1", **over: Any) -> str:
    claims = {
        "iss": IDENTITY_ISSUER,
        "sub": account,
        "email": "g@example.net",
        "name": "Gina Guard",
        "locale": "vi",
        **over,
    }
    return _token(keys["identity"][0], over.pop("kid", "local-1"), **claims)


def staff_token(
    keys: dict[str, tuple[str, str]],
    schools: list[str],
    role: str = "school_staff",
    key: str = "staff",
) -> str:
    return _token(
        keys[key][0],
        "local-staff-1",
        iss=LOCAL_STAFF_ISSUER,
        sub="staff-7",
        role=role,
        schools=schools,
    )


def local_staff_verifier(public_pem: str) -> StaffTokenVerifier:
    """Trusts the local issuer's key, as ``portal staff-token`` signs with it."""
    local = TrustedIssuer(
        issuer=LOCAL_STAFF_ISSUER,
        audience=AUDIENCE,
        keys=StaticKeys({"local-staff-1": public_pem}),
        mapping=LOCAL_TOKEN_MAPPING,
        algorithms=["ES256"],
    )
    return StaffTokenVerifier([local], leeway=0)


@pytest.fixture
def world() -> World:
    w = make_world()
    w.roster.add("0123", "90966666", "Stu", "Pena")
    return w


@pytest.fixture
def client(world: World, keys: dict[str, tuple[str, str]]) -> httpx.AsyncClient:
    messages.register()
    settings = Settings(_env_file=None, roster_max_upload_bytes=4096)  # type: ignore[call-arg]
    gv = GuardianTokenVerifier(
        {"local-1": keys["identity"][1]}, issuer=IDENTITY_ISSUER, audience=AUDIENCE, leeway=0
    )
    sv = local_staff_verifier(keys["staff"][1])
    app = FastAPI()
    install_problem_handlers(app)
    install_linking_problems(app)
    app.include_router(build_router(world.deps, settings, gv, sv))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


async def test_claim_then_list(client: httpx.AsyncClient, keys: Any) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}"}
    r = await client.post(
        "/v1/links",
        headers=h,
        json={"school_id": "0123", "student_id": "90966666", "student_last_name": "PENA"},
    )
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "pending_authorization" and body["expires_at"]
    assert body["student_first_name"] is None  # no student data before approval
    r = await client.get("/v1/links", headers=h)
    assert [i["link_id"] for i in r.json()["items"]] == [body["link_id"]]


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer", "Bearer not.a.jwt", "Basic abc"],
)
async def test_missing_or_malformed_guardian_token_is_401(
    client: httpx.AsyncClient, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    body = _is_problem(await client.get("/v1/links", headers=headers), 401)
    assert body["type"].endswith("sign-in-required")


async def test_expired_wrong_audience_or_foreign_key_tokens_are_401(
    client: httpx.AsyncClient, keys: Any
) -> None:
    now = int(time.time())
    bad = [
        guardian_token(keys, exp=now - 3600, iat=now - 7200),
        guardian_token(keys, aud="someone-else"),
        guardian_token(keys, iss="urn:evil"),
        _token(keys["rogue"][0], "local-1", iss=IDENTITY_ISSUER, sub="a"),
        staff_token(keys, ["0123"]),  # a staff token is not a guardian token
    ]
    for token in bad:
        r = await client.get("/v1/links", headers={"Authorization": f"Bearer {token}"})
        _is_problem(r, 401)


async def test_tokens_issued_before_sessions_ended_are_401(
    client: httpx.AsyncClient, keys: Any, world: World
) -> None:
    now = int(time.time())
    old = guardian_token(keys, iat=now - 120)
    fresh = guardian_token(keys, iat=now)  # e.g. returned by the password change itself
    await world.guardians.end_sessions("acct-1", datetime.fromtimestamp(now, UTC))
    body = _is_problem(
        await client.get("/v1/links", headers={"Authorization": f"Bearer {old}"}), 401
    )
    assert body["type"].endswith("sign-in-required")
    r = await client.get("/v1/links", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 200
    await world.guardians.erase("acct-1", datetime.now(UTC))
    _is_problem(await client.get("/v1/links", headers={"Authorization": f"Bearer {fresh}"}), 401)


async def test_guardian_errors_are_translated(client: httpx.AsyncClient, keys: Any) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}"}
    seen = set()
    for locale in SUPPORTED_LOCALES:
        r = await client.post(
            "/v1/links",
            headers={**h, "Accept-Language": locale},
            json={"school_id": "0123", "student_id": "90966666", "student_last_name": "Wrong"},
        )
        body = _is_problem(r, 422)
        assert body["type"].endswith("student-not-matched")
        seen.add(body["title"])
    assert len(seen) == len(SUPPORTED_LOCALES)
    # no Accept-Language: the token's locale (vi)
    r = await client.post(
        "/v1/links",
        headers=h,
        json={"school_id": "0123", "student_id": "nobody", "student_last_name": "Wrong"},
    )
    assert _is_problem(r, 422)["title"] == messages.GUARDIAN_MESSAGES["student-not-matched"]["vi"]


def test_every_guardian_message_exists_in_every_locale() -> None:
    for code, texts in messages.GUARDIAN_MESSAGES.items():
        assert set(texts) == set(SUPPORTED_LOCALES), code
        assert all(t.strip() for t in texts.values())


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"school_id": "0123", "student_id": "1"},
        {"school_id": "", "student_id": "1", "student_last_name": "x"},
        {"school_id": "0123", "student_id": "1", "student_last_name": "x", "extra": 1},
        {"school_id": "0123", "student_id": "1", "student_last_name": "x" * 500},
        {"school_id": 123, "student_id": ["1"], "student_last_name": None},
        {
            "school_id": "0123",
            "student_id": "1",
            "student_last_name": "x",
            "legacy_username": "only-user",
        },
        {
            "school_id": "0123",
            "student_id": "1",
            "student_last_name": "x",
            "activation_code": "ABCD",
            "legacy_username": "u",
            "legacy_password": "p",
        },
        {
            "school_id": "0123",
            "student_id": "1",
            "student_last_name": "x",
            "student_birth_date": "31/12/2015",
        },
        [],
        "just a string",
    ],
)
async def test_bad_link_bodies_are_422_problems(
    client: httpx.AsyncClient, keys: Any, body: Any
) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}"}
    problem = _is_problem(await client.post("/v1/links", headers=h, json=body), 422)
    assert problem["errors"]


async def test_incomplete_legacy_credentials_has_its_own_code(
    client: httpx.AsyncClient, keys: Any
) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}", "Accept-Language": "es"}
    r = await client.post(
        "/v1/links",
        headers=h,
        json={
            "school_id": "0123",
            "student_id": "1",
            "student_last_name": "x",
            "legacy_password": "p",
        },
    )
    err = _is_problem(r, 422)["errors"][0]
    assert err["code"] == "legacy-credentials-incomplete"
    assert err["message"] == messages.GUARDIAN_MESSAGES["legacy-credentials-incomplete"]["es"]


async def test_malformed_json_is_a_problem(client: httpx.AsyncClient, keys: Any) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}", "Content-Type": "application/json"}
    _is_problem(await client.post("/v1/links", headers=h, content=b"{not json"), 422)


async def test_too_many_attempts_is_429_with_retry_after(
    client: httpx.AsyncClient, keys: Any, world: World
) -> None:
    h = {"Authorization": f"Bearer {guardian_token(keys)}"}
    wrong = {"school_id": "0123", "student_id": "90966666", "student_last_name": "no"}
    for _ in range(world.deps.policy.links.max_failed_matches_per_day):
        _is_problem(await client.post("/v1/links", headers=h, json=wrong), 422)
    r = await client.post("/v1/links", headers=h, json={**wrong, "student_last_name": "Pena"})
    _is_problem(r, 429)
    assert int(r.headers["Retry-After"]) > 0


async def test_staff_routes(client: httpx.AsyncClient, keys: Any, world: World) -> None:
    g = {"Authorization": f"Bearer {guardian_token(keys)}"}
    link = (
        await client.post(
            "/v1/links",
            headers=g,
            json={"school_id": "0123", "student_id": "90966666", "student_last_name": "Pena"},
        )
    ).json()
    s = {"Authorization": f"Bearer {staff_token(keys, ['0123'])}"}
    other = {"Authorization": f"Bearer {staff_token(keys, ['0456'])}"}
    q = (await client.get("/v1/schools/0123/link-requests?status=pending", headers=s)).json()
    assert q["items"][0]["link_id"] == link["link_id"] and q["items"][0]["days_left"] == 21
    assert q["items"][0]["guardian"]["email"] == "g@example.net"
    # the date the guardian's email names, in the district's zone; the same for the guardian
    tz = DistrictPolicy().tz
    requested = datetime.fromisoformat(link["requested_at"])
    assert q["items"][0]["last_day"] == link["last_day"]
    assert date.fromisoformat(link["last_day"]) == local_date(requested, tz) + timedelta(days=21)
    _is_problem(await client.get("/v1/schools/0123/link-requests", headers=other), 403)
    _is_problem(await client.get("/v1/schools/0123/link-requests", headers=g), 401)
    _is_problem(await client.get("/v1/schools/0123/link-requests?status=bogus", headers=s), 422)
    _is_problem(await client.get("/v1/schools/0123/link-requests?limit=0", headers=s), 422)
    _is_problem(await client.get("/v1/schools/0123/link-requests?cursor=zz", headers=s), 422)
    url = f"/v1/link-requests/{link['link_id']}/approve"
    _is_problem(await client.post(url, headers=other, json={"id_document_type": "passport"}), 403)
    _is_problem(await client.post(url, headers=s, json={}), 422)
    r = await client.post(url, headers=s, json={"id_document_type": "passport"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert r.json()["audit"][-1]["by"] == "staff-7"
    _is_problem(await client.post(url, headers=s, json={"id_document_type": "passport"}), 409)
    _is_problem(
        await client.post("/v1/link-requests/nope/deny", headers=s, json={"reason": "x"}), 404
    )
    r = await client.post(
        f"/v1/links/{link['link_id']}/revoke", headers=s, json={"reason": "custody"}
    )
    assert r.json()["status"] == "revoked"
    revoked = (await client.get("/v1/schools/0123/link-requests?status=revoked", headers=s)).json()
    assert revoked["items"][0]["student_restricted"] is True
    assert revoked["items"][0]["restricted_since"]
    lift = "/v1/schools/0123/students/90966666/restriction"
    _is_problem(await client.delete(lift, headers=other), 403)
    assert (await client.delete(lift, headers=s)).status_code == 204
    _is_problem(await client.delete(lift, headers=s), 404)
    revoked = (await client.get("/v1/schools/0123/link-requests?status=revoked", headers=s)).json()
    assert revoked["items"][0]["student_restricted"] is False


async def test_forged_staff_token_is_401(client: httpx.AsyncClient, keys: Any) -> None:
    rogue = {"Authorization": f"Bearer {staff_token(keys, ['0123'], key='rogue')}"}
    _is_problem(await client.get("/v1/schools/0123/link-requests", headers=rogue), 401)


async def test_activation_code_routes(client: httpx.AsyncClient, keys: Any) -> None:
    s = {"Authorization": f"Bearer {staff_token(keys, ['0123'])}"}
    path = "/v1/schools/0123/students/90966666/activation-codes"
    r = await client.post(path, headers=s)
    assert r.status_code == 201 and len(r.json()["code"]) == 19
    code_id = r.json()["code_id"]
    listed = (await client.get(path, headers=s)).json()["items"]
    assert listed[0]["status"] == "active" and "code" not in listed[0]
    _is_problem(await client.post(path, headers=s, json={"expires_in_days": 0}), 422)
    _is_problem(
        await client.post("/v1/schools/0123/students/nobody/activation-codes", headers=s), 404
    )
    r = await client.delete(f"{path}/{code_id}", headers=s)
    assert r.json()["status"] == "revoked"
    _is_problem(await client.delete(f"{path}/nope", headers=s), 404)


async def test_roster_import_route(client: httpx.AsyncClient, keys: Any) -> None:
    admin = {"Authorization": f"Bearer {staff_token(keys, [], role='district_admin')}"}
    staff = {"Authorization": f"Bearer {staff_token(keys, ['0777'])}"}
    data = oneroster_bundle([BundleStudent("1", "Doe", "Jo", "0777")])
    files = {"file": ("roster.zip", data, "application/zip")}
    _is_problem(await client.post("/v1/roster/imports", headers=staff, files=files), 403)
    r = await client.post("/v1/roster/imports", headers=admin, files=files)
    assert r.status_code == 200 and r.json()["created"] == 1
    body = _is_problem(
        await client.post(
            "/v1/roster/imports",
            headers=admin,
            files={"file": ("x.zip", b"nope", "application/zip")},
        ),
        422,
    )
    assert "not a zip" in body["detail"]
    _is_problem(
        await client.post(
            "/v1/roster/imports",
            headers=admin,
            files={"file": ("x.zip", b"0" * 5000, "application/zip")},
        ),
        413,
    )
    _is_problem(await client.post("/v1/roster/imports", headers=admin, json={"a": 1}), 422)


def test_verifier_rejects_tokens_without_school_or_admin_role(keys: Any) -> None:
    sv = local_staff_verifier(keys["staff"][1])
    import asyncio

    token = _token(
        keys["staff"][0],
        "local-staff-1",
        iss=LOCAL_STAFF_ISSUER,
        sub="x",
        role="student",
        schools=[],
    )
    with pytest.raises(StaffTokenRefused) as refused:
        asyncio.run(sv.verify(token))
    assert (refused.value.code, refused.value.status) == ("staff-without-school", 403)
    token = _token(
        keys["staff"][0],
        "local-staff-1",
        iss=LOCAL_STAFF_ISSUER,
        sub="x",
        role="school_staff",
        schools="0123",
    )
    assert asyncio.run(sv.verify(token)).schools == frozenset({"0123"})


def test_production_requires_configured_keys() -> None:
    with pytest.raises(ValueError, match="IDENTITY_JWT_PUBLIC_KEYS"):
        Settings(
            _env_file=None,
            environment="production",  # type: ignore[call-arg]
            mongodb_uri="mongodb://db.example:27017/?x=1",
            staff_oidc_issuer="https://login.example.org/district",
            staff_oidc_audience="staff-console",
        )
    with pytest.raises(ValueError, match="JSON"):
        Settings(_env_file=None, identity_jwt_public_keys="not json")  # type: ignore[call-arg]


async def test_staff_keys_from_the_idps_jwks(keys: Any) -> None:
    """Production path: keys fetched from STAFF_JWKS_URL (a local HTTP server here)."""
    import json as _json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(keys["rogue"][0].encode(), password=None)
    jwk = _json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
    jwks = _json.dumps({"keys": [{**jwk, "kid": "idp-2026", "use": "sig", "alg": "ES256"}]})
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = jwks.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            staff_oidc_issuer="",
            staff_jwt_issuer="https://idp.example.org/",
            staff_jwks_url=f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json",
            staff_keys_refresh_seconds=0,
        )
        verifier = StaffTokenVerifier.from_settings(settings, LOCAL_TOKEN_MAPPING, 0)
        now = int(time.time())
        claims = {
            "iss": "https://idp.example.org/",
            "aud": AUDIENCE,
            "sub": "s-9",
            "role": "district_admin",
            "schools": [],
            "iat": now,
            "exp": now + 60,
        }
        token = jwt.encode(claims, keys["rogue"][0], algorithm="ES256", headers={"kid": "idp-2026"})
        staff = await verifier.verify(token)
        assert staff.staff_id == "s-9" and staff.is_district_admin
        assert hits == ["/.well-known/jwks.json"]
        await verifier.verify(token)
        assert len(hits) == 1  # cached
        unknown = jwt.encode(claims, keys["staff"][0], algorithm="ES256", headers={"kid": "other"})
        with pytest.raises(StaffTokenRefused, match="unknown signing key"):
            await verifier.verify(unknown)
        assert len(hits) == 2  # an unknown kid refetched the set once
        forged = jwt.encode(
            claims, keys["staff"][0], algorithm="ES256", headers={"kid": "idp-2026"}
        )
        with pytest.raises(StaffTokenRefused, match="bad signature"):
            await verifier.verify(forged)
    finally:
        server.shutdown()


async def test_guardian_keys_from_identitys_jwks_and_503_while_it_cannot_be_fetched(
    keys: Any, world: World
) -> None:
    """IDENTITY_JWKS_URL: identity's published keys (a local HTTP server here)."""
    import json as _json
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(keys["identity"][0].encode(), password=None)
    jwk = _json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
    body = _json.dumps({"keys": [{**jwk, "kid": "local-1", "use": "sig", "alg": "ES256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    try:
        for url, status in (
            (f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", 200),
            (f"http://127.0.0.1:{dead_port}/.well-known/jwks.json", 503),
        ):
            gv = GuardianTokenVerifier(
                {}, issuer=IDENTITY_ISSUER, audience=AUDIENCE, leeway=0, jwks_url=url
            )
            app = FastAPI()
            install_problem_handlers(app)
            install_linking_problems(app)
            app.include_router(
                build_router(
                    world.deps,
                    Settings(_env_file=None),  # type: ignore[call-arg]
                    gv,
                    local_staff_verifier(keys["staff"][1]),
                )
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                r = await client.get(
                    "/v1/links", headers={"Authorization": f"Bearer {guardian_token(keys)}"}
                )
            assert r.status_code == status, r.text
            if status == 503:
                assert _is_problem(r, 503)["type"].endswith("/keys-unavailable")
                assert r.headers["retry-after"] == "10"
            rogue = _token(keys["identity"][0], "other", iss=IDENTITY_ISSUER, sub="acct-1")
            if status == 200:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://t"
                ) as client:
                    r = await client.get("/v1/links", headers={"Authorization": f"Bearer {rogue}"})
                _is_problem(r, 401)
    finally:
        server.shutdown()


async def test_the_help_desk_finds_a_guardian_of_the_schools_students_only(
    client: httpx.AsyncClient, keys: Any
) -> None:
    claim = await client.post(
        "/v1/links",
        headers={"Authorization": f"Bearer {guardian_token(keys)}"},
        json={"school_id": "0123", "student_id": "90966666", "student_last_name": "PENA"},
    )
    assert claim.status_code == 202, claim.text
    mine = {"Authorization": f"Bearer {staff_token(keys, ['0123'])}"}
    other = {"Authorization": f"Bearer {staff_token(keys, ['0456'])}"}
    found = await client.get(
        "/v1/schools/0123/guardians", params={"email": "  G@Example.NET "}, headers=mine
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["guardian"]["account_id"] == "acct-1"
    assert [link["link_id"] for link in body["links"]] == [claim.json()["link_id"]]
    # another school's staff: not their family (404 as for an unknown email), not their school (403)
    unknown = _is_problem(
        await client.get(
            "/v1/schools/0456/guardians", params={"email": "g@example.net"}, headers=other
        ),
        404,
    )
    assert unknown["type"].endswith("/guardian-not-found")
    _is_problem(
        await client.get(
            "/v1/schools/0456/guardians", params={"email": "nobody@example.net"}, headers=other
        ),
        404,
    )
    _is_problem(
        await client.get(
            "/v1/schools/0123/guardians", params={"email": "g@example.net"}, headers=other
        ),
        403,
    )


async def test_schools_are_listed_by_name_to_anyone(
    client: httpx.AsyncClient, world: World
) -> None:
    """The wizard's list of schools needs no token and shows no student."""
    await world.roster.save_schools(
        {"0777": "Zion Middle", "0123": "Adams Elementary"}, [], datetime.now(UTC)
    )
    r = await client.get("/v1/schools")
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {"school_id": "0123", "name": "Adams Elementary"},
            {"school_id": "0777", "name": "Zion Middle"},
        ]
    }
    assert "public" in r.headers["cache-control"]


async def test_the_student_view_lists_every_guardian_with_history(
    client: httpx.AsyncClient, keys: Any
) -> None:
    body = {"school_id": "0123", "student_id": "90966666", "student_last_name": "Pena"}
    first = await client.post(
        "/v1/links", headers={"Authorization": f"Bearer {guardian_token(keys)}"}, json=body
    )
    second = await client.post(
        "/v1/links",
        headers={"Authorization": f"Bearer {guardian_token(keys, account='acct-2')}"},
        json={**body, "student_id": " 90966666 "},
    )
    assert first.status_code == second.status_code == 202, second.text
    mine = {"Authorization": f"Bearer {staff_token(keys, ['0123'])}"}
    approve = f"/v1/link-requests/{first.json()['link_id']}/approve"
    assert (
        await client.post(approve, headers=mine, json={"id_document_type": "passport"})
    ).is_success
    r = await client.get("/v1/schools/0123/students/90966666/links", headers=mine)
    assert r.status_code == 200, r.text
    # both asked at the same instant of the test clock: oldest first, then by link id
    by_id = {i["link_id"]: i for i in r.json()["items"]}
    approved, pending = by_id[first.json()["link_id"]], by_id[second.json()["link_id"]]
    assert len(by_id) == 2 and pending["status"] == "pending_authorization"
    assert approved["status"] == "approved" and approved["id_document_type"] == "passport"
    assert approved["approved_by"] == "staff-7" and approved["guardian"]["account_id"] == "acct-1"
    assert [e.get("by") for e in approved["audit"]][-1] == "staff-7"
    assert (await client.get("/v1/schools/0123/students/OTHER/links", headers=mine)).json() == {
        "items": [],
        "next_cursor": None,
    }
    other = {"Authorization": f"Bearer {staff_token(keys, ['0456'])}"}
    _is_problem(await client.get("/v1/schools/0123/students/90966666/links", headers=other), 403)


async def test_the_queue_takes_method_days_left_and_a_search(
    client: httpx.AsyncClient, keys: Any
) -> None:
    claim = await client.post(
        "/v1/links",
        headers={"Authorization": f"Bearer {guardian_token(keys)}"},
        json={"school_id": "0123", "student_id": "90966666", "student_last_name": "Pena"},
    )
    assert claim.status_code == 202, claim.text
    s = {"Authorization": f"Bearer {staff_token(keys, ['0123'])}"}
    url = "/v1/schools/0123/link-requests"

    async def ids(**params: Any) -> list[str]:
        r = await client.get(url, headers=s, params=params)
        assert r.status_code == 200, r.text
        return [i["link_id"] for i in r.json()["items"]]

    mine = [claim.json()["link_id"]]
    assert await ids(q="90966666") == mine
    assert await ids(q="g@example.net") == mine
    assert await ids(q="someone@example.net") == []
    assert await ids(method="in_person", max_days_left=21) == mine
    assert await ids(max_days_left=20) == []
    assert await ids(method="activation_code") == []
    _is_problem(await client.get(url, headers=s, params={"method": "bogus"}), 422)
    _is_problem(await client.get(url, headers=s, params={"max_days_left": -1}), 422)


async def test_roster_upload_is_authenticated_before_its_body_is_read(
    client: httpx.AsyncClient, keys: Any
) -> None:
    pulled = 0

    async def body() -> Any:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"x" * 1000

    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    _is_problem(await client.post("/v1/roster/imports", headers=headers, content=body()), 401)
    staff = {"Authorization": f"Bearer {staff_token(keys, ['0777'])}", **headers}
    _is_problem(await client.post("/v1/roster/imports", headers=staff, content=body()), 403)
    assert pulled == 0
