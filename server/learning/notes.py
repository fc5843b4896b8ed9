"""Personal notes at moments of a talk: private to the person who wrote them (domain code,
no HTTP). Every read and write names the owner, so another person's note is simply not
found. The talk page lists them beside the transcript, "Mine moduler" lists them by talk,
and they download as text with time stamps."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlite_utils

from server.catalogue import moments, talks
from server.core.errors import UserError
from server.core.i18n import N_
from server.people.access import Viewer, can_view
from server.store import inserted_id, write
from server.store.locks import serialize

MAX_CHARS = 4000
# Control characters but line breaks and tabs: kept out of the page and the text download
# (an escape sequence in a .txt would reach the reader's terminal).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_NOTES_PER_TALK = 500
# The player's stream may run a little past the length the probe gave the recording (HLS
# segments end on whole frames); a note taken at its very end is still within it.
END_SLACK = 2.0

NOT_FOUND = N_("Fant ikke notatet. Det kan være slettet; last siden på nytt.")
EMPTY = N_("Skriv noe i notatet før du lagrer det.")
TOO_LONG = N_("Notatet er for langt: skriv høyst %(n)s tegn, eller del det i flere notater.")
BAD_TIME = N_("Tiden må skrives som minutter:sekunder, for eksempel 12:30.")
AFTER_END = N_("Tiden må ligge innenfor opptaket: opptaket varer %(length)s.")
TOO_MANY = N_("Du har nådd grensen på %(n)s notater for dette foredraget. Slett noen først.")


class NoteError(UserError):
    """A note that cannot be saved or found: a msgid filled with `params` (translated where
    it is shown, server.core.i18n.translate) and the HTTP status."""

    def __init__(self, message: str, status: int = 422, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.status = status


@dataclass(frozen=True)
class Note:
    id: int
    talk_id: int
    at: float
    text: str
    created_at: str
    updated_at: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TalkNotes:
    """One talk's notes for "Mine moduler"."""

    talk: object  # the talk record (server.catalogue.records.Talk)
    notes: list[Note]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _note(row) -> Note:
    return Note(row["id"], row["talk_id"], row["at"], row["text"], row["created_at"],
                row["updated_at"])  # fmt: skip


def clean(at: object, text: object, duration: float | None = None) -> tuple[float, str]:
    """The time (seconds, or m:ss) and the text of a note as saved, or a NoteError. With
    the recording's `duration` (seconds) the time must lie within it (END_SLACK past its
    end is taken: the player's stream may be that much longer)."""
    seconds = moments.parse_time(str(at if at is not None else "0") or "0")
    if seconds is None:
        raise NoteError(BAD_TIME)
    if duration and seconds > duration + END_SLACK:
        raise NoteError(AFTER_END, length=clock(duration))
    lines = _CONTROL.sub("", str(text or "").replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    body = "\n".join(line.rstrip() for line in lines).strip()
    if not body:
        raise NoteError(EMPTY)
    if len(body) > MAX_CHARS:
        raise NoteError(TOO_LONG, n=MAX_CHARS)
    return round(seconds, 1), body


def _duration(db: sqlite_utils.Database, talk_id: int) -> float | None:
    """The recording's length in seconds; None without a recording (a live broadcast, a
    planned talk) or where the probe found none: then any readable time is taken."""
    recording = talks.recording(db, talk_id)
    return recording.duration if recording is not None and recording.duration > 0 else None


def for_talk(db: sqlite_utils.Database, user_id: int, talk_id: int) -> list[Note]:
    sql = "SELECT * FROM notes WHERE user_id = ? AND talk_id = ? ORDER BY at, id"
    return [_note(row) for row in db.execute(sql, [user_id, talk_id]).fetchall()]


def get(db: sqlite_utils.Database, user_id: int, talk_id: int, note_id: int) -> Note:
    sql = "SELECT * FROM notes WHERE id = ? AND user_id = ? AND talk_id = ?"
    row = db.execute(sql, [note_id, user_id, talk_id]).fetchone()
    if row is None:
        raise NoteError(NOT_FOUND, 404)
    return _note(row)


def add(db: sqlite_utils.Database, user_id: int, talk_id: int, at: object, text: object) -> Note:
    seconds, body = clean(at, text, _duration(db, talk_id))
    with write(db):
        serialize(db, f"notes:{user_id}:{talk_id}")  # the count below holds until the insert
        count = "SELECT count(*) FROM notes WHERE user_id = ? AND talk_id = ?"
        if db.execute(count, [user_id, talk_id]).fetchone()[0] >= MAX_NOTES_PER_TALK:
            raise NoteError(TOO_MANY, 409, n=MAX_NOTES_PER_TALK)
        now = _now()
        cursor = db.execute(
            "INSERT INTO notes (user_id, talk_id, at, text, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [user_id, talk_id, seconds, body, now, now],
        )
        note_id = inserted_id(cursor)
    return get(db, user_id, talk_id, note_id)


def update(
    db: sqlite_utils.Database, user_id: int, talk_id: int, note_id: int, at: object, text: object
) -> Note:
    seconds, body = clean(at, text, _duration(db, talk_id))
    with write(db):
        cursor = db.execute(
            "UPDATE notes SET at = ?, text = ?, updated_at = ?"
            " WHERE id = ? AND user_id = ? AND talk_id = ?",
            [seconds, body, _now(), note_id, user_id, talk_id],
        )
        if cursor.rowcount == 0:
            raise NoteError(NOT_FOUND, 404)
    return get(db, user_id, talk_id, note_id)


def delete(db: sqlite_utils.Database, user_id: int, talk_id: int, note_id: int) -> None:
    with write(db):
        sql = "DELETE FROM notes WHERE id = ? AND user_id = ? AND talk_id = ?"
        if db.execute(sql, [note_id, user_id, talk_id]).rowcount == 0:
            raise NoteError(NOT_FOUND, 404)


def mine(db: sqlite_utils.Database, viewer: Viewer) -> list[TalkNotes]:
    """The viewer's notes by talk, for the talks they may still see, newest note first."""
    if viewer.user is None:
        return []
    sql = (
        "SELECT talk_id, max(updated_at) AS newest FROM notes WHERE user_id = ?"
        " GROUP BY talk_id ORDER BY newest DESC"
    )
    found = []
    for row in db.execute(sql, [viewer.user.id]).fetchall():
        talk = talks.get(db, row["talk_id"])
        if talk is not None and can_view(viewer, talk):
            found.append(TalkNotes(talk, for_talk(db, viewer.user.id, row["talk_id"])))
    return found


def clock(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def as_text(title: str, url: str, notes: list[Note], heading: str) -> str:
    """The notes as plain text: a heading line, the talk's address, then each note under
    its time stamp [m:ss] and the link to that moment."""
    lines = [f"{heading}: {title}", url, ""]
    for note in notes:
        lines.append(f"[{clock(note.at)}] {url}?t={int(note.at)}")
        lines.extend(note.text.splitlines())
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk) -> dict:
    """What the talk page needs (talks/_notes.html): the viewer's notes, for signed-in viewers."""
    if viewer.user is None:
        return {"notes": None}
    return {"notes": for_talk(db, viewer.user.id, talk.id)}
