"""Links to a moment of a talk: ``?t=START`` plays from a time, ``?t=START&til=END`` plays
just that part and stops (domain code, no HTTP).

A time is whole or decimal seconds ("90", "90.5") or a clock ("1:30", "1:02:03"). The
Media Fragments form ``#t=START,END`` is read by the page's script (a browser never sends
the fragment); the server only sees the query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlencode

_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,4}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(r"^\d{1,6}(?:\.\d+)?$")
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Moment:
    start: float = 0.0
    end: float | None = None  # a range plays start..end and stops

    @property
    def is_range(self) -> bool:
        return self.end is not None


def parse_time(raw: str | None) -> float | None:
    """Seconds from "90", "90.5", "1:30" or "1:02:03"; None when it is none of those."""
    text = (raw or "").strip()
    if _SECONDS.match(text):
        value = float(text)
    elif match := _CLOCK.match(text):
        hours, minutes, seconds = match.groups()
        if float(seconds) >= 60 or (hours and int(minutes) >= 60):
            return None
        value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    else:
        return None
    return value if math.isfinite(value) and value <= MAX_SECONDS else None


def parse(start: str | None, end: str | None) -> Moment:
    """The moment a link asks for; an unreadable start is 0, an end not after start none."""
    first = parse_time(start) or 0.0
    last = parse_time(end)
    return Moment(first, last if last is not None and last > first else None)


def within(moment: Moment, duration: float | None) -> Moment:
    """`moment` inside a talk `duration` seconds long (unknown: None or 0): a start at or
    past the end plays from the start, an end past it plays to the end."""
    if not duration or duration <= 0:
        return moment
    if moment.start >= duration:
        return Moment()
    return moment if moment.end is None or moment.end <= duration else Moment(moment.start)


def _number(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.1f}"


def query(moment: Moment) -> str:
    """The query string (no "?") of a link to `moment`; "" for the start of the talk."""
    params = {}
    if moment.start > 0 or moment.is_range:
        params["t"] = _number(moment.start)
    if moment.end is not None:
        params["til"] = _number(moment.end)
    return urlencode(params)


def link(path: str, moment: Moment) -> str:
    """`path` with the moment's query, e.g. /talks/budsjett?t=90&til=120."""
    text = query(moment)
    return f"{path}?{text}" if text else path
