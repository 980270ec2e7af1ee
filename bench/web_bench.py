"""Web front end benchmark: what a wizard step costs a family's phone, how long the server
takes to render a page, and whether the front end keeps up with identity.

    .venv/bin/python bench/web_bench.py [--seconds 15] [--concurrency 4] [--wizard-concurrency 16]

On the running local stack (``python -m tools.devstack up``) it starts a portal of its own
(identity, linking, notifier, scheduler and the web front end, under prefixes of their
own, ports shifted by 600) and measures in one run:

1. **Page weight**: Debian's Chromium (Playwright) walks the registration wizard; for
   every step, the requests and the bytes on the wire (compressed bodies and headers, as
   ``Request.sizes()`` reports them) of a *cold* load (a new browser context with the
   session's cookie only: nothing cached) and of the *warm* load a guardian gets pressing
   Next. Goal: under 60 KB and under 6 requests per step.
2. **Render time**: sequential GETs of rendered pages beside GETs of a static file of the
   same process (the stylesheet), per request.
3. **Registrations/s through the wizard** (every step posted as a browser with JavaScript
   off does, the redirects followed and the next page rendered, then Finish; 16 guardians
   at once) beside registrations/s on identity's API alone with the same body (4 clients,
   enough to keep argon2id busy), in alternating rounds. Goal ≥ 0.9: the front end must
   not be the bottleneck.

Figures go to ``bench/out/web.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.*, tools.* when run as a script

from benchkit import figure, log  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.harness import Portal, new_portal, start_portal, stop_portal  # noqa: E402
from tests.oneroster import Student, bundle  # noqa: E402

OUT = ROOT / "bench" / "out" / "web.json"
PORT_OFFSET = 600
PASSWORD = "Secr3t!pw-bench"
CHILD = Student(f"WB{uuid.uuid4().hex[:5].upper()}", "90900001", "Ana", "Bench")
CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
QUESTION = re.compile(r'<option value="([^"]+)"')
STYLESHEET = re.compile(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"')


# --- the portal ---------------------------------------------------------------------------


def start() -> Portal:
    portal = new_portal(
        ["identity", "linking", "notifier", "scheduler", "web"], port_offset=PORT_OFFSET
    )
    for service in portal.services.values():
        service.env["LOG_LEVEL"] = "WARNING"
    start_portal(portal)
    from linking.devtools import mint_staff_token

    admin = mint_staff_token([], role="district_admin", subject="admin-bench")
    response = httpx.post(
        f"{portal.url('linking')}/v1/roster/imports",
        headers={"Authorization": f"Bearer {admin}"},
        files={"file": ("roster.zip", bundle([CHILD]), "application/zip")},
        timeout=60,
    )
    response.raise_for_status()
    return portal


# --- 1. page weight -----------------------------------------------------------------------


def page_weight(portal: Portal) -> list[dict[str, Any]]:
    """Requests and bytes per wizard step, cold and warm, in a real browser."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if not executable:
        raise SystemExit("Debian's chromium is missing: make chromium")
    steps: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=portal.url("web"))
            page = context.new_page()
            seen = Recorder()
            page.on("requestfinished", seen.add)

            def warm(slug: str, action: Any) -> None:
                seen.clear()
                action()
                page.wait_for_url(f"**/register/{slug}")
                page.wait_for_load_state("load")
                steps.append({"step": slug, "warm": seen.weigh()})

            warm("welcome", lambda: page.goto("/register"))
            for slug, fill in _wizard_fills(page):
                fill()
                warm(slug, lambda: page.locator("button[value=next]").click())
            state = context.storage_state()
            context.close()
            for step in steps:
                cold = browser.new_context(base_url=portal.url("web"), storage_state=state)
                tab = cold.new_page()
                fresh = Recorder()
                tab.on("requestfinished", fresh.add)
                tab.goto(f"/register/{step['step']}")
                tab.wait_for_load_state("load")
                step["cold"] = fresh.weigh()
                cold.close()
        finally:
            browser.close()
    for step in steps:
        log(
            f"  {step['step']:<13} cold {step['cold']['requests']} requests "
            f"{step['cold']['bytes'] / 1024:6.1f} KB · warm {step['warm']['requests']} "
            f"requests {step['warm']['bytes'] / 1024:6.1f} KB"
        )
    return steps


class Recorder:
    """The requests a page finished since the last :meth:`clear`."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def add(self, request: Any) -> None:
        self.requests.append(request)

    def clear(self) -> None:
        self.requests.clear()

    def weigh(self) -> dict[str, Any]:
        """Requests and bytes on the wire both ways (compressed bodies and headers), and
        what each request was."""
        parts = []
        for request in self.requests:
            sizes = request.sizes()
            wire = sum(
                max(0, sizes[k])
                for k in (
                    "responseBodySize",
                    "responseHeadersSize",
                    "requestBodySize",
                    "requestHeadersSize",
                )
            )
            parts.append({"url": urlsplit(request.url).path, "bytes": wire})
        total = sum(part["bytes"] for part in parts)
        return {"requests": len(parts), "bytes": total, "parts": parts}


def _wizard_fills(page: Any) -> list[tuple[str, Any]]:
    """(next step, what to fill before pressing Next) for every step up to the review."""

    def tick(field_id: str) -> None:
        page.locator(f"label[for='{field_id}']").click()

    def account() -> None:
        page.fill("#f-email", f"web-bench-{uuid.uuid4().hex[:8]}@example.net")
        page.fill("#f-first-name", "Bench")
        page.fill("#f-last-name", "Guardian")
        page.fill("#f-password", PASSWORD)
        page.fill("#f-password-confirm", PASSWORD)

    def personal() -> None:
        page.fill("#f-phones-mobile-number", "904-555-0100")
        tick("f-phones-home-choice-same")
        tick("f-phones-emergency-mobile")
        page.fill("#f-address-street", "111 Street Dr.")
        page.fill("#f-address-city", "Jacksonville")
        page.fill("#f-address-state", "FL")
        page.fill("#f-address-zip", "32207")

    def security() -> None:
        options = page.locator("#f-security-answers-0-question-id option").evaluate_all(
            "os => os.map(o => o.value).filter(Boolean)"
        )
        for i in range(3):
            page.select_option(f"#f-security-answers-{i}-question-id", options[i])
            page.fill(f"#f-security-answers-{i}-answer", f"bench answer {i}")

    def students() -> None:
        tick("f-student-choice-claim")
        page.select_option("#f-new-claim-school-id", label=f"School {CHILD.school_id}")
        page.fill("#f-new-claim-student-id", CHILD.student_id)
        page.fill("#f-new-claim-student-last-name", CHILD.family_name)

    return [
        ("usage-policy", lambda: None),
        ("account", lambda: tick("f-accepted-usage-policy")),
        ("personal", account),
        ("security", personal),
        ("students", security),
        ("review", students),
    ]


# --- 2. render time -----------------------------------------------------------------------


def render_times(portal: Portal, count: int) -> dict[str, float]:
    """Mean milliseconds per sequential GET: rendered pages and the static stylesheet."""
    web = portal.url("web")
    with httpx.Client(base_url=web, timeout=30) as client:
        sign_in = client.get("/sign-in")
        sign_in.raise_for_status()
        found = STYLESHEET.search(sign_in.text)
        if not found:
            raise SystemExit("no stylesheet link on /sign-in")
        targets = {"sign-in page": "/sign-in", "wizard welcome": "/register/welcome",
                   "static stylesheet": found.group(1)}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(count):  # interleaved, so a busy moment hits all three alike
            for name, path in targets.items():
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times[name].append(time.perf_counter() - started)
    means = {name: 1000 * statistics.fmean(samples) for name, samples in times.items()}
    for name, mean in means.items():
        log(f"  {name:<18} {mean:6.2f} ms per GET")
    return means


# --- 3. registrations through the wizard vs identity's API --------------------------------


#: The wizard's form fields, step by step (the API body is made from the same draft).
FORMS: list[tuple[str, dict[str, str]]] = [
    ("welcome", {}),
    ("usage-policy", {"accepted_usage_policy": "on"}),
    ("account", {"first_name": "Bench", "last_name": "Guardian", "password": PASSWORD,
                 "password_confirm": PASSWORD}),
    ("personal", {"phones.mobile.number": "904-555-0100", "phones.home.choice": "same",
                  "phones.emergency": "mobile", "address.street": "111 Street Dr.",
                  "address.city": "Jacksonville", "address.state": "FL", "address.zip": "32207"}),
]  # fmt: skip


def _security(questions: list[str]) -> dict[str, str]:
    fields = {}
    for i, question in enumerate(questions):
        fields[f"security_answers.{i}.question_id"] = question
        fields[f"security_answers.{i}.answer"] = f"bench answer {i}"
    return fields


def _api_body(email: str, questions: list[str]) -> dict[str, Any]:
    """identity's registration body for the same answers, made as the web front end makes
    it from a finished draft."""
    from web.wizard import registration_body

    draft: dict[str, Any] = {"email": email, "student_choice": "none", **_security(questions)}
    for _, fields in FORMS:
        draft.update(fields)
    return registration_body(draft, locale="en", question_count=len(questions))


async def _through_wizard(client: httpx.AsyncClient, n: int) -> bool:
    """One registration as the browser with JavaScript off does it."""
    email = f"wb-{n}-{uuid.uuid4().hex[:8]}@example.net"
    page = await client.get("/register/welcome")
    for slug, fields in FORMS:
        extra = {"email": email} if slug == "account" else {}
        page = await _post(client, slug, page, {**fields, **extra})
    questions = [q for q in QUESTION.findall(page.text) if q][:3]
    security = _security(questions)
    page = await _post(client, "security", page, security)
    page = await _post(client, "students", page, {"student_choice": "none"})
    page = await _post(client, "review", page, {})
    return page.status_code == 200 and page.url.path.endswith("/register/done")


async def _post(
    client: httpx.AsyncClient, slug: str, page: httpx.Response, fields: dict[str, str]
) -> httpx.Response:
    token = CSRF.search(page.text)
    if not token:
        raise RuntimeError(f"no form on the page before {slug} ({page.status_code})")
    return await client.post(
        f"/register/{slug}", data={"csrf_token": token.group(1), "action": "next", **fields}
    )


async def registrations(
    portal: Portal, seconds: float, concurrency: int, wizard_concurrency: int, rounds: int
) -> dict[str, float]:
    """Registrations/s through the wizard and on identity alone, alternating rounds."""
    web, identity = portal.url("web"), portal.url("identity")
    async with httpx.AsyncClient(timeout=30) as api:
        listed = await api.get(f"{identity}/v1/security-questions")
        listed.raise_for_status()
        questions = [q["question_id"] for q in listed.json()["questions"]]
        questions = questions[: listed.json()["required"]]
    counter = iter(range(10**9))

    async def wizard_worker(deadline: float) -> tuple[int, int]:
        ok = failed = 0
        while time.monotonic() < deadline:
            async with httpx.AsyncClient(
                base_url=web, timeout=60, follow_redirects=True,
                headers={"X-Forwarded-For": f"10.{next(counter) % 250}.0.1"},
            ) as client:  # fmt: skip
                try:
                    done = await _through_wizard(client, next(counter))
                except (httpx.HTTPError, RuntimeError):
                    done = False
            ok, failed = ok + done, failed + (not done)
        return ok, failed

    async def api_worker(deadline: float) -> tuple[int, int]:
        ok = failed = 0
        async with httpx.AsyncClient(base_url=identity, timeout=60) as client:
            while time.monotonic() < deadline:
                n = next(counter)
                body = _api_body(f"ib-{n}-{uuid.uuid4().hex[:8]}@example.net", questions)
                answer = await client.post(
                    "/v1/accounts", json=body, headers={"X-Forwarded-For": f"10.{n % 250}.1.1"}
                )
                ok, failed = ok + (answer.status_code == 202), failed + (answer.status_code != 202)
        return ok, failed

    totals = {"wizard": [0, 0, 0.0], "api": [0, 0, 0.0]}
    for _ in range(rounds):
        for name, worker, width in (
            ("wizard", wizard_worker, wizard_concurrency),
            ("api", api_worker, concurrency),
        ):
            started = time.monotonic()
            results = await asyncio.gather(
                *(worker(started + seconds / rounds) for _ in range(width))
            )
            totals[name][0] += sum(r[0] for r in results)
            totals[name][1] += sum(r[1] for r in results)
            totals[name][2] += time.monotonic() - started
    rates = {name: ok / elapsed for name, (ok, _, elapsed) in totals.items()}
    for name, (ok, failed, elapsed) in totals.items():
        log(f"  {name:<7} {ok} ok, {failed} failed in {elapsed:.1f} s: {rates[name]:.1f}/s")
    rates["wizard_failed"], rates["api_failed"] = totals["wizard"][1], totals["api"][1]
    return rates


# --- main ---------------------------------------------------------------------------------


async def measure_registrations(portal: Portal, args: argparse.Namespace) -> dict[str, float]:
    return await registrations(
        portal, args.seconds * 2, args.concurrency, args.wizard_concurrency, args.rounds
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per registration figure")
    parser.add_argument("--concurrency", type=int, default=4, help="API clients")
    parser.add_argument(
        "--wizard-concurrency", type=int, default=16,
        help="guardians in the wizard at once (a registration is 17 requests, one hashes)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="alternations wizard/API")
    parser.add_argument("--gets", type=int, default=200, help="GETs per render-time figure")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    log(f"web bench on {platform.machine()}, {cores} cores")
    portal = start()
    try:
        log("1. page weight per wizard step (Chromium)")
        steps = page_weight(portal)
        log("2. render time")
        render = render_times(portal, args.gets)
        log("3. registrations through the wizard vs identity's API")
        rates = asyncio.run(measure_registrations(portal, args))
    finally:
        stop_portal(portal)
    heaviest = max(steps, key=lambda s: s["cold"]["bytes"])
    most = max(steps, key=lambda s: s["cold"]["requests"])
    static = render["static stylesheet"]
    log("\nresults (value | same-run baseline | ratio)")
    figures = [
        figure(f"heaviest step, cold ({heaviest['step']})", heaviest["cold"]["bytes"] / 1024,
               "KB", "goal: 60 KB per step", 60.0, "≤ 1"),
        figure(f"most requests, cold ({most['step']})", most["cold"]["requests"], "requests",
               "goal: 6 requests per step", 6.0, "< 1"),
        figure("sign-in page render", render["sign-in page"], "ms", "static file, same process",
               static, "info"),
        figure("wizard step render", render["wizard welcome"], "ms", "static file, same process",
               static, "info"),
        figure("registrations/s through the wizard", rates["wizard"], "/s",
               "identity API registrations/s", rates["api"], "≥ 0.9"),
    ]  # fmt: skip
    data = {
        "benchmark": "web",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": cores},
        "figures": figures,
        "steps": steps,
        "render_ms": render,
        "registrations": rates,
        "notes": (
            f"{cores} cores shared by the browser or load generator, the five services, Kafka "
            "and the MongoDB-protocol server. Bytes are what crossed the wire (compressed "
            "bodies and headers, both ways); a cold load has nothing cached, a warm one is "
            "the next step after Next. A registration through the wizard is 8 form posts, "
            "each followed by the next page's render, then identity's registration; the API "
            f"figure posts the same body to identity directly; {args.rounds} alternating "
            f"rounds of each, {args.concurrency} API clients and {args.wizard_concurrency} "
            "guardians in the wizard at once (a wizard registration is 17 requests of which "
            "one hashes: as many guardians as it takes to keep identity busy)."
        ),
        "command": ".venv/bin/python bench/web_bench.py",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {OUT.relative_to(ROOT)}")
    failed = rates["wizard_failed"] + rates["api_failed"]
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
