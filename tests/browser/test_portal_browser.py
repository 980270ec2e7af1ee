"""The guardian portal in a real browser: journeys, keyboard, right-to-left, axe-core."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import CHILD
from tests.browser.support import PASSWORD, check_page, unique_email, wait_for_verification_link
from tests.harness import Portal, wait_until
from tests.secrets_registry import remember
from tools.devstack import testing as devstack


def finish_is_one_trace(portal: Portal) -> bool:
    traces: dict[str, set[str]] = {}
    for span in portal.spans():
        service = span.get("resource", {}).get("attributes", {}).get("service.name", "")
        traces.setdefault(span["context"]["trace_id"], set()).add(f"{service}:{span['name']}")
    return any(
        {"web:POST /register/{slug}", "identity:POST /v1/accounts"} <= names
        and any(n.startswith("notifier:") for n in names)
        for names in traces.values()
    )


def tick(page: Any, field_id: str) -> None:
    """Tick a USWDS box or radio as a person does: by its label (the input is visually
    hidden and styled through the label)."""
    page.locator(f"label[for='{field_id}']").click()


def next_step(page: Any, slug: str) -> None:
    """Press Next and wait for the next step's page."""
    page.locator("button[value=next]").click()
    page.wait_for_url(f"**/register/{slug}")


def fill_wizard(
    page: Any, email: str, screenshots: Path, prefix: str, *, check: bool = True, axe: bool = True
) -> None:
    """Every step of the wizard with one child, checking and picturing each page."""
    remember(PASSWORD, *(f"answer {i} {prefix}" for i in range(3)))

    def shot(name: str) -> None:
        if check:
            check_page(page, f"{prefix}-{name}", screenshots, axe=axe)

    shot("1-welcome")
    next_step(page, "usage-policy")
    shot("2-usage-policy")
    tick(page, "f-accepted-usage-policy")
    next_step(page, "account")
    page.fill("#f-email", email)
    page.fill("#f-first-name", "Jenny")
    page.fill("#f-last-name", "Denny")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password-confirm", PASSWORD)
    shot("3-account")
    next_step(page, "personal")
    page.fill("#f-phones-mobile-number", "904-555-0100")
    tick(page, "f-phones-home-choice-same")
    tick(page, "f-phones-emergency-mobile")
    page.fill("#f-address-street", "111 Street Dr.")
    page.fill("#f-address-city", "Jacksonville")
    page.fill("#f-address-state", "FL")
    page.fill("#f-address-zip", "32207")
    shot("4-personal")
    next_step(page, "security")
    options = page.locator("#f-security-answers-0-question-id option").evaluate_all(
        "os => os.map(o => o.value).filter(Boolean)"
    )
    for i in range(3):
        page.select_option(f"#f-security-answers-{i}-question-id", options[i])
        page.fill(f"#f-security-answers-{i}-answer", f"answer {i} {prefix}")
    shot("5-security")
    next_step(page, "students")
    tick(page, "f-student-choice-claim")
    # the school by its name, from the roster's schools
    page.select_option("#f-new-claim-school-id", label=f"School {CHILD.school_id}")
    page.fill("#f-new-claim-student-id", CHILD.student_id)
    page.fill("#f-new-claim-student-last-name", CHILD.family_name)
    page.locator("button[value=add]").click()
    page.get_by_role("cell", name=CHILD.student_id, exact=True).wait_for()
    shot("6-students")
    next_step(page, "review")
    shot("7-review")


def test_journey_in_spanish_from_registration_to_the_pending_request(
    page: Any, web_portal: Portal, screenshots: Path
) -> None:
    """Register in Spanish, the verification email from the real SMTP sink, the verify
    page, sign in, and the pending request with its deadline on the account page."""
    email = unique_email("es")
    page.goto("/sign-in")
    check_page(page, "en-sign-in", screenshots)
    page.get_by_role("link", name="Español").click()
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_role("link", name="No tengo una cuenta").click()
    # axe-core checks these steps in English (keyboard test) and Arabic at 360 px
    fill_wizard(page, email, screenshots, "es", axe=False)
    page.locator("button[value=finish]").click()
    page.wait_for_url("**/register/done")
    expect(page.locator("body")).to_contain_text("Revise su correo electrónico")
    expect(page.locator("body")).to_contain_text(email)
    check_page(page, "es-8-done", screenshots)

    link = wait_for_verification_link(email)
    wait_until(
        lambda: finish_is_one_trace(web_portal),
        timeout=20,
        what="the wizard's Finish, identity's registration and the notifier's send in one trace",
    )
    assert link.startswith(web_portal.url("web")), link  # the email opens the web front end
    page.goto(link)
    assert page.locator("h1").inner_text() == "Active su cuenta"
    page.fill("#f-password", "Wrong!pw1")
    page.locator("button[type=submit].portal-submit").click()
    expect(page.locator("body")).to_contain_text("La contraseña no es correcta.")
    check_page(page, "es-verify-error", screenshots)
    page.fill("#f-password", PASSWORD)
    page.locator("button[type=submit].portal-submit").click()
    expect(page.locator("body")).to_contain_text("Su cuenta está activa")
    page.get_by_role("link", name="Iniciar sesión").click()
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.locator("form[action='/sign-in'] button[type=submit]").click()
    page.wait_for_url("**/account")
    row = page.locator("tbody tr", has_text=CHILD.student_id)
    row.wait_for()
    text = row.inner_text()
    assert "Pendiente de autorización" in text and "quedan 21 días" in text, text
    assert re.search(r"\d{4}", text), "the deadline date is shown"
    check_page(page, "es-account", screenshots)
    # profile edit and password change
    page.fill("#f-address-street", "222 Otra Calle")
    page.get_by_role("button", name="Guardar mis datos de contacto").click()
    expect(page.locator("body")).to_contain_text("Sus datos de contacto se guardaron.")
    assert page.input_value("#f-address-street") == "222 Otra Calle"
    new_password = "Nuev4!clave"
    remember(new_password)
    page.fill("#f-current-password", PASSWORD)
    page.fill("#f-new-password", new_password)
    page.fill("#f-new-password-confirm", new_password)
    page.get_by_role("button", name="Cambiar mi contraseña").click()
    expect(page.locator("body")).to_contain_text("Su contraseña se cambió.")
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.locator("body")).to_contain_text("Cerró sesión.")
    page.fill("#f-email", email)
    page.fill("#f-password", new_password)
    page.locator("form[action='/sign-in'] button[type=submit]").click()
    page.wait_for_url("**/account")
    # withdrawing the pending request
    row = page.locator("tbody tr", has_text=CHILD.student_id)
    row.get_by_role("button", name="Retirar").click()
    expect(page.locator("body")).to_contain_text("Su solicitud fue retirada.")
    expect(page.locator("tbody tr", has_text=CHILD.student_id)).to_contain_text("Retirada")


def test_the_wizard_by_keyboard_alone(page: Any, web_portal: Portal, screenshots: Path) -> None:
    """Tab to each field, type, Space for boxes, arrows for radios and lists, Enter for
    buttons: the wizard reaches its review page without a mouse."""
    keyboard = page.keyboard

    def tab_to(selector: str, limit: int = 60) -> None:
        target = page.locator(selector)
        for _ in range(limit):
            keyboard.press("Tab")
            if target.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    def type_into(selector: str, value: str) -> None:
        tab_to(selector)
        keyboard.type(value)

    page.goto("/register/welcome")
    check_page(page, "en-1-welcome", screenshots)
    keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "usa-skipnav"
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/usage-policy")
    check_page(page, "en-2-usage-policy", screenshots)
    tab_to("#f-accepted-usage-policy")
    keyboard.press("Space")
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/account")
    check_page(page, "en-3-account", screenshots)
    type_into("#f-email", unique_email("kbd"))
    type_into("#f-first-name", "Kim")
    type_into("#f-last-name", "Board")
    type_into("#f-password", PASSWORD)
    type_into("#f-password-confirm", "different")
    tab_to("button[value=next]")
    keyboard.press("Enter")
    # the error summary takes the focus and links to the field
    page.wait_for_selector("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.title().startswith("Error:")
    check_page(page, "en-3-account-errors", screenshots)
    tab_to("#error-summary a")
    keyboard.press("Enter")
    # passwords are never sent back to the browser: both are typed again
    assert page.evaluate("document.activeElement.id") == "f-password-confirm"
    type_into("#f-password", PASSWORD)
    type_into("#f-password-confirm", PASSWORD)
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/personal")
    check_page(page, "en-4-personal", screenshots)
    type_into("#f-address-street", "1 Key St.")
    type_into("#f-address-city", "Jacksonville")
    type_into("#f-address-state", "FL")
    type_into("#f-address-zip", "32207")
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/security")
    check_page(page, "en-5-security", screenshots)
    for i in range(3):
        tab_to(f"#f-security-answers-{i}-question-id")
        for _ in range(i + 1):
            keyboard.press("ArrowDown")
        type_into(f"#f-security-answers-{i}-answer", f"keys {i}")
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/students")
    check_page(page, "en-6-students", screenshots)
    tab_to("#f-student-choice-none")
    keyboard.press("Space")
    tab_to("button[value=next]")
    keyboard.press("Enter")
    page.wait_for_url("**/review")
    expect(page.locator("body")).to_contain_text("1 Key St., Jacksonville, FL, 32207")
    check_page(page, "en-7-review-keyboard", screenshots)


def test_arabic_pages_are_right_to_left_and_fit_a_small_phone(
    page: Any, web_portal: Portal, screenshots: Path
) -> None:
    """Arabic: dir=rtl on every page, laid out right to left, no violations, no sideways
    scrolling at 360 px; the pages other journeys do not reach are checked here too."""
    page.goto("/language?lang=ar&next=/register/welcome")
    # axe-core runs on each step below at 360 px (and in English on the desktop)
    fill_wizard(page, unique_email("ar"), screenshots, "ar", axe=False)
    assert page.locator("html").get_attribute("dir") == "rtl"
    # laid out right to left: the step list starts at the right
    first = page.locator(".usa-step-indicator__segment").first.bounding_box()
    last = page.locator(".usa-step-indicator__segment").last.bounding_box()
    assert first["x"] > last["x"]
    page.set_viewport_size({"width": 360, "height": 740})
    steps = ["welcome", "usage-policy", "account", "personal", "security", "students", "review"]
    for path, name in [
        *[(f"/register/{step}", f"ar-360-{n}-{step}") for n, step in enumerate(steps, 1)],
        ("/sign-in", "ar-360-sign-in"),
    ]:
        page.goto(path)
        assert page.locator("html").get_attribute("dir") == "rtl"
        check_page(page, name, screenshots)
    page.goto("/language?lang=en&next=/sign-in")
    for path, name in [
        ("/forgot-password", "en-360-forgot-password"),
        ("/resend-verification", "en-360-resend"),
        ("/verify-email?token=not-a-real-token", "en-360-verify-email"),
        ("/reset-password?token=not-a-real-token", "en-360-reset-password"),
        ("/verify-email", "en-360-link-no-longer-works"),
        ("/no-such-page", "en-360-not-found"),
    ]:
        page.goto(path)
        check_page(page, name, screenshots)
    page.goto("/reset-password?token=not-a-real-token")
    page.fill("#f-new-password", PASSWORD)
    page.fill("#f-new-password-confirm", PASSWORD)
    page.locator("button.portal-submit").click()
    expect(page.locator("body")).to_contain_text(
        "This link no longer works"
    )  # a clear page, a way forward
    page.goto("/sign-in")
    page.locator("form[action='/sign-in'] button[type=submit]").click()
    assert page.title().startswith("Error:")
    check_page(page, "en-360-sign-in-errors", screenshots)


def test_javascript_off_the_wizard_still_works(
    browser: Any, web_portal: Portal, screenshots: Path
) -> None:
    """No JavaScript at all: every step, the add-a-child button and Finish still work."""
    context = browser.new_context(base_url=web_portal.url("web"), java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/register/welcome")
        email = unique_email("nojs")
        fill_wizard(page, email, screenshots, "nojs", check=False)
        page.locator("button[value=finish]").click()
        page.wait_for_url("**/register/done")
        expect(page.locator("body")).to_contain_text("Check your email")
    finally:
        context.close()
    devstack.wait_for_mail(to=email, timeout=90)
