"""Strict parsing of what a request sends: whole numbers and JSON bodies. No HTTP here.

Why not `int(text)` after `text.isdigit()`: isdigit() is True for "²" and "①", which int()
refuses, and int() itself accepts other scripts' digits ("٣"), surrounding underscores and
thousands of digits. SQLite stores at most 64-bit integers and raises OverflowError beyond
that, so an id is only an id when it lies in 1..2**63-1.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re

from server.core.errors import UserError
from server.core.i18n import N_

MAX_ID = 2**63 - 1
YEARS = (1000, 9999)
MAX_JSON_DEPTH = 16
_DIGITS = re.compile(r"-?[0-9]{1,25}")  # [0-9] is ASCII only, unlike \d or str.isdigit()

BAD_YEAR = N_("Året må være et årstall med fire sifre, for eksempel 2024.")
BAD_JSON = N_("Kunne ikke lese det som ble sendt. Last siden på nytt og prøv igjen.")
NOT_OBJECT = N_("Det som ble sendt, har feil form. Last siden på nytt og prøv igjen.")
TOO_LARGE = N_("Det som ble sendt, er for stort. Send mindre om gangen.")
TOO_DEEP = N_("Det som ble sendt, er nøstet for dypt. Send en enklere struktur.")
WRONG_TYPE = N_("Feltet «{name}» har feil type. Last siden på nytt og prøv igjen.")


class InputError(UserError):
    """A request body that cannot be used; the message is Norwegian, with an HTTP status."""

    status = 400


def integer(raw: object, low: int = 1, high: int = MAX_ID) -> int | None:
    """The whole number in `raw` (ASCII digits, an optional minus, surrounding spaces allowed)
    when it lies in low..high; None for anything else. An int is range-checked; a bool,
    a float or any other type is None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str | bytes):
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        match = _DIGITS.fullmatch(text.strip(" \t\r\n"))
        if match is None:
            return None
        value = int(match.group())
    else:
        return None
    return value if low <= value <= high else None


def identifier(raw: object) -> int | None:
    """A database id (1..2**63-1) or None."""
    return integer(raw, 1, MAX_ID)


def json_object(
    raw: bytes | str, shape: dict[str, type | tuple[type, ...]] | None = None, limit: int = 0
) -> dict:
    """A JSON object from a body (the app bounds every body; `limit` can bound it more): no
    deeper than MAX_JSON_DEPTH, no NaN or Infinity, and each key named in `shape` (when
    present) of its type; InputError (400, or 413 past `limit`) otherwise."""
    if limit and len(raw) > limit:
        raise InputError(TOO_LARGE, 413)
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InputError(TOO_DEEP) from None
    except ValueError:  # also UnicodeDecodeError
        raise InputError(BAD_JSON) from None
    if depth(data) > MAX_JSON_DEPTH:
        raise InputError(TOO_DEEP)
    if not isinstance(data, dict):
        raise InputError(NOT_OBJECT)
    for name, kind in (shape or {}).items():
        if name in data and not _is(data[name], kind):
            raise InputError(WRONG_TYPE.format(name=name))
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number in JSON")


def _is(value: object, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # True is an int to Python, not to a client sending a number
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kinds)


def depth(value: object) -> int:
    """How deeply lists and objects nest (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            if level + 1 > MAX_JSON_DEPTH:
                return level + 1
            stack.extend((child, level + 1) for child in item)
    return deepest


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses and CIDR networks ("127.0.0.1, 10.0.0.0/8"); ValueError
    names the first entry that is neither."""
    result = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            try:
                result.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(entry) from None
    return tuple(result)


def address_in(address: str, within: tuple[Network, ...]) -> bool:
    """Whether an IP address (text; anything else is not) lies in one of the networks."""
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in within)
