"""E.164 form of the digits identity stores (shared/contracts/phones.py)."""

from __future__ import annotations

import pytest

from shared.contracts.phones import e164


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("9045550100", "+19045550100"),
        ("19045550100", "+19045550100"),
        ("01144207946095", "+44207946095"),
        ("442079460958", "+442079460958"),
        ("5550100", None),  # local number without its area code
        ("1045550100", None),  # no NANP area code starts with 0 or 1
        ("0445550100", None),
        ("", None),
        (None, None),
        ("90455501x0", None),
        ("1234567890123456", None),  # longer than E.164 allows
    ],
)
def test_e164(digits: str | None, expected: str | None) -> None:
    assert e164(digits) == expected
