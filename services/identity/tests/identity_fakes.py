"""In-memory fakes of the identity ports, with the same guards as the Mongo adapter."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from identity.adapters.jwt_sessions import SessionTokens
from identity.adapters.mongo_accounts import PERSONAL_FIELDS
from identity.domain.model import Action, EmailTaken, Status, allowed_from

from shared.contracts.events import Event
from shared.runtime.policy import DistrictPolicy, load_policy


class FakeClock:
    """A clock the test moves."""

    def __init__(self, start: datetime | None = None) -> None:
        # Starts at the real time: issued JWTs are checked against the real clock.
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeHasher:
    """Reversible "hash" (tests only): fast, and it records what was hashed."""

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.hashed: list[str] = []

    async def hash(self, secret: str) -> str:
        self.hashed.append(secret)
        return f"{self.version}${secret}"

    async def verify(self, encoded: str | None, secret: str) -> bool:
        return bool(encoded) and encoded.split("$", 1)[1] == secret  # type: ignore[union-attr]

    def needs_rehash(self, encoded: str) -> bool:
        return not encoded.startswith(self.version + "$")


class FakeCaptcha:
    def __init__(self, answer: bool | Exception = True) -> None:
        self.answer = answer
        self.calls: list[tuple[str | None, str | None]] = []

    async def verify(self, token: str | None, remote_ip: str | None) -> bool:
        self.calls.append((token, remote_ip))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeAccounts:
    """The repository's methods on dicts, with the same conditional guards."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, str] = {}
        self.outbox: list[Event] = []
        self.addresses: dict[tuple[str, int], int] = {}
        self.mail_requests: dict[tuple[str, int], int] = {}
        self.ghosts: dict[str, dict[str, Any]] = {}

    async def ghost(self, key: str) -> dict[str, Any] | None:
        return self.ghosts.get(key)

    # events ---------------------------------------------------------------------
    def published(self, type_: str | None = None) -> list[Event]:
        return [e for e in self.outbox if type_ is None or e.event_type() == type_]

    def _commit(self, doc: dict[str, Any], events: Sequence[Event]) -> bool:
        self.outbox += list(events)
        return True

    # claims ---------------------------------------------------------------------
    async def claim_email(self, email: str, account_id: str, now: datetime) -> None:
        if email in self.claims:
            raise EmailTaken()
        self.claims[email] = account_id

    async def email_owner(self, email: str) -> str | None:
        return self.claims.get(email)

    async def release_email(self, email: str, account_id: str) -> None:
        if self.claims.get(email) == account_id:
            del self.claims[email]

    async def insert(self, doc: dict[str, Any], events: Sequence[Event], now: datetime) -> None:
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        self._commit(doc, events)

    async def append_events(self, account_id: str, events: Sequence[Event], now: datetime) -> bool:
        return account_id in self.docs and self._commit(self.docs[account_id], events)

    # tokens ---------------------------------------------------------------------
    async def add_verify_token(self, account_id: str, token_hash: str, expires_at: datetime,
                               events: Sequence[Event], now: datetime,
                               statuses: Sequence[str]) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] not in statuses:
            return False
        doc.setdefault("verify_tokens", []).append({"h": token_hash, "exp": expires_at})
        doc["verify_tokens"] = doc["verify_tokens"][-5:]
        return self._commit(doc, events)

    async def add_reset_token(self, account_id: str, token_hash: str, expires_at: datetime,
                              events: Sequence[Event], now: datetime) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] == Status.DELETED:
            return False
        doc.setdefault("reset_tokens", []).append({"h": token_hash, "exp": expires_at})
        return self._commit(doc, events)

    def _find(self, field: str, token_hash: str) -> dict[str, Any] | None:
        for doc in self.docs.values():
            if any(t["h"] == token_hash for t in doc.get(field) or []):
                return copy.deepcopy(doc)
        return None

    async def by_verify_token(self, token_hash: str) -> dict[str, Any] | None:
        return self._find("verify_tokens", token_hash)

    async def by_reset_token(self, token_hash: str) -> dict[str, Any] | None:
        return self._find("reset_tokens", token_hash)

    async def by_id(self, account_id: str) -> dict[str, Any] | None:
        doc = self.docs.get(account_id)
        return copy.deepcopy(doc) if doc else None

    async def by_email(self, email: str) -> dict[str, Any] | None:
        for doc in self.docs.values():
            if doc.get("email") == email:
                return copy.deepcopy(doc)
        return None

    # transitions ----------------------------------------------------------------
    async def activate(self, account_id: str, token_hash: str, now: datetime,
                       events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if (doc is None or doc["status"] not in allowed_from(Action.VERIFY)
                or not any(t["h"] == token_hash for t in doc.get("verify_tokens") or [])):
            return False
        doc.update(status=str(Status.ACTIVE), verified_at=now, last_activity_at=now,
                   failed_signins=0, updated_at=now)
        for name in ("verify_tokens", "disabled_at", "locked_until"):
            doc.pop(name, None)
        return self._commit(doc, events)

    async def reserve_attempt(self, account_id: str, lease_id: str, now: datetime,
                              lease_until: datetime, *, ghost: bool = False,
                              ignore_lock: bool = False) -> int | None:
        doc = self.ghosts.setdefault(account_id, {"_id": account_id}) if ghost else (
            self.docs.get(account_id))
        if doc is None:
            return None
        locked, lease = doc.get("locked_until"), doc.get("attempt_lease")
        if (not ignore_lock and locked is not None and locked > now) or (
            lease and lease["until"] > now
        ):
            return None
        doc["failed_signins"] = doc.get("failed_signins", 0) + 1
        doc["attempt_lease"] = {"id": lease_id, "until": lease_until}
        return int(doc["failed_signins"])

    async def end_attempt(self, account_id: str, lease_id: str, *, failed: bool,
                          locked_until: datetime | None = None, reset: bool = False,
                          ghost: bool = False) -> None:
        doc = (self.ghosts if ghost else self.docs).get(account_id)
        if doc is None or (doc.get("attempt_lease") or {}).get("id") != lease_id:
            return
        doc.pop("attempt_lease")
        if failed:
            if locked_until is not None:
                doc["locked_until"] = locked_until
        elif reset:
            doc["failed_signins"] = 0
            doc.pop("locked_until", None)
        else:
            doc["failed_signins"] -= 1

    async def signed_in(self, account_id: str, now: datetime, day: str, events: Sequence[Event],
                        new_hash: str | None = None, old_hash: str | None = None) -> bool:
        doc = self.docs[account_id]
        recorded = False
        if events and doc["status"] == Status.ACTIVE and doc.get("last_signin_event_day") != day:
            doc.update(last_signin_event_day=day, last_activity_at=now)
            self._commit(doc, events)
            recorded = True
        doc["failed_signins"] = 0
        doc.pop("locked_until", None)
        if new_hash and doc["password_hash"] == old_hash:
            doc["password_hash"] = new_hash
        return recorded

    async def update_profile(self, account_id: str, fields: dict[str, Any], now: datetime,
                             events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] != Status.ACTIVE:
            return False
        doc.update(fields, updated_at=now)
        return self._commit(doc, events)

    async def change_password(self, account_id: str, old_hash: str, new_hash: str, epoch: int,
                              now: datetime, events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] != Status.ACTIVE or doc["password_hash"] != old_hash:
            return False
        doc.update(password_hash=new_hash, session_epoch=epoch)
        doc.pop("reset_tokens", None)
        return self._commit(doc, events)

    async def set_answers(self, account_id: str, answers_hash: str, question_ids: list[str],
                          now: datetime) -> bool:
        doc = self.docs.get(account_id)
        if doc is None or doc["status"] != Status.ACTIVE:
            return False
        doc.update(answers_hash=answers_hash, security_question_ids=question_ids)
        return True

    async def reset_password(self, account_id: str, token_hash: str, new_hash: str, now: datetime,
                             events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if (doc is None or doc["status"] == Status.DELETED
                or not any(t["h"] == token_hash for t in doc.get("reset_tokens") or [])):
            return False
        doc.update(password_hash=new_hash, failed_signins=0,
                   session_epoch=doc.get("session_epoch", 0) + 1)
        doc.pop("reset_tokens", None)
        doc.pop("locked_until", None)
        return self._commit(doc, events)

    def _stale(self, doc: dict[str, Any], last_activity: datetime) -> bool:
        return doc.get("last_activity_at") is not None and doc["last_activity_at"] > last_activity

    async def disable(self, account_id: str, last_activity: datetime, now: datetime,
                      events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if (doc is None or doc["status"] not in allowed_from(Action.DISABLE)
                or self._stale(doc, last_activity)):
            return False
        doc.update(status=str(Status.DISABLED), disabled_at=now,
                   session_epoch=doc.get("session_epoch", 0) + 1)
        return self._commit(doc, events)

    def _erase(self, doc: dict[str, Any], now: datetime) -> None:
        for name in PERSONAL_FIELDS:
            doc.pop(name, None)
        doc.update(status=str(Status.DELETED), deleted_at=now)

    async def erase(self, account_id: str, last_activity: datetime, now: datetime,
                    events: Sequence[Event]) -> bool:
        doc = self.docs.get(account_id)
        if (doc is None or doc["status"] not in allowed_from(Action.DELETE)
                or self._stale(doc, last_activity)):
            return False
        self._erase(doc, now)
        return self._commit(doc, events)

    async def unverified_before(self, cutoff: datetime, limit: int) -> list[tuple[str, str]]:
        return [(d["_id"], d.get("email", "")) for d in self.docs.values()
                if d["status"] == Status.UNVERIFIED and d["created_at"] < cutoff][:limit]

    async def purge(self, batch: Sequence[tuple[str, str, Event]], cutoff: datetime,
                    now: datetime) -> int:
        done = 0
        for account_id, email, event in batch:
            doc = self.docs[account_id]
            if doc["status"] in allowed_from(Action.PURGE) and doc["created_at"] < cutoff:
                self._erase(doc, now)
                self._commit(doc, [event])
                await self.release_email(email, account_id)
                done += 1
        return done

    # addresses ------------------------------------------------------------------
    async def address_failures(self, address: str, window: int) -> int:
        return self.addresses.get((address, window), 0)

    async def reserve_address(self, address: str, window: int, expires_at: datetime) -> int:
        self.addresses[(address, window)] = self.addresses.get((address, window), 0) + 1
        return self.addresses[(address, window)]

    async def release_address(self, address: str, window: int) -> None:
        if self.addresses.get((address, window), 0) > 0:
            self.addresses[(address, window)] -= 1

    async def count_mail_request(self, key: str, window: int, expires_at: datetime) -> int:
        self.mail_requests[(key, window)] = self.mail_requests.get((key, window), 0) + 1
        return self.mail_requests[(key, window)]

    async def forget_expired_addresses(self, now: datetime) -> int:
        return 0


def session_tokens() -> SessionTokens:
    """Signing keys made for the test (two kids: rotation)."""
    pems = {}
    for kid in ("k1", "k2"):
        key = ec.generate_private_key(ec.SECP256R1())
        pems[kid] = key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
    return SessionTokens(pems, "k1")


def duval() -> DistrictPolicy:
    return load_policy()
