"""Browser sessions kept on the server: the cookie holds only a random id.

A session holds the CSRF token, the wizard draft (passwords included, so they never
travel in a cookie) and, once signed in, identity's access token. It lives in this
process's memory: a restart signs everyone out and loses unfinished drafts, and several
replicas need session affinity (the Kubernetes Service sets ``ClientIP``). The store is
bounded; the least recently used sessions go first.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

COOKIE = "portal_session"


@dataclass
class Session:
    """One browser's state."""

    id: str
    csrf: str
    last_seen: float
    access_token: str | None = None
    token_expires_at: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    #: Field errors and values carried from a POST to the page it redirects to.
    flash: dict[str, Any] = field(default_factory=dict)
    #: The signed-in staff member of the console (``web.staff.auth.StaffUser``), their
    #: sign-ins in progress (Authlib's state, nonce and PKCE verifier) and the queue rows
    #: last shown to them (what a confirmation page names).
    staff: Any = None
    oidc: dict[str, Any] = field(default_factory=dict)
    staff_rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None

    def sign_out(self) -> None:
        self.access_token = None
        self.token_expires_at = None
        self.csrf = secrets.token_urlsafe(32)  # a new token after a change of privilege


class SessionStore:
    """Sessions by id, with idle expiry (drafts and signed-in sessions separately)."""

    def __init__(
        self, *, draft_idle_seconds: float, signed_in_idle_seconds: float, max_sessions: int
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._draft_idle = draft_idle_seconds
        self._signed_in_idle = signed_in_idle_seconds
        self._max = max_sessions

    def get(self, session_id: str | None, now: float | None = None) -> Session | None:
        """The live session of that id (its idle clock restarted), or None."""
        if not session_id:
            return None
        now = time.monotonic() if now is None else now
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.signed_in and now - session.last_seen > self._signed_in_idle:
            # idle longer than the district's limit: signed out, the draft may stay
            session.sign_out()
            session.flash["notice"] = "idle"
        if session.staff is not None and now - session.last_seen > self._signed_in_idle:
            session.staff = None
            session.staff_rows.clear()
            session.flash["staff_notice"] = "idle"
        if now - session.last_seen > self._draft_idle:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def new(self, now: float | None = None) -> Session:
        """A fresh session with its own CSRF token."""
        now = time.monotonic() if now is None else now
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now)
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def renew(self, session: Session) -> Session:
        """The same state under a new id (on sign-in: no session fixation)."""
        self._sessions.pop(session.id, None)
        session.id = secrets.token_urlsafe(32)
        session.csrf = secrets.token_urlsafe(32)
        self._sessions[session.id] = session
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def __len__(self) -> int:
        return len(self._sessions)
