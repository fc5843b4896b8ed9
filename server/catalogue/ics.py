"""iCalendar feeds of the programme (RFC 5545), built with the `icalendar` library.

Calendar programs (Outlook, Google, Apple) fetch a subscribed feed without cookies, so a
feed is the same for everyone and lists **public talks only**: internal and draft talks
never appear, not even their titles. Times are local Europe/Oslo (DTSTART/DTEND with
TZID) and the calendar carries a VTIMEZONE with the EU summer-time rules as RRULEs
(what Outlook expects; no end year). UIDs are `talk-<id>@kunnskap-til-lunsj`, so an
event keeps its identity when the talk is renamed, moved or the site changes address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import sqlite_utils

from server.catalogue import talks
from server.catalogue.programme import TALK_MINUTES
from server.catalogue.records import Talk
from server.core.clock import OSLO

PRODID = "-//Kunnskap til lunsj//Programme//NO"
UID_DOMAIN = "kunnskap-til-lunsj"
CALENDAR_NAME = "Kunnskap til lunsj"
PAST_DAYS = 365  # past talks stay in the feed this long, so they do not vanish at once
CONTENT_TYPE = "text/calendar; charset=utf-8"


def feed_talks(
    db: sqlite_utils.Database, now: datetime, department: str | None = None
) -> list[Talk]:
    """Public, dated talks from a year ago on (optionally of one department)."""
    since = (now.astimezone(OSLO) - timedelta(days=PAST_DAYS)).strftime("%Y-%m-%dT%H:%M")
    where = "t.visibility = 'public' AND t.starts_at IS NOT NULL AND t.starts_at >= :since"
    params: dict = {"since": since}
    if department is not None:
        where += " AND t.department = :department"
        params["department"] = department
    return talks.list_talks(db, where, params, "t.starts_at ASC", limit=1000)


def oslo_timezone() -> icalendar.Timezone:
    """VTIMEZONE for Europe/Oslo: CET, and CEST from the last Sunday of March to October."""
    zone = icalendar.Timezone()
    zone.add("tzid", "Europe/Oslo")
    zone.add("x-lic-location", "Europe/Oslo")
    for kind, name, start, month, before, after in (
        (icalendar.TimezoneDaylight, "CEST", datetime(1970, 3, 29, 2), 3, 1, 2),
        (icalendar.TimezoneStandard, "CET", datetime(1970, 10, 25, 3), 10, 2, 1),
    ):
        part = kind()
        part.add("tzname", name)
        part.add("dtstart", start)
        part.add("tzoffsetfrom", timedelta(hours=before))
        part.add("tzoffsetto", timedelta(hours=after))
        part.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1su"})
        zone.add_component(part)
    return zone


def _utc(value: str | None, fallback: datetime) -> datetime:
    if not value:
        return fallback
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _description(talk: Talk, url: str) -> str:
    lines = []
    if talk.speaker:
        lines.append(f"Foredragsholder: {talk.speaker}")
    if talk.department:
        lines.append(f"Avdeling: {talk.department}")
    if talk.description:
        lines += ["", talk.description]
    lines += ["", url]
    return "\n".join(lines).strip()


def event(talk: Talk, base_url: str, now: datetime) -> icalendar.Event:
    start = datetime.fromisoformat(talk.starts_at).replace(tzinfo=OSLO)
    url = f"{base_url}/talks/{talk.slug}"
    item = icalendar.Event()
    item.add("uid", f"talk-{talk.id}@{UID_DOMAIN}")
    item.add("dtstamp", _utc(talk.updated_at, now))
    item.add("last-modified", _utc(talk.updated_at, now))
    item.add("dtstart", start)
    item.add("dtend", start + timedelta(minutes=TALK_MINUTES))
    item.add("summary", talk.title)
    if talk.room:
        item.add("location", talk.room)
    item.add("description", _description(talk, url))
    item.add("url", url)
    item.add("status", "CONFIRMED")
    item.add("transp", "OPAQUE")
    return item


def calendar(items: list[Talk], base_url: str, name: str, now: datetime) -> bytes:
    """The whole feed as bytes (CRLF line endings, folded lines)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Europe/Oslo")
    cal.add("x-published-ttl", "PT6H")
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    cal.add_component(oslo_timezone())
    base = base_url.rstrip("/")
    for talk in items:
        cal.add_component(event(talk, base, now))
    return cal.to_ical()


def feed(db: sqlite_utils.Database, base_url: str, department: str | None = None) -> bytes:
    now = datetime.now(UTC)
    name = CALENDAR_NAME if department is None else f"{CALENDAR_NAME} – {department}"
    return calendar(feed_talks(db, now, department), base_url, name, now)
