"""The school staff console in a real browser, signed in through the dev stack's Keycloak
login page (authorization code + PKCE; nothing in the token checks is mocked): a school's
secretary works her queue and only hers, decisions reach the guardian's inbox and the
SIS topics, an activation code works in the guardian portal, a tampered sign-in is
refused, every page passes axe-core in English and Spanish, approving works by keyboard.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from shared.contracts.envelope import Envelope
from tests.browser.support import check_page
from tests.harness import Portal
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import Guardian, mail_with, staff_token
from tools.devstack import keycloak
from tools.devstack.keycloak import CONSOLE_CLIENT_ID, SCHOOL_A, SCHOOL_B, STAFF_USERS
from tools.devstack.paths import KEYCLOAK_FILES, KEYCLOAK_ISSUER, KEYCLOAK_URL

RUN = uuid.uuid4().hex[:5].upper()
#: Students of the two schools of the realm's secretaries (a bulk import replaces only
#: the roster of the schools it lists, in this run's own database).
APPROVE = Student(SCHOOL_A, f"A1{RUN}", "Ana", "Approve")
DENY = Student(SCHOOL_A, f"A2{RUN}", "Dan", "Deny")
REVOKE = Student(SCHOOL_A, f"A3{RUN}", "Rita", "Revoke")
KEYBOARD = Student(SCHOOL_A, f"A4{RUN}", "Kai", "Keyboard")
CODE = Student(SCHOOL_A, f"A5{RUN}", "Coco", "Code")
SPANISH = Student(SCHOOL_A, f"A6{RUN}", "Sofía", "Español")
OTHER = Student(SCHOOL_B, f"B1{RUN}", "Ben", "Other")


def _accepted(uri: str) -> bool:
    probe = httpx.get(
        f"{KEYCLOAK_ISSUER}/protocol/openid-connect/auth",
        params={"client_id": CONSOLE_CLIENT_ID, "response_type": "code", "scope": "openid",
                "redirect_uri": uri, "state": "probe", "code_challenge": "x" * 43,
                "code_challenge_method": "S256"},
        timeout=30,
    )  # fmt: skip
    return probe.status_code == 200 and "kc-form-login" in probe.text


def _logout_accepted(uri: str) -> bool:
    answer = httpx.get(
        f"{KEYCLOAK_ISSUER}/protocol/openid-connect/logout",
        params={"client_id": CONSOLE_CLIENT_ID, "post_logout_redirect_uri": uri},
        timeout=30,
    )
    return answer.status_code != 400


def accept_console_redirect(web_url: str) -> None:
    """Keycloak accepts this run's callback, whatever its port: the realm file lists
    ``http://127.0.0.1/staff/*``, which Keycloak matches on any port for a loopback
    address. A Keycloak whose database predates that line gets the realm file's redirect
    URIs (and those after sign-out) through its admin API: the same values, not this
    run's port."""
    uri, after = f"{web_url}/staff/auth/callback", f"{web_url}/staff/sign-in"
    if _accepted(uri) and _logout_accepted(after):
        return
    realm = json.loads((KEYCLOAK_FILES / "district-realm.json").read_text())
    wanted = next(c for c in realm["clients"] if c["clientId"] == CONSOLE_CLIENT_ID)
    headers = {"Authorization": f"Bearer {keycloak.admin_token()}"}
    admin = f"{KEYCLOAK_URL}/admin/realms/district/clients"
    client = httpx.get(admin, params={"clientId": CONSOLE_CLIENT_ID}, headers=headers).json()[0]
    client["redirectUris"] = sorted({*client.get("redirectUris", []), *wanted["redirectUris"]})
    logout = "post.logout.redirect.uris"
    client.setdefault("attributes", {})[logout] = wanted["attributes"][logout]
    answer = httpx.put(f"{admin}/{client['id']}", json=client, headers=headers, timeout=30)
    assert answer.status_code == 204, answer.text
    assert _accepted(uri), f"Keycloak refuses {uri} with the realm file's redirect URIs"
    assert _logout_accepted(after), f"Keycloak refuses {after} after sign-out"


@pytest.fixture(scope="module")
def staff_portal(web_portal: Portal) -> Portal:
    keycloak.probe(timeout=10)
    accept_console_redirect(web_portal.url("web"))
    admin = staff_token([], role="district_admin", subject="roster-browser")
    answer = httpx.post(
        f"{web_portal.url('linking')}/v1/roster/imports",
        headers={"Authorization": f"Bearer {admin}"},
        files={"file": ("r.zip", bundle([APPROVE, DENY, REVOKE, KEYBOARD, CODE, SPANISH, OTHER]),
                        "application/zip")},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return web_portal


def pending_guardian(portal: Portal, child: Student, locale: str = "en") -> Guardian:
    """A verified guardian whose request for ``child`` waits for the school."""
    guardian = Guardian(portal, locale=locale).onboard()
    answer = guardian.request_link(child.school_id, child.student_id, child.family_name)
    assert answer.status_code == 202, answer.text
    guardian.wait_link(child.student_id, "pending_authorization")
    return guardian


@pytest.fixture(scope="module")
def guardians(staff_portal: Portal) -> dict[str, Guardian]:
    return {
        name: pending_guardian(staff_portal, child)
        for name, child in (("approve", APPROVE), ("deny", DENY), ("revoke", REVOKE),
                            ("keyboard", KEYBOARD), ("spanish", SPANISH), ("other", OTHER))
    }  # fmt: skip


def event_for(portal: Portal, topic: str, link_id: str, timeout: float = 60) -> Envelope:
    """The ``topic`` event of ``link_id``, as the SIS reads it (a Kafka consumer of its
    own, run in a thread: Playwright's sync API holds this thread's event loop)."""

    async def find() -> Envelope:
        async with TopicWatcher([portal.topic(topic)], group_prefix="sis-browser") as sis:
            return await sis.wait_for(
                lambda e: getattr(e.event, "link_id", None) == link_id, timeout=timeout
            )

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, find()).result()


def link_id_of(guardian: Guardian, student_id: str) -> str:
    return str(next(x for x in guardian.links() if x["student_id"] == student_id)["link_id"])


def sign_in(page: Any, username: str, *, language: str = "en") -> None:
    """Through the console's button and Keycloak's own login page (skipped by Keycloak
    when this browser signed in there already)."""
    page.goto(f"/staff/language?lang={language}&next=/staff/sign-in")
    page.locator("#staff-sign-in").click()
    page.wait_for_url(lambda url: not url.endswith("/staff/sign-in"))
    page.wait_for_load_state()
    if "/protocol/openid-connect/" in page.url and page.locator("#kc-login").count():
        page.fill("#username", username)
        page.fill("#password", STAFF_USERS[username])
        page.locator("#kc-login").click()


@pytest.fixture
def secretary(page: Any) -> Any:
    sign_in(page, "secretary.a")
    page.wait_for_url(f"**/staff/schools/{SCHOOL_A}/queue")
    return page


def row(page: Any, link_id: str) -> Any:
    return page.locator(f"tr[data-link-id='{link_id}']")


def test_secretary_sees_her_school_only_and_approves_with_an_id_type(
    secretary: Any, guardians: dict[str, Guardian], staff_portal: Portal, screenshots: Path
) -> None:
    page = secretary
    mine = link_id_of(guardians["approve"], APPROVE.student_id)
    theirs = link_id_of(guardians["other"], OTHER.student_id)
    expect(row(page, mine)).to_contain_text(guardians["approve"].email)
    expect(row(page, mine)).to_contain_text(APPROVE.student_id)
    assert row(page, theirs).count() == 0
    check_page(page, "staff-en-queue", screenshots)
    # school B's queue and request by URL: refused, nothing decided
    answer = page.goto(f"/staff/schools/{SCHOOL_B}/queue")
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_have_text("Not one of your schools")
    check_page(page, "staff-en-not-your-school", screenshots)
    page.goto(f"/staff/requests/{theirs}/approve")
    page.wait_for_url(f"**/staff/schools/{SCHOOL_A}/queue")
    assert guardians["other"].wait_link(OTHER.student_id, "pending_authorization")

    row(page, mine).get_by_role("link", name=re.compile("^Approve")).click()
    expect(page.locator("h1")).to_have_text("Approve request")
    page.locator("button[type=submit]", has_text="Confirm approval").click()
    expect(page.locator("#error-summary")).to_contain_text("Choose the photo ID")
    check_page(page, "staff-en-approve-error", screenshots)
    page.select_option("#f-id-document-type", "passport")
    page.fill("#f-note", "Passport seen at the front office")
    page.locator("button[type=submit]", has_text="Confirm approval").click()
    expect(page.locator("#staff-notice")).to_contain_text("Approved")
    assert row(page, mine).count() == 0

    approved = event_for(staff_portal, "LinkApproved", mine)
    assert approved.event.student.student_id == APPROVE.student_id
    assert approved.event.approved_by  # the secretary's id from her Keycloak token
    mail_with(
        guardians["approve"].email,
        re.compile(r"(the\s+school\s+approved\s+your\s+request)"),
        timeout=90,
    )
    # the same decision sent again (a retried request): "already decided", nothing twice
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    again = page.request.post(
        f"/staff/requests/{mine}/approve",
        form={"csrf_token": str(csrf), "id_document_type": "passport"},
    )
    assert again.status == 409 and "Already decided" in again.text()


def test_deny_with_a_reason_the_guardian_reads(
    secretary: Any, guardians: dict[str, Guardian], staff_portal: Portal, screenshots: Path
) -> None:
    page = secretary
    link_id = link_id_of(guardians["deny"], DENY.student_id)
    row(page, link_id).get_by_role("link", name=re.compile("^Deny")).click()
    expect(page.locator("h1")).to_have_text("Deny request")
    check_page(page, "staff-en-deny", screenshots)
    reason = f"No custody papers on file ({RUN})"
    page.fill("#f-reason", reason)
    page.locator("button[type=submit]", has_text="Confirm denial").click()
    expect(page.locator("#staff-notice")).to_contain_text("Denied")
    denied = event_for(staff_portal, "LinkDenied", link_id)
    assert denied.event.reason == reason
    mail, _ = mail_with(
        guardians["deny"].email, re.compile(r"(did\s+not\s+approve\s+your\s+request)"), timeout=90
    )
    assert reason in " ".join(mail.text.split())


def test_revoke_ends_access_and_tells_the_sis(
    secretary: Any, guardians: dict[str, Guardian], staff_portal: Portal, screenshots: Path
) -> None:
    page = secretary
    link_id = link_id_of(guardians["revoke"], REVOKE.student_id)
    row(page, link_id).get_by_role("link", name=re.compile("^Approve")).click()
    page.select_option("#f-id-document-type", "state_id")
    page.locator("button[type=submit]", has_text="Confirm approval").click()
    expect(page.locator("#staff-notice")).to_be_visible()
    page.goto(f"/staff/schools/{SCHOOL_A}/queue?status=approved")
    check_page(page, "staff-en-approved", screenshots)
    row(page, link_id).get_by_role("link", name=re.compile(f"^ID {REVOKE.student_id}")).click()
    expect(page.locator("h1")).to_contain_text(f"Student {REVOKE.student_id}")
    expect(page.locator(f"[data-link-id='{link_id}']")).to_contain_text("State ID card")
    check_page(page, "staff-en-student", screenshots)
    page.go_back()
    row(page, link_id).get_by_role("link", name=re.compile("^Revoke")).click()
    expect(page.locator("h1")).to_have_text("Revoke access")
    check_page(page, "staff-en-revoke", screenshots)
    page.fill("#f-reason", "Court order restricts this guardian's access")
    page.locator("button[type=submit]", has_text="Confirm revoking access").click()
    expect(page.locator("#staff-notice")).to_contain_text("Access revoked")
    revoked = event_for(staff_portal, "LinkRevoked", link_id)
    assert revoked.event.student_id == REVOKE.student_id
    guardians["revoke"].wait_link(REVOKE.student_id, "revoked")


def test_approve_by_keyboard_alone(
    secretary: Any, guardians: dict[str, Guardian], staff_portal: Portal
) -> None:
    page = secretary
    link_id = link_id_of(guardians["keyboard"], KEYBOARD.student_id)
    target = row(page, link_id).get_by_role("link", name=re.compile("^Approve"))
    for _ in range(80):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the row's Approve link")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Approve request")
    # the ID type list has the focus: choose with the arrow keys, then Tab to the button
    expect(page.locator("#f-id-document-type")).to_be_focused()
    page.keyboard.press("ArrowDown")
    assert page.locator("#f-id-document-type").input_value() != ""
    page.keyboard.press("Tab")  # the note
    page.keyboard.press("Tab")  # Confirm approval
    expect(page.locator("button[type=submit]", has_text="Confirm approval")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#staff-notice")).to_contain_text("Approved")
    guardians["keyboard"].wait_link(KEYBOARD.student_id, "approved")


def test_activation_code_letter_is_used_in_the_guardian_portal(
    secretary: Any, staff_portal: Portal, browser: Any, screenshots: Path
) -> None:
    page = secretary
    page.goto(f"/staff/schools/{SCHOOL_A}/codes")
    check_page(page, "staff-en-code-form", screenshots)
    page.fill("#f-student-id", CODE.student_id)
    page.fill("#f-guardian-name", "Jenny Denny")
    page.select_option("#f-language", "es")
    page.locator("button[type=submit]", has_text="Issue the code").click()
    code = page.locator("[data-code]").inner_text().strip()
    assert code
    expect(page.locator("article.staff-letter")).to_contain_text("Estimado/a Jenny Denny")
    check_page(page, "staff-en-letter", screenshots)
    page.emulate_media(media="print")
    assert page.locator(".portal-header").is_hidden()
    page.pdf(path=str(screenshots / "staff-letter.pdf"))
    page.emulate_media(media="screen")

    # a guardian types the code in the guardian portal: approved at once
    guardian = Guardian(staff_portal).onboard()
    context = browser.new_context(base_url=staff_portal.url("web"))
    try:
        tab = context.new_page()
        tab.goto("/sign-in")
        tab.fill("#f-email", guardian.email)
        tab.fill("#f-password", guardian.password)
        tab.locator("form[action='/sign-in'] button[type=submit]").click()
        tab.wait_for_url("**/account")
        tab.select_option("#f-school-id", CODE.school_id)  # the school, listed by name
        tab.fill("#f-student-id", CODE.student_id)
        tab.fill("#f-student-last-name", CODE.family_name)
        tab.fill("#f-activation-code", code)
        tab.locator("form[action='/account/links'] button[type=submit]").click()
        guardian.wait_link(CODE.student_id, "approved")
    finally:
        context.close()


def test_a_tampered_state_and_a_replayed_callback_are_refused(
    page: Any, staff_portal: Portal, screenshots: Path
) -> None:
    # Keycloak's answer (the redirect after its login form) is held back on its way to
    # the console, then sent changed, as it was, and again
    callbacks: list[str] = []

    def hold(route: Any) -> None:
        answer = route.fetch(max_redirects=0)
        callbacks.append(answer.headers["location"])
        route.fulfill(status=200, content_type="text/html", body="<title>held</title>")

    page.goto("/staff/sign-in")
    check_page(page, "staff-en-sign-in", screenshots)
    page.locator("#staff-sign-in").click()
    page.fill("#username", "secretary.a")
    page.fill("#password", STAFF_USERS["secretary.a"])
    page.route(re.compile(r".*/login-actions/authenticate.*"), hold)
    page.locator("#kc-login").click()
    expect(page).to_have_title("held")
    page.unroute(re.compile(r".*/login-actions/authenticate.*"))
    (answer_url,) = callbacks
    assert "state=" in answer_url and "code=" in answer_url

    tampered = page.goto(re.sub(r"state=[^&]+", "state=forged", answer_url))
    assert tampered is not None and tampered.status == 400
    expect(page.locator("h1")).to_have_text("Sign-in did not complete")
    check_page(page, "staff-en-sign-in-failed", screenshots)
    assert page.goto("/staff").url.endswith("/staff/sign-in")  # nothing signed in

    page.goto(answer_url)  # the real answer, once
    page.wait_for_url(f"**/staff/schools/{SCHOOL_A}/queue")
    replay = page.goto(answer_url)  # and again
    assert replay is not None and replay.status == 400
    expect(page.locator("h1")).to_have_text("Sign-in did not complete")


def test_a_staff_member_without_a_school_is_refused(page: Any, screenshots: Path) -> None:
    sign_in(page, "staff.noschool")
    expect(page.locator("h1")).to_have_text("Your account has no school yet")
    check_page(page, "staff-en-no-school", screenshots)
    assert page.goto("/staff").url.endswith("/staff/sign-in")


def test_every_staff_page_in_spanish(
    page: Any, guardians: dict[str, Guardian], screenshots: Path
) -> None:
    page.goto("/staff/language?lang=es&next=/staff/sign-in")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    check_page(page, "staff-es-sign-in", screenshots)
    sign_in(page, "secretary.a", language="es")
    page.wait_for_url(f"**/staff/schools/{SCHOOL_A}/queue")
    expect(page.locator("h1")).to_have_text(f"Solicitudes de la escuela {SCHOOL_A}")
    check_page(page, "staff-es-queue", screenshots)
    link_id = link_id_of(guardians["spanish"], SPANISH.student_id)
    row(page, link_id).get_by_role("link", name=re.compile("^Aprobar")).click()
    expect(page.locator("h1")).to_have_text("Aprobar la solicitud")
    check_page(page, "staff-es-approve", screenshots)
    page.go_back()
    row(page, link_id).get_by_role("link", name=re.compile("^Denegar")).click()
    expect(page.locator("h1")).to_have_text("Denegar la solicitud")
    page.locator("button[type=submit]", has_text="Confirmar la denegación").click()
    expect(page.locator("#error-summary")).to_contain_text("Escriba el motivo")
    check_page(page, "staff-es-deny-error", screenshots)
    page.goto(f"/staff/schools/{SCHOOL_A}/queue?status=approved")
    check_page(page, "staff-es-approved", screenshots)
    page.goto(f"/staff/schools/{SCHOOL_A}/students/{SPANISH.student_id}")
    expect(page.locator("h1")).to_contain_text(f"Estudiante {SPANISH.student_id}")
    check_page(page, "staff-es-student", screenshots)
    page.goto(f"/staff/schools/{SCHOOL_A}/codes")
    check_page(page, "staff-es-code-form", screenshots)
    page.fill("#f-student-id", SPANISH.student_id)
    page.fill("#f-guardian-name", "Sofía Madre")
    page.locator("button[type=submit]", has_text="Emitir el código").click()
    expect(page.locator("article.staff-letter")).to_contain_text("Estimado/a Sofía Madre")
    check_page(page, "staff-es-letter", screenshots)
    page.goto(f"/staff/schools/{SCHOOL_B}/queue")
    expect(page.locator("h1")).to_have_text("No es una de sus escuelas")
    check_page(page, "staff-es-not-your-school", screenshots)
    page.goto("/staff/sign-in")
    page.locator("form[action='/staff/sign-out'] button").click()
    expect(page.locator(".usa-alert")).to_contain_text("Cerró la sesión")
    check_page(page, "staff-es-signed-out", screenshots)
    failed = page.goto("/staff/auth/callback?state=forged&code=forged")
    assert failed is not None and failed.status == 400
    expect(page.locator("h1")).to_have_text("El acceso no se completó")
    check_page(page, "staff-es-sign-in-failed", screenshots)
    sign_in(page, "staff.noschool", language="es")
    expect(page.locator("h1")).to_have_text("Su cuenta aún no tiene escuela")
    check_page(page, "staff-es-no-school", screenshots)
