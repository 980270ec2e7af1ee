"""The self-hosted ALTCHA captcha: signed challenges, verified payloads, no replays."""

from __future__ import annotations

import base64
import json

import altcha
from identity.adapters.captcha import AltchaCaptcha, build_captcha


def solved(captcha: AltchaCaptcha) -> str:
    challenge = captcha.challenge()
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    assert solution is not None
    payload = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**payload, "number": solution.number}).encode()).decode()


async def test_a_solved_challenge_passes_once() -> None:
    captcha = AltchaCaptcha("district-hmac-key", max_number=500)
    token = solved(captcha)
    assert await captcha.verify(token, "1.2.3.4")
    assert not await captcha.verify(token, "1.2.3.4")  # replayed


async def test_junk_a_missing_token_or_another_key_fails() -> None:
    captcha = AltchaCaptcha("district-hmac-key", max_number=500)
    other = AltchaCaptcha("someone-elses-key", max_number=500)
    assert not await captcha.verify(None, None)
    assert not await captcha.verify("not base64 json", None)
    assert not await captcha.verify(solved(other), None)


def test_altcha_is_built_from_the_settings_names() -> None:
    assert isinstance(build_captcha("altcha", "k"), AltchaCaptcha)
