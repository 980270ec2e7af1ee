"""Linking's roster imports and its answers to bad input, on the real stack (issue 4):
`portal roster import` and POST /v1/roster/imports share one code path; re-imports
update and withdraw; a bad file changes nothing; every bad input is an RFC 9457 problem."""

from __future__ import annotations

import io
import subprocess
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from linking.devtools import BundleStudent, mint_guardian_token, mint_staff_token, oneroster_bundle

from tests.harness import PYTHON, ROOT, Portal
from tests.secrets_registry import remember

SCHOOL = f"R{uuid.uuid4().hex[:6]}"
STUDENTS = [
    BundleStudent(f"7{i:07d}", last, "Kid", SCHOOL, "2014-09-0" + str(i + 1))
    for i, last in enumerate(["Alpha", "Bravo", "Charlie", "Delta"])
]
PROBLEM = "application/problem+json"


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_staff_token([], role='district_admin')}"}


def guardian() -> dict[str, str]:
    account = f"acc-{uuid.uuid4().hex[:12]}"
    token = mint_guardian_token(account, email=f"{account}@example.net")
    remember(token)
    return {"Authorization": f"Bearer {token}"}


def auth_headers(kind: str | None) -> dict[str, str]:
    if kind == "guardian":
        return guardian()
    if kind == "admin":
        return admin()
    if kind == "staff":
        return {"Authorization": f"Bearer {mint_staff_token([SCHOOL])}"}
    return {}


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


@pytest.fixture(scope="module")
async def api(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url("linking"), timeout=60) as client:
        yield client


def cli_import(portal: Portal, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "shared.runtime.cli", "roster", "import", str(path)],
        cwd=ROOT,
        env=portal.env_for("linking"),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def claim(api: httpx.AsyncClient, student_id: str, last_name: str) -> httpx.Response:
    return await api.post(
        "/v1/links",
        headers=guardian(),
        json={"school_id": SCHOOL, "student_id": student_id, "student_last_name": last_name},
    )


async def test_cli_import_then_http_reimport_updates_and_withdraws(
    portal: Portal, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    bad_row = [
        "u-bad",
        "",
        "",
        "true",
        f"org-{SCHOOL}",
        "student",
        "",
        "",
        "No",
        "",
        "",
        "7999",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    bundle = tmp_path / "roster.zip"
    bundle.write_bytes(oneroster_bundle(STUDENTS, extra_user_rows=[bad_row]))
    result = cli_import(portal, bundle)
    assert result.returncode == 0, result.stderr
    assert "created 4, updated 0, unchanged 0, withdrawn 0, rejected 1 rows" in result.stdout
    assert "rejected users.csv row 6: familyName is empty (sourcedId u-bad)" in result.stdout
    assert "writing 4/4 students" in result.stderr  # the progress line

    # Same file again: nothing changes.
    assert "created 0, updated 0, unchanged 4" in cli_import(portal, bundle).stdout

    # Over HTTP: one renamed, one gone from the school's bulk file.
    changed = [
        BundleStudent(STUDENTS[0].student_id, "Alpha-Renamed", "Kid", SCHOOL),
        *STUDENTS[1:3],
    ]
    response = await api.post(
        "/v1/roster/imports",
        headers=admin(),
        files={"file": ("roster.zip", oneroster_bundle(changed), "application/zip")},
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    assert summary["withdrawn"] == 1 and summary["mode"] == "bulk"

    assert (await claim(api, STUDENTS[0].student_id, "alpha renamed")).status_code == 202
    # The withdrawn student no longer matches, with the same answer as a stranger.
    gone = is_problem(await claim(api, STUDENTS[3].student_id, "Delta"), 422)
    stranger = is_problem(await claim(api, "nobody", "Delta"), 422)
    assert gone == {**stranger, "instance": gone["instance"]}
    assert set(gone) == {"type", "title", "status", "instance"}


async def test_a_bad_file_changes_nothing(
    portal: Portal, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    good = oneroster_bundle(STUDENTS[:3])
    assert (
        await api.post(
            "/v1/roster/imports",
            headers=admin(),
            files={"file": ("r.zip", good, "application/zip")},
        )
    ).status_code == 200
    truncated = good[: len(good) // 2]
    no_users = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as src,
        zipfile.ZipFile(no_users, "w") as dst,
    ):
        for name in src.namelist():
            if name != "users.csv":
                dst.writestr(name, src.read(name))
    empty_school = oneroster_bundle([], extra_schools=[SCHOOL])
    for data, expected in (
        (b"this is not a zip", "not a zip"),
        (truncated, ""),
        (no_users.getvalue(), "users.csv is missing"),
        (empty_school, "no valid student rows"),
    ):
        body = is_problem(
            await api.post(
                "/v1/roster/imports",
                headers=admin(),
                files={"file": ("r.zip", data, "application/zip")},
            ),
            422,
        )
        assert body["type"].endswith("roster-file-invalid") and expected in body["detail"]
    # Everything imported before is still there.
    for s in STUDENTS[:3]:
        assert (await claim(api, s.student_id, s.last_name)).status_code == 202

    broken = tmp_path / "broken.zip"
    broken.write_bytes(truncated)
    result = cli_import(portal, broken)
    assert result.returncode == 1 and "nothing was imported" in result.stderr


async def test_only_district_admins_import(api: httpx.AsyncClient) -> None:
    files = {"file": ("r.zip", oneroster_bundle(STUDENTS[:1]), "application/zip")}
    staff = {"Authorization": f"Bearer {mint_staff_token([SCHOOL])}"}
    is_problem(await api.post("/v1/roster/imports", headers=staff, files=files), 403)
    is_problem(await api.post("/v1/roster/imports", files=files), 401)
    is_problem(await api.post("/v1/roster/imports", headers=guardian(), files=files), 401)
    is_problem(await api.post("/v1/roster/imports", headers=admin(), json={"file": "x"}), 422)


@pytest.mark.parametrize(
    ("method", "path", "body", "auth", "status"),
    [
        ("POST", "/v1/links", {"school_id": "1"}, "guardian", 422),
        ("POST", "/v1/links", [], "guardian", 422),
        (
            "POST",
            "/v1/links",
            {
                "school_id": "1",
                "student_id": "2",
                "student_last_name": "x",
                "activation_code": "c",
                "legacy_username": "u",
                "legacy_password": "p",
            },
            "guardian",
            422,
        ),
        (
            "POST",
            "/v1/links",
            {"school_id": "1", "student_id": "2", "student_last_name": "x", "unexpected": True},
            "guardian",
            422,
        ),
        (
            "POST",
            "/v1/links",
            {"school_id": "1", "student_id": "2", "student_last_name": "x"},
            None,
            401,
        ),
        (
            "POST",
            "/v1/links",
            {"school_id": "1", "student_id": "2", "student_last_name": "x"},
            "staff",
            401,
        ),
        ("GET", "/v1/links", None, "staff", 401),
        ("DELETE", "/v1/links/does-not-exist", None, "guardian", 404),
        (
            "POST",
            "/v1/link-requests/does-not-exist/approve",
            {"id_document_type": "passport"},
            "admin",
            404,
        ),
        ("POST", "/v1/link-requests/x/approve", {}, "admin", 422),
        ("POST", "/v1/link-requests/x/deny", {"reason": ""}, "admin", 422),
        ("POST", "/v1/links/x/revoke", {"reason": "r" * 501}, "admin", 422),
        ("GET", f"/v1/schools/{SCHOOL}/link-requests?status=bogus", None, "admin", 422),
        ("GET", f"/v1/schools/{SCHOOL}/link-requests?limit=100000", None, "admin", 422),
        ("GET", f"/v1/schools/{SCHOOL}/link-requests?cursor=%%%%", None, "admin", 422),
        ("GET", f"/v1/schools/{SCHOOL}/link-requests", None, "guardian", 401),
        ("POST", f"/v1/schools/{SCHOOL}/students/nobody/activation-codes", None, "admin", 404),
        (
            "POST",
            f"/v1/schools/{SCHOOL}/students/x/activation-codes",
            {"expires_in_days": 9999},
            "admin",
            422,
        ),
        ("DELETE", f"/v1/schools/{SCHOOL}/students/x/activation-codes/nope", None, "admin", 404),
        ("PUT", "/v1/links", None, "guardian", 405),
        ("GET", "/v1/nothing-here", None, None, 404),
    ],
)
async def test_bad_input_is_a_problem_never_a_500(
    api: httpx.AsyncClient, method: str, path: str, body: Any, auth: str | None, status: int
) -> None:
    response = await api.request(method, path, headers=auth_headers(auth), json=body)
    is_problem(response, status)


async def test_malformed_json_and_bad_text_are_problems(api: httpx.AsyncClient) -> None:
    headers = {**guardian(), "Content-Type": "application/json"}
    is_problem(await api.post("/v1/links", headers=headers, content=b"{oops"), 422)
    is_problem(
        await api.post(
            "/v1/links",
            headers=headers,
            content=b'{"school_id": "1", "student_id": "2", "student_last_name": "\\ud800"}',
        ),
        422,
    )
    is_problem(
        await api.post(
            "/v1/links",
            headers=headers,
            content=b'{"school_id": "1\\u0000", "student_id": "2", "student_last_name": "x"}',
        ),
        422,
    )


async def test_failed_matches_are_limited_per_account(api: httpx.AsyncClient) -> None:
    me = guardian()
    statuses = []
    for i in range(11):
        response = await api.post(
            "/v1/links",
            headers=me,
            json={"school_id": SCHOOL, "student_id": f"x{i}", "student_last_name": "Nobody"},
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [422] * 10 and statuses[10] == 429
    assert int(response.headers["Retry-After"]) > 0


async def test_openapi_is_published(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    for path in (
        "/v1/links",
        "/v1/links/{link_id}",
        "/v1/schools/{school_id}/link-requests",
        "/v1/link-requests/{link_id}/approve",
        "/v1/link-requests/{link_id}/deny",
        "/v1/links/{link_id}/revoke",
        "/v1/roster/imports",
        "/v1/schools/{school_id}/students/{student_id}/activation-codes",
        "/v1/schools/{school_id}/students/{student_id}/activation-codes/{code_id}",
    ):
        assert path in doc["paths"], path
    assert {"GuardianBearer", "StaffBearer"} <= set(doc["components"]["securitySchemes"])
