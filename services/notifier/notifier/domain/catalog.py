"""Which mail each event causes, to whom, in which language, with which data.

Pure: an event of the contract in, :class:`MailRequest` values out. The template data
keeps dates as ``datetime`` (the renderer formats them for the guardian's locale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from notifier.domain.model import Template
from shared.contracts import events as ev
from shared.deadlines import days_allowed
from shared.locales import FALLBACK_LOCALE, SUPPORTED_LOCALES
from shared.runtime.policy import DistrictPolicy


@dataclass(frozen=True)
class MailRequest:
    """One mail an event asks for (the address may be missing: recorded as skipped)."""

    template: Template
    account_id: str
    to: str | None
    locale: str
    #: Name for the ``To`` header and the greeting (may be missing).
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: Do not send after this time (the link in the mail has expired).
    send_before: Any = None


def resolve_locale(locale: str | None, policy: DistrictPolicy | None = None) -> str:
    """The catalog locale for a guardian's locale tag (``es-MX`` → ``es``); English when
    the language has no catalog or the district does not offer it."""
    base = (locale or "").strip().lower().replace("_", "-").split("-")[0]
    offered = set(policy.locales) if policy is not None else set(SUPPORTED_LOCALES)
    if base in SUPPORTED_LOCALES and base in offered:
        return base
    return FALLBACK_LOCALE


def portal_link(portal_url: str, path: str = "", token: str | None = None) -> str:
    """``<PORTAL_PUBLIC_URL>/<path>?token=…`` (token URL-encoded)."""
    url = portal_url.rstrip("/") + (f"/{path.lstrip('/')}" if path else "/")
    if token is not None:
        url += f"?token={quote(token, safe='')}"
    return url


def _days_allowed(start: Any, end: Any, p: DistrictPolicy) -> int:
    """The "N days" of a request made at ``start`` whose last day ends at ``end``, counted
    in local days as linking counted them (``shared/deadlines.py``)."""
    try:
        return max(1, days_allowed(start, end, p.tz))
    except (TypeError, AttributeError):
        return p.links.deadline_days


Builder = Callable[[Any, str, DistrictPolicy], list[MailRequest]]


def _verification(
    e: ev.EmailVerificationRequested, url: str, p: DistrictPolicy
) -> list[MailRequest]:
    return [
        MailRequest(
            Template.VERIFICATION,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {
                "reason": e.reason,
                "action_url": portal_link(url, "verify-email", e.token),
                "expires_at": e.expires_at,
            },
            send_before=e.expires_at,
        )
    ]


def _duplicate(
    e: ev.DuplicateRegistrationAttempted, url: str, p: DistrictPolicy
) -> list[MailRequest]:
    return [
        MailRequest(
            Template.DUPLICATE_REGISTRATION,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {"at": e.at, "action_url": portal_link(url)},
        )
    ]


def _welcome(e: ev.EmailVerified, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.WELCOME,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {
                "reactivated": e.reactivated,
                "deadline_days": p.links.deadline_days,
                "action_url": portal_link(url),
            },
        )
    ]


def _reset(e: ev.PasswordResetRequested, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.PASSWORD_RESET,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {
                "action_url": portal_link(url, "reset-password", e.token),
                "expires_at": e.expires_at,
            },
            send_before=e.expires_at,
        )
    ]


def _password_changed(e: ev.PasswordChanged, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.PASSWORD_CHANGED,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {"via": e.via, "changed_at": e.changed_at, "action_url": portal_link(url)},
        )
    ]


def _disabled(e: ev.AccountDisabled, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.ACCOUNT_DISABLED,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {
                "inactivity": "inactiv" in e.reason.lower(),
                "at": e.at,
                "disable_months": p.inactivity.disable_after_months,
                "delete_months": p.inactivity.delete_after_months,
                "action_url": portal_link(url),
            },
        )
    ]


def _link_requested(e: ev.LinkRequested, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_PENDING,
            e.account_id,
            e.guardian_email,
            e.locale,
            e.guardian_name,
            {
                "student_id": e.student_id,
                "school_id": e.school_id,
                "expires_at": e.expires_at,
                "days": _days_allowed(e.requested_at, e.expires_at, p),
                "action_url": portal_link(url),
            },
        )
    ]


def _link_approved(e: ev.LinkApproved, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_APPROVED,
            e.account_id,
            e.guardian.email,
            e.locale,
            e.guardian.name,
            {
                "student": e.student.first_name or e.student.student_id,
                "student_id": e.student.student_id,
                "school_id": e.student.school_id,
                "action_url": portal_link(url),
            },
        )
    ]


def _link_denied(e: ev.LinkDenied, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_DENIED,
            e.account_id,
            e.guardian_email,
            e.locale,
            e.guardian_name,
            {
                "student_id": e.student_id,
                "school_id": e.school_id,
                "reason": e.reason,
                "action_url": portal_link(url),
            },
        )
    ]


def _link_expired(e: ev.LinkExpired, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_EXPIRED,
            e.account_id,
            e.guardian_email,
            e.locale,
            e.guardian_name,
            {
                "student_id": e.student_id,
                "school_id": e.school_id,
                "days": _days_allowed(e.requested_at, e.expired_at, p),
                "action_url": portal_link(url),
            },
        )
    ]


def _link_revoked(e: ev.LinkRevoked, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_REVOKED,
            e.account_id,
            e.guardian_email,
            e.locale,
            e.guardian_name,
            {
                "student_id": e.student_id,
                "school_id": e.school_id,
                "reason": e.reason,
                "action_url": portal_link(url),
            },
        )
    ]


def _link_reminder(e: ev.LinkExpiryReminder, url: str, p: DistrictPolicy) -> list[MailRequest]:
    return [
        MailRequest(
            Template.LINK_EXPIRY_REMINDER,
            e.account_id,
            e.guardian_email,
            e.locale,
            e.guardian_name,
            {
                "student_id": e.student_id,
                "school_id": e.school_id,
                "expires_at": e.expires_at,
                "action_url": portal_link(url),
            },
            send_before=e.expires_at,
        )
    ]


def _inactivity_reminder(
    e: ev.InactivityReminder, url: str, p: DistrictPolicy
) -> list[MailRequest]:
    return [
        MailRequest(
            Template.INACTIVITY_REMINDER,
            e.account_id,
            e.email,
            e.locale,
            e.first_name,
            {
                "last_activity_at": e.last_activity_at,
                "disable_at": e.disable_at,
                "action_url": portal_link(url),
            },
            send_before=e.disable_at,
        )
    ]


BUILDERS: dict[type[ev.Event], Builder] = {
    ev.EmailVerificationRequested: _verification,
    ev.DuplicateRegistrationAttempted: _duplicate,
    ev.EmailVerified: _welcome,
    ev.PasswordResetRequested: _reset,
    ev.PasswordChanged: _password_changed,
    ev.AccountDisabled: _disabled,
    ev.LinkRequested: _link_requested,
    ev.LinkApproved: _link_approved,
    ev.LinkDenied: _link_denied,
    ev.LinkExpired: _link_expired,
    ev.LinkRevoked: _link_revoked,
    ev.LinkExpiryReminder: _link_reminder,
    ev.InactivityReminder: _inactivity_reminder,
}


def mail_requests(event: ev.Event, *, portal_url: str, policy: DistrictPolicy) -> list[MailRequest]:
    """The mails ``event`` causes (empty for events that mail nobody)."""
    builder = BUILDERS.get(type(event))
    if builder is None:
        return []
    requests = builder(event, portal_url, policy)
    return [
        MailRequest(
            r.template,
            r.account_id,
            (r.to or "").strip() or None,
            resolve_locale(r.locale, policy),
            (r.name or "").strip() or None,
            r.data,
            r.send_before,
        )
        for r in requests
    ]
