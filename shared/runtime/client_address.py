"""The client's address behind proxies, and the key per-address limits count it by.

``X-Forwarded-For`` is a list each proxy appends to: the left end is whatever the client
wrote (anyone can forge it), the right end what the nearest proxy saw. With ``hops``
trusted proxies in front of the service (the ingress: 1), the client is the ``hops``-th
entry from the right; with none (the default), the connection's peer address.

IPv6 clients get a whole /64 from their provider, so they are counted by /64: otherwise
one household could try 2^64 addresses.
"""

from __future__ import annotations

import ipaddress


def forwarded_client(forwarded_for: str | None, peer: str | None, trusted_hops: int) -> str:
    """The client address: ``trusted_hops`` from the right of ``forwarded_for``, or the
    peer when no proxy is trusted (or the header is missing)."""
    if trusted_hops > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]
    return peer or "unknown"


def limit_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address, an IPv6 /64, or the text as
    given when it is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip()[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
