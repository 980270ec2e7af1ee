"""The staff help desk (issue 16, item 5): what families are sent to the school for.

A district admin looks a guardian's account up by email, sees its state (unverified,
active, locked, disabled), sends a new verification email, lifts a sign-in lockout, and
closes the account at the guardian's request.
Identity does not know which students a guardian is linked to, so a school's own staff
cannot be limited to their schools' families here: these calls are for district admins
only (school staff get 403 ``district-admin-only``). Every call, lookups included, is
recorded on the account (``staff_audit``: who, what, when) and logged as a
``staff.helpdesk`` event without the email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from identity.domain.model import Status, truncate_ms
from identity.domain.normalise import normalise_email
from identity.domain.tokens import hash_token, new_token
from shared.contracts.events import AccountDeleted, EmailVerificationRequested
from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy, StaffAccess
from shared.runtime.problems import register_messages
from shared.runtime.staff_tokens import STAFF_TOKEN_MESSAGES

log = get_logger(__name__)

MESSAGES: dict[str, dict[str, str]] = {
    "district_admin_only": {
        "en": "Only a district administrator can use the help desk.",
        "es": "Solo un administrador del distrito puede usar el servicio de ayuda.",
    },
    "account_not_found": {
        "en": "No guardian account with this email or id.",
        "es": "No hay ninguna cuenta de tutor con este correo o identificador.",
    },
    "account_already_verified": {
        "en": "This account's email is already verified; nothing was sent.",
        "es": "El correo de esta cuenta ya está verificado; no se envió nada.",
    },
}


class HelpDeskRefusal(Exception):
    """A help-desk request refused with a problem (status, code)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


class HelpDeskAccounts(Protocol):
    """Port: the accounts as the help desk reads and changes them."""

    async def by_id(self, account_id: str) -> dict[str, Any] | None: ...
    async def by_email(self, email: str) -> dict[str, Any] | None: ...
    async def unlock(
        self, account_id: str, entry: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None: ...
    async def audit(self, account_id: str, entry: dict[str, Any]) -> None: ...


class AccountWrites(Protocol):
    """Port: the accounts repository's transitions the help desk reuses (state and
    events committed together)."""

    async def add_verify_token(
        self, account_id: str, token_hash: str, expires_at: datetime, events: Any,
        now: datetime, statuses: Any,
    ) -> bool: ...
    async def erase(
        self, account_id: str, last_activity: datetime, now: datetime, events: Any
    ) -> bool: ...
    async def release_email(self, email: str, account_id: str) -> None: ...


def account_state(acc: dict[str, Any], now: datetime) -> str:
    """unverified | active | locked | disabled, as staff see it."""
    status = acc.get("status")
    if status == Status.ACTIVE:
        until = acc.get("locked_until")
        if until is not None and until.replace(tzinfo=until.tzinfo or UTC) > now:
            return "locked"
        return "active"
    return str(status)


def account_view(acc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the help desk shows of an account (no hash, token or answer)."""
    return {
        "account_id": acc["_id"],
        "email": acc.get("email"),
        "first_name": acc.get("first_name"),
        "last_name": acc.get("last_name"),
        "locale": acc.get("locale", "en"),
        "state": account_state(acc, now),
        "created_at": acc.get("created_at"),
        "verified_at": acc.get("verified_at"),
        "last_activity_at": acc.get("last_activity_at"),
        "locked_until": acc.get("locked_until"),
        "failed_signins": int(acc.get("failed_signins") or 0),
        "staff_audit": list(acc.get("staff_audit") or [])[-20:],
    }


@dataclass
class HelpDesk:
    """The help-desk use cases."""

    accounts: HelpDeskAccounts
    repo: AccountWrites
    policy: DistrictPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def now(self) -> datetime:
        return truncate_ms(self.clock())

    def _require_admin(self, staff: StaffAccess, action: str) -> None:
        if not staff.district_admin:
            log.warning("security.forbidden", staff_id=staff.staff_id, action=action)
            raise HelpDeskRefusal(403, "district_admin_only")

    def _entry(self, staff: StaffAccess, action: str, now: datetime) -> dict[str, Any]:
        return {"action": action, "by": staff.staff_id, "at": now}

    async def _record(self, staff: StaffAccess, acc: dict[str, Any], action: str) -> None:
        now = self.now()
        await self.accounts.audit(acc["_id"], self._entry(staff, action, now))
        log.info("staff.helpdesk", staff_id=staff.staff_id, action=action, account_id=acc["_id"])

    async def look_up(self, staff: StaffAccess, raw_email: str) -> dict[str, Any]:
        """The account of ``raw_email`` (404 ``account_not_found``)."""
        self._require_admin(staff, "look_up")
        acc = await self.accounts.by_email(normalise_email(raw_email))
        if acc is None:
            log.info("staff.helpdesk", staff_id=staff.staff_id, action="look_up", found=False)
            raise HelpDeskRefusal(404, "account_not_found")
        await self._record(staff, acc, "looked_up")
        refreshed = await self.accounts.by_id(acc["_id"])
        return account_view(refreshed or acc, self.now())

    async def account(self, staff: StaffAccess, account_id: str) -> dict[str, Any]:
        """The account ``account_id``."""
        self._require_admin(staff, "look_up")
        acc = await self.accounts.by_id(account_id)
        if acc is None:
            raise HelpDeskRefusal(404, "account_not_found")
        await self._record(staff, acc, "looked_up")
        return account_view(await self.accounts.by_id(account_id) or acc, self.now())

    async def resend_verification(self, staff: StaffAccess, account_id: str) -> dict[str, Any]:
        """A new verification email (as the guardian's own "resend"): only for an
        unverified or disabled account (409 ``account_already_verified`` otherwise)."""
        self._require_admin(staff, "resend_verification")
        acc = await self.accounts.by_id(account_id)
        if acc is None:
            raise HelpDeskRefusal(404, "account_not_found")
        if acc["status"] not in (Status.UNVERIFIED, Status.DISABLED):
            raise HelpDeskRefusal(409, "account_already_verified")
        now = self.now()
        token = new_token()
        expires = now + timedelta(hours=self.policy.tokens.verification_hours)
        reason = "resend" if acc["status"] == Status.UNVERIFIED else "reactivation"
        event = EmailVerificationRequested(
            account_id=acc["_id"], email=acc["email"], locale=acc.get("locale", "en"),
            first_name=acc.get("first_name") or "", token=token, expires_at=expires,
            reason=reason,
        )
        stored = await self.repo.add_verify_token(
            acc["_id"], hash_token(token), expires, [event], now,
            statuses=[Status.UNVERIFIED, Status.DISABLED],
        )
        if not stored:  # verified (or deleted) in between
            raise HelpDeskRefusal(409, "account_already_verified")
        await self._record(staff, acc, "verification_email_sent")
        return account_view(await self.accounts.by_id(account_id) or acc, now)

    async def lift_lockout(self, staff: StaffAccess, account_id: str) -> dict[str, Any]:
        """Clear the lockout and the failed sign-in count (idempotent)."""
        self._require_admin(staff, "lift_lockout")
        now = self.now()
        acc = await self.accounts.unlock(
            account_id, self._entry(staff, "lockout_lifted", now), now
        )
        if acc is None:
            raise HelpDeskRefusal(404, "account_not_found")
        log.info(
            "staff.helpdesk", staff_id=staff.staff_id, action="lockout_lifted",
            account_id=account_id,
        )
        return account_view(acc, now)

    async def cancel_account(self, staff: StaffAccess, account_id: str) -> dict[str, Any]:
        """Close the account at the guardian's request (after checking their ID): personal
        data erased as for inactivity, ``AccountDeleted`` (reason ``guardian_request``)
        published so that linking revokes the links and the scheduler drops the timers.
        The staff audit entry stays (no personal data in it)."""
        self._require_admin(staff, "cancel_account")
        acc = await self.accounts.by_id(account_id)
        if acc is None:
            raise HelpDeskRefusal(404, "account_not_found")
        now = self.now()
        await self.accounts.audit(account_id, self._entry(staff, "account_cancelled", now))
        done = await self.repo.erase(
            account_id, now, now,
            [AccountDeleted(account_id=account_id, reason="guardian_request", at=now)],
        )
        if not done:
            raise HelpDeskRefusal(404, "account_not_found")
        if acc.get("email"):
            await self.repo.release_email(acc["email"], account_id)
        log.info(
            "staff.helpdesk", staff_id=staff.staff_id, action="account_cancelled",
            account_id=account_id,
        )
        return {"account_id": account_id, "state": "deleted", "staff_audit": [
            self._entry(staff, "account_cancelled", now)
        ]}


def register() -> None:
    """Add the help desk's and the staff tokens' messages to the problem catalog."""
    register_messages(MESSAGES)
    register_messages(STAFF_TOKEN_MESSAGES)
