"""Errors raised by the use cases; entrypoints turn them into RFC 9457 problems.

Each error carries a stable ``code`` (the problem ``type`` and the translated message
key) and its HTTP status. Guardian-facing codes have messages in every locale
(``linking.messages``).
"""

from __future__ import annotations


class LinkingError(Exception):
    """Base of every expected failure of a use case."""

    code = "linking-error"
    status = 400

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.extra = extra


class StudentNotMatched(LinkingError):
    """Generic answer for any mismatch: it never says which detail was wrong, nor whether
    the student exists."""

    code = "student-not-matched"
    status = 422


class TooManyAttempts(LinkingError):
    """Failed matches (or codes, or legacy passwords) exceeded the daily limit."""

    code = "too-many-attempts"
    status = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(None)
        self.retry_after_seconds = retry_after_seconds


class AttemptInProgress(TooManyAttempts):
    """Another link attempt of the same account is being checked (one at a time)."""

    code = "attempt-in-progress"

    def __init__(self) -> None:
        super().__init__(1)


class ActivationCodeInvalid(LinkingError):
    """Wrong, expired, revoked, already used, or issued for another student."""

    code = "activation-code-invalid"
    status = 422


class MethodDisabled(LinkingError):
    """The district policy does not enable this link method."""

    code = "link-method-disabled"
    status = 422


class LinkNotFound(LinkingError):
    code = "link-not-found"
    status = 404


class LinkNotPending(LinkingError):
    """The link is not in a state that allows the action (e.g. already decided)."""

    code = "link-state-conflict"
    status = 409


class LinkRevokedConflict(LinkingError):
    """A revoked link blocks new online requests for the same guardian and student."""

    code = "link-revoked"
    status = 409


class AccountUnavailable(LinkingError):
    """The guardian account was deleted."""

    code = "account-unavailable"
    status = 403


class Forbidden(LinkingError):
    """A staff member acted outside the schools of their token, or without the role."""

    code = "forbidden"
    status = 403


class GuardianNotFound(LinkingError):
    """No guardian with this email is linked or asking for a student of the school (the
    same answer whether the email is unknown or belongs to another school's family)."""

    code = "guardian-not-found"
    status = 404


class RestrictionNotFound(LinkingError):
    """Staff lifted a restriction that does not exist."""

    code = "restriction-not-found"
    status = 404


class StudentNotFound(LinkingError):
    """Staff asked about a student that is not on the school's active roster."""

    code = "student-not-found"
    status = 404


class ActivationCodeNotFound(LinkingError):
    code = "activation-code-not-found"
    status = 404


class ActivationCodeUsed(LinkingError):
    """An activation code that was already used cannot be revoked (revoke the link)."""

    code = "activation-code-used"
    status = 409


class RosterFileInvalid(LinkingError):
    """The roster bundle cannot be imported at all; nothing was written."""

    code = "roster-file-invalid"
    status = 422


class LegacyFileInvalid(LinkingError):
    """The legacy credentials file cannot be imported at all; nothing was written."""

    code = "legacy-file-invalid"
    status = 422


class ConcurrentUpdate(LinkingError):
    """The link changed while the action was applied; the client may retry."""

    code = "concurrent-update"
    status = 409
