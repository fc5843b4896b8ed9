"""The clock: the one place that reads the time and speaks Oslo time.

Stored timestamps (created_at, updated_at, heartbeats) are UTC ISO 8601 with seconds
(`now_iso`). Talk times are entered and compared in Oslo local time, to the minute
(`now_oslo`, `OSLO`). `format_date` writes a moment the way pages and messages show it,
in Norwegian or English. No HTTP here: domain code and the web layer both read it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
MINUTE = "%Y-%m-%dT%H:%M"
MONTHS = (
    "januar", "februar", "mars", "april", "mai", "juni",
    "juli", "august", "september", "oktober", "november", "desember",
)  # fmt: skip
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def now_utc() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """Now in UTC, ISO 8601 to the second: what the database stores."""
    return now_utc().isoformat(timespec="seconds")


def now_oslo() -> str:
    """Now in Oslo local time to the minute (`2026-05-04T11:30`), as talk times are kept."""
    return now_utc().astimezone(OSLO).strftime(MINUTE)


def today_oslo() -> str:
    return now_utc().astimezone(OSLO).strftime("%Y-%m-%d")


def to_oslo(value: str | None) -> datetime | None:
    """A stored moment in Oslo time; one without a zone is already Oslo local time."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=OSLO)  # talk times are entered in Oslo time
    return moment.astimezone(OSLO)


@lru_cache(maxsize=4096)  # a list page writes 40-50 dates, the same ones for every visitor
def format_date(value: str | None, with_time: bool = True, lang: str = "nb") -> str:
    """`4. mai 2026 kl. 11.30` (nb) or `4 May 2026, 11:30` (en); empty for no value."""
    moment = to_oslo(value)
    if moment is None:
        return ""
    if lang == "en":
        text = f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year}"
        return f"{text}, {moment:%H:%M}" if with_time else text
    text = f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year}"
    return f"{text} kl. {moment:%H.%M}" if with_time else text


def format_clock(seconds: float | None) -> str:
    """A duration or position as `m:ss`, or `h:mm:ss` from an hour on."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
