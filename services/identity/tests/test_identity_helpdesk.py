"""The staff help desk's use cases on in-memory fakes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from identity.helpdesk import HelpDesk, HelpDeskRefusal, account_state

from shared.runtime.policy import StaffAccess, load_policy

NOW = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)
ADMIN = StaffAccess("admin-1", frozenset(), True)
SECRETARY = StaffAccess("sec-1", frozenset({"0123"}), False)


class FakeAccounts:
    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["_id"]: d for d in docs}
        self.tokens: list[tuple[str, list[Any]]] = []
        self.erased: list[tuple[str, list[Any]]] = []
        self.released: list[str] = []

    async def by_id(self, account_id: str) -> dict[str, Any] | None:
        doc = self.docs.get(account_id)
        return copy.deepcopy(doc) if doc and doc["status"] != "deleted" else None

    async def by_email(self, email: str) -> dict[str, Any] | None:
        found = [d for d in self.docs.values() if d["email"] == email]
        return await self.by_id(found[0]["_id"]) if found else None

    async def unlock(self, account_id: str, entry: dict[str, Any], now: datetime) -> Any:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] == "deleted":
            return None
        doc["failed_signins"] = 0
        doc.pop("locked_until", None)
        doc.setdefault("staff_audit", []).append(entry)
        return copy.deepcopy(doc)

    async def audit(self, account_id: str, entry: dict[str, Any]) -> None:
        self.docs[account_id].setdefault("staff_audit", []).append(entry)

    async def erase(self, account_id: str, last_activity: datetime, now: datetime,
                    events: Any) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] == "deleted":
            return False
        audit = doc.get("staff_audit", [])
        self.docs[account_id] = {"_id": account_id, "status": "deleted", "email": None,
                                 "staff_audit": audit}
        self.erased.append((account_id, list(events)))
        return True

    async def release_email(self, email: str, account_id: str) -> None:
        self.released.append(email)

    async def add_verify_token(
        self, account_id: str, token_hash: str, expires_at: datetime, events: Any,
        now: datetime, statuses: Any,
    ) -> bool:
        if self.docs[account_id]["status"] not in statuses:
            return False
        self.tokens.append((account_id, list(events)))
        return True


def account(status: str = "active", **more: Any) -> dict[str, Any]:
    return {"_id": "acc-1", "email": "jenny@example.net", "first_name": "Jenny",
            "last_name": "Denny", "locale": "es", "status": status, **more}


def desk(accounts: FakeAccounts) -> HelpDesk:
    return HelpDesk(accounts=accounts, repo=accounts, policy=load_policy(), clock=lambda: NOW)


async def test_school_staff_are_refused_every_help_desk_call() -> None:
    hd = desk(FakeAccounts(account()))
    for call in (
        hd.look_up(SECRETARY, "jenny@example.net"),
        hd.account(SECRETARY, "acc-1"),
        hd.resend_verification(SECRETARY, "acc-1"),
        hd.lift_lockout(SECRETARY, "acc-1"),
        hd.cancel_account(SECRETARY, "acc-1"),
    ):
        with pytest.raises(HelpDeskRefusal) as caught:
            await call
        assert (caught.value.status, caught.value.code) == (403, "district_admin_only")


async def test_look_up_by_email_shows_the_state_and_records_who_looked() -> None:
    accounts = FakeAccounts(account(locked_until=NOW + timedelta(minutes=9), failed_signins=5))
    view = await desk(accounts).look_up(ADMIN, "  Jenny@Example.NET ")
    assert view["state"] == "locked" and view["failed_signins"] == 5
    assert view["staff_audit"] == [{"action": "looked_up", "by": "admin-1", "at": NOW}]
    assert "password_hash" not in view
    with pytest.raises(HelpDeskRefusal) as caught:
        await desk(accounts).look_up(ADMIN, "nobody@example.net")
    assert caught.value.status == 404


async def test_resend_verification_only_for_unverified_or_disabled_accounts() -> None:
    accounts = FakeAccounts(account("unverified"))
    view = await desk(accounts).resend_verification(ADMIN, "acc-1")
    assert view["state"] == "unverified"
    (_, [event]), = accounts.tokens
    assert event.reason == "resend" and event.locale == "es" and event.email == "jenny@example.net"
    assert view["staff_audit"][-1]["action"] == "verification_email_sent"
    active = FakeAccounts(account("active"))
    with pytest.raises(HelpDeskRefusal) as caught:
        await desk(active).resend_verification(ADMIN, "acc-1")
    assert (caught.value.status, caught.value.code) == (409, "account_already_verified")
    assert active.tokens == []


async def test_lifting_a_lockout_clears_it_and_is_recorded() -> None:
    accounts = FakeAccounts(account(locked_until=NOW + timedelta(minutes=9), failed_signins=5))
    view = await desk(accounts).lift_lockout(ADMIN, "acc-1")
    assert view["state"] == "active" and view["failed_signins"] == 0
    assert view["staff_audit"] == [{"action": "lockout_lifted", "by": "admin-1", "at": NOW}]
    with pytest.raises(HelpDeskRefusal):
        await desk(accounts).lift_lockout(ADMIN, "acc-missing")


def test_states_as_staff_see_them() -> None:
    assert account_state(account("active", locked_until=NOW - timedelta(seconds=1)), NOW) == (
        "active"
    )
    assert account_state(account("disabled"), NOW) == "disabled"
    assert account_state(account("unverified"), NOW) == "unverified"


async def test_cancelling_erases_the_account_and_tells_the_other_services() -> None:
    accounts = FakeAccounts(account("active"))
    answer = await desk(accounts).cancel_account(ADMIN, "acc-1")
    assert answer["state"] == "deleted"
    (_, [event]), = accounts.erased
    assert event.reason == "guardian_request" and event.account_id == "acc-1"
    assert accounts.released == ["jenny@example.net"]
    assert accounts.docs["acc-1"]["staff_audit"][-1]["action"] == "account_cancelled"
    with pytest.raises(HelpDeskRefusal) as caught:
        await desk(accounts).cancel_account(ADMIN, "acc-1")
    assert caught.value.status == 404
