"""Production start-up refuses placeholders unless waived (issue 15, item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from identity.settings import Settings as IdentitySettings
from notifier.settings import Settings as NotifierSettings

from shared.runtime.settings import ServiceSettings

GOOD = {"environment": "production", "portal_public_url": "https://portal.duvalschools.org"}


def identity(**values: Any) -> IdentitySettings:
    base = {
        **GOOD,
        "identity_jwt_private_keys": '{"k": "pem"}',
        "captcha_provider": "altcha",
        "captcha_secret": "an-hmac-key-of-the-district",
    }
    return IdentitySettings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def notifier(**values: Any) -> NotifierSettings:
    base = {**GOOD, "smtp_username": "portal", "smtp_starttls": True}
    return NotifierSettings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_a_real_production_configuration_starts() -> None:
    assert identity().check_production() == []
    assert notifier().check_production() == []


@pytest.mark.parametrize(
    ("settings", "waiver"),
    [
        (lambda **w: identity(captcha_provider="none", captcha_secret=None, **w), "captcha"),
        (
            lambda **w: identity(portal_public_url="https://portal.example.org", **w),
            "public-url-example",
        ),
        (
            lambda **w: notifier(portal_public_url="http://portal.duvalschools.org", **w),
            "public-url-https",
        ),
        (
            lambda **w: notifier(smtp_starttls=False, smtp_use_tls=False, **w),
            "smtp-plaintext-login",
        ),
    ],
)
def test_placeholders_are_refused_in_production_unless_waived(settings: Any, waiver: str) -> None:
    with pytest.raises(ValueError, match=waiver):
        settings().check_production()
    assert settings(production_waivers=f"other, {waiver}").check_production() == [waiver]


def test_outside_production_nothing_is_checked() -> None:
    local = ServiceSettings(_env_file=None)  # type: ignore[call-arg]
    assert local.portal_public_url.startswith("http://")
    assert local.check_production() == []
    assert notifier(environment="test", smtp_starttls=False).check_production() == []
