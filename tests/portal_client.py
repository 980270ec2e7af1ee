"""A black-box client of the portal's public HTTP APIs and the mail it sends, for the
journey and fault suites. Everything goes through HTTP, the SMTP sink and Kafka."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from shared.runtime.devkeys import dev_keypair
from tests.harness import Portal, wait_until
from tests.secrets_registry import remember
from tools.devstack.testing import Mail, list_mail

VERIFY_LINK = re.compile(r"/verify-email\?token=([A-Za-z0-9_\-]+)")
RESET_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")
STAFF_ISSUER = "urn:guardian-portal:local-staff-idp"
AUDIENCE = "guardian-portal"


def unique_email(tag: str = "g") -> str:
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.net"


def registration_body(
    email: str,
    password: str,
    *,
    locale: str = "en",
    claims: list[dict[str, str]] | None = None,
    first_name: str = "Jenny",
    last_name: str = "Denny",
) -> dict[str, Any]:
    """The registration wizard's body, exactly as contract §4 names it."""
    return {
        "email": email,
        "password": password,
        "first_name": first_name,
        "last_name": last_name,
        "locale": locale,
        "phones": {
            "mobile": {"number": "9045550100", "unlisted": True, "sms": False},
            "home": {"same_as_mobile": True},
            "work": None,
            "emergency": "mobile",
        },
        "secondary_email": None,
        "address": {
            "street": "111 Street Dr.",
            "apt": None,
            "city": "Jacksonville",
            "state": "FL",
            "zip": "32207",
        },
        "security_answers": [
            {"question_id": "first_pet", "answer": "Rover the dog"},
            {"question_id": "birth_city", "answer": "Jacksonville"},
            {"question_id": "first_school", "answer": "Lincoln Elementary"},
        ],
        "accepted_usage_policy": True,
        "captcha_token": None,
        "student_claims": claims or [],
    }


def mail_with(
    to: str, pattern: re.Pattern[str], *, after: int = 0, timeout: float = 45
) -> tuple[Mail, str]:
    """The first mail to ``to`` (beyond the first ``after``) whose text matches ``pattern``."""

    def find() -> tuple[Mail, str] | None:
        for mail in list_mail(to=to)[after:]:
            match = pattern.search(mail.text)
            if match:
                return mail, match.group(1)
        return None

    return wait_until(
        find, timeout=timeout, interval=0.2, what=f"mail to {to} matching {pattern.pattern}"
    )


def staff_token(schools: list[str], *, role: str = "school_staff", subject: str = "staff-1") -> str:
    """A staff bearer token signed with the local staff IdP key (as `portal staff-token`)."""
    private_pem, _ = dev_keypair("staff-jwt")
    now = datetime.now(UTC)
    return jwt.encode(
        {
            "iss": STAFF_ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role,
            "schools": schools,
            "iat": now,
            "exp": now + timedelta(hours=1),
        },
        private_pem,
        algorithm="ES256",
        headers={"kid": "local-staff-1"},
    )


@dataclass
class Guardian:
    """One guardian going through the portal."""

    portal: Portal
    email: str = field(default_factory=unique_email)
    password: str = "Secr3t!pw" + uuid.uuid4().hex[:3].upper()
    locale: str = "en"
    account_id: str | None = None
    token: str | None = None
    #: Its own /64 (identity counts IPv6 clients by /64).
    address: str = field(
        default_factory=lambda: f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"
    )

    def __post_init__(self) -> None:
        remember(self.email, self.password)

    @property
    def identity(self) -> str:
        return self.portal.url("identity")

    @property
    def linking(self) -> str:
        return self.portal.url("linking")

    @property
    def client(self) -> dict[str, str]:
        """This guardian's own client address (documentation range), as the ingress
        would forward it."""
        return {"X-Forwarded-For": self.address}

    def register(self, claims: list[dict[str, str]] | None = None, **kw: Any) -> httpx.Response:
        body = registration_body(self.email, self.password, locale=self.locale, claims=claims, **kw)
        for answer in body["security_answers"]:
            remember(answer["answer"])
        response = httpx.post(
            f"{self.identity}/v1/accounts", json=body, headers=self.client, timeout=30
        )
        if response.status_code == 202:
            self.account_id = response.json().get("account_id")
        return response

    def verification_token(self, *, after: int = 0, timeout: float = 45) -> str:
        _, token = mail_with(self.email, VERIFY_LINK, after=after, timeout=timeout)
        remember(token)
        return token

    def verify(self, token: str | None = None) -> httpx.Response:
        token = token or self.verification_token()
        return httpx.post(
            f"{self.identity}/v1/email-verifications",
            json={"token": token, "password": self.password},
            headers=self.client,
            timeout=30,
        )

    def sign_in(self, password: str | None = None) -> httpx.Response:
        response = httpx.post(
            f"{self.identity}/v1/sessions",
            json={"email": self.email, "password": password or self.password},
            headers=self.client,
            timeout=30,
        )
        if response.status_code == 200:
            self.token = response.json()["access_token"]
            remember(self.token)
        return response

    def onboard(self, claims: list[dict[str, str]] | None = None) -> Guardian:
        """Register, verify from the email, sign in."""
        assert self.register(claims).status_code == 202
        assert self.verify().status_code in (200, 204), "verification failed"
        assert self.sign_in().status_code == 200
        return self

    @property
    def auth(self) -> dict[str, str]:
        assert self.token, "sign in first"
        return {"Authorization": f"Bearer {self.token}"}

    def request_link(
        self, school_id: str, student_id: str, last_name: str, **extra: str
    ) -> httpx.Response:
        for value in extra.values():
            remember(value)
        return httpx.post(
            f"{self.linking}/v1/links",
            headers=self.auth,
            timeout=30,
            json={
                "school_id": school_id,
                "student_id": student_id,
                "student_last_name": last_name,
                **extra,
            },
        )

    def links(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.linking}/v1/links", headers=self.auth, timeout=30)
        response.raise_for_status()
        body = response.json()
        return body["items"] if isinstance(body, dict) else body

    def wait_link(self, student_id: str, status: str, timeout: float = 45) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            if self.token is None or _expired(self.token):
                self.sign_in()
            return next(
                (
                    lk
                    for lk in self.links()
                    if lk["student_id"] == student_id and lk["status"] == status
                ),
                None,
            )

        return wait_until(find, timeout=timeout, interval=0.3, what=f"link {student_id} {status}")


def _expired(token: str) -> bool:
    claims = jwt.decode(token, options={"verify_signature": False})
    return bool(claims["exp"] - 30 < time.time())


@dataclass
class Staff:
    """A school staff member (or district admin) with a local IdP token."""

    portal: Portal
    schools: list[str]
    role: str = "school_staff"
    subject: str = "staff-1"

    @property
    def auth(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {staff_token(self.schools, role=self.role, subject=self.subject)}"
        }

    @property
    def linking(self) -> str:
        return self.portal.url("linking")

    def queue(self, school_id: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.linking}/v1/schools/{school_id}/link-requests",
            params={"status": "pending"},
            headers=self.auth,
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        return body["items"] if isinstance(body, dict) else body

    def approve(self, link_id: str, id_document_type: str = "drivers_license") -> httpx.Response:
        return httpx.post(
            f"{self.linking}/v1/link-requests/{link_id}/approve",
            headers=self.auth,
            json={"id_document_type": id_document_type},
            timeout=30,
        )

    def deny(self, link_id: str, reason: str) -> httpx.Response:
        return httpx.post(
            f"{self.linking}/v1/link-requests/{link_id}/deny",
            headers=self.auth,
            json={"reason": reason},
            timeout=30,
        )

    def revoke(self, link_id: str, reason: str) -> httpx.Response:
        return httpx.post(
            f"{self.linking}/v1/links/{link_id}/revoke",
            headers=self.auth,
            json={"reason": reason},
            timeout=30,
        )

    def import_roster(self, zip_bytes: bytes) -> httpx.Response:
        return httpx.post(
            f"{self.linking}/v1/roster/imports",
            headers=self.auth,
            timeout=120,
            files={"file": ("roster.zip", zip_bytes, "application/zip")},
        )
