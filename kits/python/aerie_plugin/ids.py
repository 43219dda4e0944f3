"""Validators for Falcon identifiers and IOC values, run before any request so a malformed id is
an ``InvalidArguments`` error naming the bad value, never a confusing upstream 400.

Each returns the normalised value (hex lower-cased, whitespace trimmed).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable

from .errors import InvalidArguments


def _hex(s: str, n: int) -> bool:
    return len(s) == n and all(c in "0123456789abcdefABCDEF" for c in s)


def hex32(value: str, what: str) -> str:
    """A 32-hex-digit id (device id, CID, host group id, policy id)."""
    v = value.strip()
    if _hex(v, 32):
        return v.lower()
    raise InvalidArguments(f"`{value}` is not a valid {what}: expected 32 hexadecimal characters")


def aid(value: str) -> str:
    """A host (device) id, the agent id: 32 hex."""
    return hex32(value, "host id (AID)")


_KIND = re.compile(r"^[a-z0-9_-]+$")
_REST = re.compile(r"^[A-Za-z0-9:_.-]{3,200}$")


def composite_alert_id(value: str) -> str:
    """A composite alert id ``<cid>:<kind>:<aid-or-scope>:<detection>``, as returned by
    ``GetQueriesAlertsV2``."""
    v = value.strip()
    parts = v.split(":", 2)
    if len(parts) == 3 and _hex(parts[0], 32) and _KIND.match(parts[1]) and _REST.match(parts[2]):
        return v
    raise InvalidArguments(f"`{value}` is not a composite alert id: expected "
                           "<cid>:<type>:<id>:<detection>, as returned by an alert search")


def sha256(value: str) -> str:
    """A SHA-256 file hash: 64 hex."""
    v = value.strip()
    if _hex(v, 64):
        return v.lower()
    raise InvalidArguments(f"`{value}` is not a valid sha256 value: expected 64 hexadecimal "
                           "characters")


_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def domain(value: str) -> str:
    """A domain name, lower-cased without a trailing dot."""
    d = value.strip().lower()
    d = d[:-1] if d.endswith(".") else d
    ok = 0 < len(d) <= 200 and "." in d and all(_LABEL.match(l) for l in d.split("."))
    try:
        ipaddress.IPv4Address(d)
        ok = False
    except ValueError:
        pass
    if ok:
        return d
    raise InvalidArguments(f"`{value}` is not a valid domain value: expected a domain name such "
                           "as evil.example.com (1-200 characters)")


def ipv4(value: str) -> str:
    """A dotted IPv4 address."""
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise InvalidArguments(f"`{value}` is not a valid ipv4 value: expected a dotted IPv4 "
                               "address such as 203.0.113.5") from None


def id_list(values: Iterable[str], max_items: int, what: str,
            check: Callable[[str], str]) -> list[str]:
    """Validate a list of ids with ``check``: at least one, at most ``max_items``, duplicates
    removed, order kept."""
    values = list(values)
    if not values:
        raise InvalidArguments(f"give at least one {what}")
    if len(values) > max_items:
        raise InvalidArguments(f"at most {max_items} {what}s per call (got {len(values)})")
    out: list[str] = []
    for v in values:
        v = check(v)
        if v not in out:
            out.append(v)
    return out
