"""Client addresses behind proxies, and IPv6 counted by /64 (issue 15, item 7)."""

from __future__ import annotations

import pytest

from shared.runtime.client_address import forwarded_client, limit_key


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        (None, 0, "10.1.1.1"),
        ("203.0.113.7", 0, "10.1.1.1"),  # no proxy trusted: the header is ignored
        ("203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # a forged left entry is skipped
        ("6.6.6.6, 203.0.113.7, 10.0.0.2", 2, "203.0.113.7"),
        ("203.0.113.7", 2, "203.0.113.7"),
        (" , ", 1, "10.1.1.1"),
    ],
)
def test_the_client_is_counted_from_the_right(header: str | None, hops: int, expected: str) -> None:
    assert forwarded_client(header, "10.1.1.1", hops) == expected


def test_ipv6_is_counted_by_64_and_ipv4_as_is() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:ffff::9")
    assert limit_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("203.0.113.7") == "203.0.113.7"
    assert limit_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert limit_key("testclient") == "testclient"
