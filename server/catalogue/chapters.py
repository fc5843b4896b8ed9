"""A talk's chapters: proposed from its slides (title = the slide's heading) or, without
slides, from shifts of topic in its transcript (server.transcript.topics); edited by the
organiser; served as a WebVTT chapters track and in the JSON transcript. No HTTP in here.

Once an organiser has saved the chapters (source 'organiser'), new proposals (the slide
stage run again) leave them alone. Chapters made from the transcript are made again when
the transcript changes (server.transcript.editing); those from slides or the organiser stay.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from server.catalogue import talks
from server.catalogue.slides import SlideRow
from server.core.errors import UserError
from server.core.i18n import N_
from server.store.store import write
from server.transcript import topics
from server.transcript.model import Segment

MAX_TITLE = 120
MAX_CHAPTERS = 100
ORGANISER = "organiser"
TRANSCRIPT = "transcript"
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$|^(\d+(?:[.,]\d+)?)$")


@dataclass(frozen=True)
class Chapter:
    at: float
    title: str
    source: str = ORGANISER  # 'slides', 'transcript' or 'organiser'


class ChapterError(UserError):
    """Chapters that cannot be saved; `errors` maps a row number (from 1) to a sentence."""

    status = 422

    def __init__(self, errors: dict[int, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def for_talk(db: sqlite_utils.Database, talk_id: int) -> list[Chapter]:
    rows = db.execute(
        "SELECT at, title, source FROM chapters WHERE talk_id = ? ORDER BY at, id", [talk_id]
    ).fetchall()
    return [Chapter(r["at"], r["title"], r["source"]) for r in rows]


def _held(db: sqlite_utils.Database, talk_id: int) -> list[Chapter]:
    """Inside a write unit: the talk's chapters, which stay as read until the unit ends
    (a proposal never replaces chapters an organiser saved meanwhile)."""
    talks.hold(db, talk_id)
    return for_talk(db, talk_id)


def _replace(db: sqlite_utils.Database, talk_id: int, chapters: Sequence[Chapter]) -> None:
    with write(db) as conn:
        conn.execute("DELETE FROM chapters WHERE talk_id = ?", [talk_id])
        conn.executemany(
            "INSERT INTO chapters (talk_id, at, title, source) VALUES (?, ?, ?, ?)",
            [(talk_id, c.at, c.title, c.source) for c in chapters],
        )


def from_slides(slides: Sequence[SlideRow]) -> list[Chapter]:
    """A chapter where the heading changes; a slide without a heading is numbered."""
    chapters: list[Chapter] = []
    for slide in slides:
        title = " ".join(slide.heading.split())[:MAX_TITLE] or f"Lysbilde {slide.index}"
        if chapters and chapters[-1].title == title:
            continue
        chapters.append(Chapter(round(slide.at, 3), title, "slides"))
    return chapters


def from_transcript(segments: Sequence[Segment], language: str, duration: float) -> list[Chapter]:
    found = topics.chapters(segments, language, duration)
    return [Chapter(round(at, 3), title[:MAX_TITLE], TRANSCRIPT) for at, title in found]


def propose(
    db: sqlite_utils.Database,
    talk_id: int,
    slides: Sequence[SlideRow],
    segments: Sequence[Segment],
    language: str,
    duration: float,
) -> list[Chapter]:
    """Chapters from the slides (two or more) or else from the transcript, stored unless
    the organiser has edited the talk's chapters; returns the talk's chapters."""
    with write(db):
        current = _held(db, talk_id)
        if any(c.source == ORGANISER for c in current):
            return current
        proposed = from_slides(slides) if len(slides) >= 2 else []
        if len(proposed) < 2:
            proposed = from_transcript(segments, language, duration)
        _replace(db, talk_id, proposed)
    return proposed


def follow_transcript(
    db: sqlite_utils.Database,
    talk_id: int,
    segments: Sequence[Segment],
    language: str,
    duration: float,
) -> list[Chapter]:
    """After the transcript changed (an edit, a restore, an accepted re-transcription):
    chapters made from the transcript are made again from the new text; chapters the
    organiser set or the slides gave stay as they are. Returns the talk's chapters."""
    with write(db):
        current = _held(db, talk_id)
        if any(c.source != TRANSCRIPT for c in current):
            return current
        made = from_transcript(segments, language, duration)
        _replace(db, talk_id, made)
    return made


# ---------------------------------------------------------------- the organiser's edits

BAD_TIME = N_("Skriv tiden som minutter:sekunder, for eksempel 12:30.")
LATE_TIME = N_("Tiden er etter slutten av opptaket.")
NO_TITLE = N_("Skriv en tittel.")
LONG_TITLE = N_("Tittelen kan være på høyst 120 tegn.")
SAME_TIME = N_("Et annet kapittel starter på samme tid.")
TOO_MANY = N_("Et foredrag kan ha høyst 100 kapitler.")


def parse_time(text: str) -> float | None:
    """'1:02:03', '12:30', '90' or '90.5' as seconds; None when it is none of these."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    hours, minutes, seconds, plain = match.groups()
    if plain is not None:
        return float(plain.replace(",", "."))
    if (int(minutes) >= 60 and hours is not None) or float(seconds.replace(",", ".")) >= 60:
        return None
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def validate(rows: Sequence[tuple[str, str]], duration: float) -> list[Chapter]:
    """The form's rows (time, title), blank rows left out, as chapters in time order."""
    errors: dict[int, str] = {}
    chapters: list[Chapter] = []
    seen: set[float] = set()
    for number, (raw_time, raw_title) in enumerate(rows, start=1):
        title = " ".join(raw_title.split())
        if not raw_time.strip() and not title:
            continue
        at = parse_time(raw_time)
        if at is None:
            errors[number] = BAD_TIME
        elif duration and at >= duration:
            errors[number] = LATE_TIME
        elif not title:
            errors[number] = NO_TITLE
        elif len(title) > MAX_TITLE:
            errors[number] = LONG_TITLE
        elif round(at, 3) in seen:
            errors[number] = SAME_TIME
        else:
            seen.add(round(at, 3))
            chapters.append(Chapter(round(at, 3), title))
    if len(chapters) > MAX_CHAPTERS:
        errors[len(rows)] = TOO_MANY
    if errors:
        raise ChapterError(errors)
    return sorted(chapters, key=lambda c: c.at)


def save(db: sqlite_utils.Database, talk_id: int, chapters: Sequence[Chapter]) -> None:
    """The organiser's chapters replace the talk's (proposals no longer touch them)."""
    with write(db):
        talks.hold(db, talk_id)  # after a proposal being stored, never under it
        _replace(db, talk_id, [Chapter(c.at, c.title, ORGANISER) for c in chapters])


# ---------------------------------------------------------------- formats


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(chapters: Sequence[Chapter], duration: float) -> str:
    """A WebVTT chapters track: each chapter lasts until the next (the last to the end)."""
    lines = ["WEBVTT", ""]
    for n, chapter in enumerate(chapters):
        end = chapters[n + 1].at if n + 1 < len(chapters) else max(duration, chapter.at + 1)
        title = chapter.title.replace("-->", "→")
        lines += [f"{n + 1}", f"{_vtt_time(chapter.at)} --> {_vtt_time(end)}", title, ""]
    return "\n".join(lines)


def as_json(chapters: Sequence[Chapter]) -> list[dict]:
    return [{"start": c.at, "title": c.title, "source": c.source} for c in chapters]
