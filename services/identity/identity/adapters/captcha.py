"""Captcha verification through the providers' ``siteverify`` endpoints (Cloudflare
Turnstile, hCaptcha, Google reCAPTCHA), a self-hosted ALTCHA proof of work (no third
party sees the family), or none (the local default)."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import altcha
import httpx

from shared.runtime.logs import get_logger

log = get_logger(__name__)

Provider = Literal["none", "turnstile", "hcaptcha", "recaptcha", "altcha"]

SITEVERIFY_URLS: dict[str, str] = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}


class CaptchaUnavailable(RuntimeError):
    """The provider could not be asked (network error, 5xx): the request cannot be judged."""


class CaptchaVerifier(Protocol):
    """Port: is ``token`` a solved challenge?"""

    async def verify(self, token: str | None, remote_ip: str | None) -> bool: ...


class NoCaptcha:
    """Accepts every request (local runs and tests)."""

    async def verify(self, token: str | None, remote_ip: str | None) -> bool:
        return True


class SiteverifyCaptcha:
    """The common ``siteverify`` protocol: form ``secret``, ``response``, ``remoteip`` →
    JSON ``{"success": bool, ...}``."""

    def __init__(
        self,
        provider: str,
        secret: str,
        *,
        url: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
    ) -> None:
        if provider not in SITEVERIFY_URLS:
            raise ValueError(f"unknown captcha provider {provider!r}")
        self.provider = provider
        self._secret = secret
        self._url = url or SITEVERIFY_URLS[provider]
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def verify(self, token: str | None, remote_ip: str | None) -> bool:
        if not token:
            return False
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            response = await self._client.post(self._url, data=form)
        except httpx.HTTPError as exc:
            log.warning("captcha provider unreachable", provider=self.provider,
                        error=type(exc).__name__)
            raise CaptchaUnavailable(self.provider) from None
        if response.status_code >= 500:
            raise CaptchaUnavailable(self.provider)
        try:
            body = response.json()
        except ValueError:
            raise CaptchaUnavailable(self.provider) from None
        ok = bool(isinstance(body, dict) and body.get("success") is True)
        if not ok:
            log.info("captcha rejected", provider=self.provider,
                     error_codes=body.get("error-codes") if isinstance(body, dict) else None)
        return ok

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


class AltchaCaptcha:
    """ALTCHA (self-hosted proof of work): identity issues HMAC-signed challenges
    (``GET /v1/captcha/challenge``) and verifies the widget's payload with the same key
    (``CAPTCHA_SECRET``). A solved payload is accepted once per process (replays within
    its expiry are refused) and never after the challenge expires."""

    #: Payloads remembered against replay (oldest forgotten first).
    SEEN_MAX = 100_000

    def __init__(
        self, hmac_key: str, *, max_number: int = 100_000, expires_minutes: float = 10.0
    ) -> None:
        self._key = hmac_key
        self.max_number = max_number
        self.expires = timedelta(minutes=expires_minutes)
        self._seen: OrderedDict[str, float] = OrderedDict()

    def challenge(self) -> dict[str, Any]:
        """A new signed challenge, as the ALTCHA widget expects it."""
        made = altcha.create_challenge_v1(
            algorithm="SHA-256",
            max_number=self.max_number,
            salt_length=12,
            hmac_key=self._key,
            salt="",
            number=None,
            expires=datetime.now(UTC) + self.expires,
            params=None,
        )
        return {
            "algorithm": made.algorithm,
            "challenge": made.challenge,
            "maxnumber": made.max_number,
            "salt": made.salt,
            "signature": made.signature,
        }

    async def verify(self, token: str | None, remote_ip: str | None) -> bool:
        if not token:
            return False
        try:
            ok, error = altcha.verify_solution_v1(token, self._key, check_expires=True)
        except Exception:  # a malformed payload is a failed check, never a 500
            ok, error = False, "malformed"
        if not ok:
            log.info("captcha rejected", provider="altcha", error=error)
            return False
        seen_key = hashlib.sha256(token.encode()).hexdigest()[:32]
        if seen_key in self._seen:
            log.info("captcha rejected", provider="altcha", error="replayed")
            return False
        self._seen[seen_key] = time.monotonic()
        while len(self._seen) > self.SEEN_MAX:
            self._seen.popitem(last=False)
        return True


def build_captcha(
    provider: str, secret: str | None, url: str | None = None
) -> CaptchaVerifier:
    """The verifier configured by ``CAPTCHA_PROVIDER`` / ``CAPTCHA_SECRET``."""
    if provider == "none":
        return NoCaptcha()
    if not secret:
        raise ValueError(f"CAPTCHA_SECRET is required for CAPTCHA_PROVIDER={provider}")
    if provider == "altcha":
        return AltchaCaptcha(secret)
    return SiteverifyCaptcha(provider, secret, url=url)
