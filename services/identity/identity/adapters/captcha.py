"""Captcha verification through the providers' ``siteverify`` endpoints (Cloudflare
Turnstile, hCaptcha, Google reCAPTCHA), or none (the local default)."""

from __future__ import annotations

from typing import Literal, Protocol

import httpx

from shared.runtime.logs import get_logger

log = get_logger(__name__)

Provider = Literal["none", "turnstile", "hcaptcha", "recaptcha"]

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


def build_captcha(
    provider: str, secret: str | None, url: str | None = None
) -> CaptchaVerifier:
    """The verifier configured by ``CAPTCHA_PROVIDER`` / ``CAPTCHA_SECRET``."""
    if provider == "none":
        return NoCaptcha()
    if not secret:
        raise ValueError(f"CAPTCHA_SECRET is required for CAPTCHA_PROVIDER={provider}")
    return SiteverifyCaptcha(provider, secret, url=url)
