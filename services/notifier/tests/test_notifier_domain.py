"""Pure domain rules: which mail each event causes, preferences, ids, backoff, rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from notifier.domain.catalog import mail_requests, portal_link, resolve_locale
from notifier.domain.model import (
    CATEGORY,
    Category,
    Notification,
    RenderedMail,
    RetryPolicy,
    SkipReason,
    Status,
    Template,
    message_id,
    notification_id,
)
from notifier.domain.preferences import Recipient, decide
from notifier.domain.ratelimit import TokenBucket
from notifier_events import NOW, every_mail_event

from shared.contracts import events as ev
from shared.runtime.policy import DistrictPolicy, load_policy

POLICY = load_policy()
URL = "https://portal.example.org/"


def test_every_mail_event_maps_to_its_template() -> None:
    expected = [
        Template.VERIFICATION, Template.DUPLICATE_REGISTRATION, Template.WELCOME,
        Template.PASSWORD_RESET, Template.PASSWORD_CHANGED, Template.ACCOUNT_DISABLED,
        Template.LINK_PENDING, Template.LINK_APPROVED, Template.LINK_DENIED,
        Template.LINK_EXPIRED, Template.LINK_REVOKED, Template.LINK_EXPIRY_REMINDER,
        Template.INACTIVITY_REMINDER,
    ]  # fmt: skip
    got = [mail_requests(e, portal_url=URL, policy=POLICY) for e in every_mail_event()]
    assert [r[0].template for r in got] == expected
    assert {r[0].to for r in got} == {"jenny@example.net"}
    assert {r[0].locale for r in got} == {"es"}
    assert set(expected) == set(Template)


def test_links_carry_the_url_encoded_token() -> None:
    verification, _, _, reset, *_ = every_mail_event()
    (v,) = mail_requests(verification, portal_url=URL, policy=POLICY)
    (r,) = mail_requests(reset, portal_url=URL, policy=POLICY)
    assert v.data["action_url"] == "https://portal.example.org/verify-email?token=t0k%2Fen"
    assert r.data["action_url"] == "https://portal.example.org/reset-password?token=r3set"
    assert v.send_before == verification.expires_at and r.send_before == reset.expires_at


def test_pending_link_deadline_days_come_from_the_event() -> None:
    pending = every_mail_event()[6]
    assert isinstance(pending, ev.LinkRequested)
    shorter = pending.model_copy(update={"expires_at": NOW + timedelta(days=10)})
    (req,) = mail_requests(shorter, portal_url=URL, policy=POLICY)
    assert req.data["days"] == 10 and req.data["expires_at"] == NOW + timedelta(days=10)


def test_events_without_address_still_yield_a_request_to_record() -> None:
    revoked = ev.LinkRevoked(
        link_id="L", account_id="A", student_id="s", school_id="x", reason="r", revoked_at=NOW
    )
    (req,) = mail_requests(revoked, portal_url=URL, policy=POLICY)
    assert req.to is None and req.template is Template.LINK_REVOKED
    assert decide(req.template, req.to, None).reason is SkipReason.NO_ADDRESS


def test_non_mail_events_cause_nothing() -> None:
    signed_in = ev.AccountSignedIn(account_id="A", at=NOW)
    assert mail_requests(signed_in, portal_url=URL, policy=POLICY) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("AR", "ar"),
        ("ht_HT", "ht"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_resolve_locale(given: str | None, expected: str) -> None:
    assert resolve_locale(given, POLICY) == expected


def test_locale_not_offered_by_the_district_falls_back_to_english() -> None:
    policy = DistrictPolicy(locales=["en", "es"])
    assert resolve_locale("vi", policy) == "en"
    assert resolve_locale("es", policy) == "es"


def test_portal_link() -> None:
    assert portal_link("http://x/", "verify-email", "a b") == "http://x/verify-email?token=a%20b"
    assert portal_link("http://x") == "http://x/"


def test_security_mail_ignores_preferences_but_not_deletion() -> None:
    opted_out = Recipient("A", kinds=(), channels=("sms",))
    for template, category in CATEGORY.items():
        decision = decide(template, "a@b.c", opted_out)
        assert decision.send is (category is Category.SECURITY)
        if not decision.send:
            assert decision.reason is SkipReason.PREFERENCES
    gone = Recipient("A", deleted=True)
    assert decide(Template.PASSWORD_RESET, "a@b.c", gone).reason is SkipReason.ACCOUNT_DELETED


def test_preferences_by_kind() -> None:
    only_links = Recipient("A", kinds=("link_updates",))
    assert decide(Template.LINK_APPROVED, "a@b.c", only_links).send
    assert not decide(Template.LINK_EXPIRY_REMINDER, "a@b.c", only_links).send
    assert not decide(Template.WELCOME, "a@b.c", only_links).send
    assert decide(Template.WELCOME, "a@b.c", None).send  # never told: everything


def test_ids_are_stable() -> None:
    nid = notification_id("evt-1", Template.WELCOME)
    assert nid == "evt-1:welcome"
    assert message_id(nid, "example.org") == message_id(nid, "example.org")
    assert message_id(nid, "example.org") != message_id("evt-2:welcome", "example.org")
    assert message_id(nid, "example.org").startswith("<") and message_id(nid, "x.org").endswith(
        "@x.org>"
    )


def test_retry_policy_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=60)
    assert policy.delay(1, rand=lambda: 0.0) == timedelta(seconds=2.5)
    assert policy.delay(1, rand=lambda: 1.0) == timedelta(seconds=5)
    assert policy.delay(3, rand=lambda: 1.0) == timedelta(seconds=20)
    assert policy.delay(30, rand=lambda: 1.0) == timedelta(seconds=60)
    assert policy.delay(30, rand=lambda: 0.0) == timedelta(seconds=30)


def test_notification_document_round_trip_and_expiry() -> None:
    mail = RenderedMail("S", "T", "<p>H</p>", "ar", "rtl")
    n = Notification.queued(
        event_id="e", event_type="PasswordResetRequested", template=Template.PASSWORD_RESET,
        account_id="A", to="a@b.c", to_name="Jen", mail=mail, now=NOW,
        send_before=NOW + timedelta(hours=1), trace_headers={"traceparent": "00-x"},
    )  # fmt: skip
    doc = n.to_document()
    assert doc["_id"] == "e:password_reset" and doc["status"] == "queued"
    assert doc["category"] == "security" and doc["next_attempt_at"] == NOW
    back = Notification.from_document(doc)
    assert back == n
    assert not n.is_too_late(NOW) and n.is_too_late(NOW + timedelta(hours=1))
    skipped = Notification.skipped(
        event_id="e", event_type="LinkRevoked", template=Template.LINK_REVOKED, account_id="A",
        locale="en", reason=SkipReason.NO_ADDRESS, now=NOW,
    )  # fmt: skip
    sdoc = skipped.to_document()
    assert sdoc["status"] == Status.SKIPPED and "to" not in sdoc and "text" not in sdoc


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


async def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = _Clock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert clock.slept == []
    for _ in range(8):
        await bucket.acquire()
    assert clock.t == pytest.approx(102.0)  # 8 more at 4/s


def test_token_bucket_refills_but_not_beyond_capacity() -> None:
    clock = _Clock()
    bucket = TokenBucket(2, capacity=2, clock=clock)
    assert bucket.try_take() == 0.0 and bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(0.5)
    clock.t += 100
    assert bucket.try_take() == 0.0 and bucket.try_take() == 0.0
    assert bucket.try_take() > 0


def test_token_bucket_rejects_a_zero_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_now_is_aware() -> None:
    assert NOW.tzinfo is UTC and datetime.now(UTC) > NOW
