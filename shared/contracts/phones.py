"""E.164 form of the phone numbers guardians type (contract addition, issue 20).

Identity keeps the digits the guardian typed (7 to 15, formatting removed, so a leading
``+`` is gone). The districts are in the North American Numbering Plan, so:

- 10 digits whose area code starts with 2-9 → ``+1`` and the digits;
- 11 digits starting with ``1`` → ``+`` and the digits;
- ``011`` (the NANP international prefix) and 8 to 15 more digits → ``+`` and those;
- 12 to 15 digits → already with a country code: ``+`` and the digits;
- anything else (a 7-digit local number without its area code) has no E.164 form: None.
"""

from __future__ import annotations

import re

_NANP = re.compile(r"^[2-9]\d{2}[2-9]\d{6}$")


def e164(digits: str | None) -> str | None:
    """The E.164 form of ``digits`` (see the module docstring), or None."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 10 and _NANP.match(digits):
        return f"+1{digits}"
    if len(digits) == 11 and digits[0] == "1" and _NANP.match(digits[1:]):
        return f"+{digits}"
    if digits.startswith("011") and 8 <= len(digits) - 3 <= 15 and digits[3] != "0":
        return f"+{digits[3:]}"
    if 12 <= len(digits) <= 15 and digits[0] != "0":
        return f"+{digits}"
    return None
