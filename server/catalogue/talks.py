"""Talks and their recordings: validation, storage and lookups. No HTTP in here."""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from server.catalogue import search
from server.catalogue.records import Recording, Talk, talk_or_none
from server.core import clock, parse
from server.core.config import LANGUAGES, VISIBILITIES, Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.core.paging import Page
from server.people import accounts
from server.people.access import EVERYONE, Filter
from server.people.accounts import User
from server.pipeline import jobs, probe, tus
from server.store import inserted_id, write
from server.store.locks import serialize

MAX_TITLE = 200
MAX_TEXT = 5000
MAX_CAPACITY = 100_000
OSLO = ZoneInfo("Europe/Oslo")
PAST_DATE = N_(
    "Datoen har vært. Kryss av for «Lagre likevel» hvis foredraget allerede er holdt "
    "(for eksempel for å legge inn opptaket av det), eller velg en ny dato."
)


class ValidationError(UserError):
    """Form input that cannot be saved; `errors` maps field name to a Norwegian sentence
    (a msgid, translated where it is shown). `past_date`: only the past date stopped it."""

    status = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors
        self.past_date = errors.get("starts_at") == PAST_DATE


class RecordingError(UserError):
    """A recording cannot be attached; the message is for the person who uploaded it."""

    status = 422


@dataclass(frozen=True)
class TalkInput:
    title: str
    speaker: str = ""
    department: str = ""
    starts_at: str = ""
    description: str = ""
    language: str = "nb"
    visibility: str = "internal"
    room: str = ""
    capacity: str | int | None = None  # seats in the room; empty means no limit
    # A date in the past is saved only when confirmed (the form's «Lagre likevel»); code
    # that imports old talks (ktl import, tests) does not ask.
    confirm_past: bool = True


def _clean(value: str, limit: int) -> str:
    return value.replace("\x00", "").strip()[:limit]


def _check_starts_at(value: str) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return ""


def _check_capacity(value: str | int | None) -> int | str | None:
    """A positive whole number, None for no limit, or "" when it is not valid."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    number = parse.integer(text, 1, MAX_CAPACITY)
    return "" if number is None else number


def _in_the_past(starts_at: str | None, previous: str | None) -> bool:
    """A newly chosen time that has already been (an unchanged old date is not asked again)."""
    if not starts_at or starts_at == previous:
        return False
    return starts_at < datetime.now(OSLO).strftime("%Y-%m-%dT%H:%M")


def validate(data: TalkInput, previous_starts_at: str | None = None) -> TalkInput:
    errors: dict[str, str] = {}
    title = _clean(data.title, MAX_TITLE)
    if not title:
        errors["title"] = N_("Skriv en tittel på foredraget.")
    if data.language not in LANGUAGES:
        errors["language"] = N_("Velg språket det snakkes på: bokmål, nynorsk eller engelsk.")
    if data.visibility not in VISIBILITIES:
        errors["visibility"] = N_("Velg om foredraget er åpent for alle eller bare for ansatte.")
    starts_at = _check_starts_at(data.starts_at.strip())
    if starts_at == "":
        errors["starts_at"] = N_(
            "Velg dato og klokkeslett i datovelgeren, eller la feltet stå tomt hvis tiden "
            "ikke er bestemt ennå."
        )
    elif not data.confirm_past and _in_the_past(starts_at, previous_starts_at):
        errors["starts_at"] = PAST_DATE
    capacity = _check_capacity(data.capacity)
    if capacity == "":
        errors["capacity"] = N_(
            "Skriv antall plasser i salen som et helt tall over 0, eller la feltet stå tomt."
        )
    if errors:
        raise ValidationError(errors)
    return TalkInput(
        title=title,
        speaker=_clean(data.speaker, MAX_TITLE),
        department=_clean(data.department, MAX_TITLE),
        starts_at=starts_at or "",
        description=_clean(data.description, MAX_TEXT),
        language=data.language,
        visibility=data.visibility,
        room=_clean(data.room, MAX_TITLE),
        capacity=capacity,
    )


def slugify(title: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "Æ": "ae", "Ø": "o", "Å": "a"})
    ascii_text = unicodedata.normalize("NFKD", title.translate(table))
    ascii_text = ascii_text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].strip("-") or "foredrag"


def _unique_slug(db: sqlite_utils.Database, title: str) -> str:
    base = slugify(title)
    slug, number = base, 1
    while db.execute("SELECT 1 FROM talks WHERE slug = ?", [slug]).fetchone():
        number += 1
        slug = f"{base}-{number}"
    return slug


def create(db: sqlite_utils.Database, data: TalkInput, actor: User | None = None) -> Talk:
    """Validate and insert a talk, organised by `actor`; returns the row."""
    clean = validate(data)
    stamp = clock.now_iso()
    with write(db):
        serialize(db, f"talk-slug:{slugify(clean.title)}")  # the free slug stays free
        cursor = db.execute(
            "INSERT INTO talks (slug, title, speaker, department, starts_at, description, "
            "language, visibility, status, created_at, updated_at, organiser_id, room, "
            "capacity) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?) RETURNING id",
            [
                _unique_slug(db, clean.title), clean.title, clean.speaker, clean.department,
                clean.starts_at or None, clean.description, clean.language, clean.visibility,
                stamp, stamp, actor.id if actor else None, clean.room, clean.capacity,
            ],
        )  # fmt: skip
        talk_id = inserted_id(cursor)
        search.index_talk_metadata(db, talk_id)
        accounts.audit(db, actor, N_("opprettet foredrag"), clean.title, clean.visibility)
    return get(db, talk_id)


def update(db: sqlite_utils.Database, talk: Talk, data: TalkInput, actor: User | None) -> Talk:
    """Save edited fields (the language is kept once a recording exists)."""
    clean = validate(data, talk.starts_at)
    language = talk.language if recording(db, talk.id) else clean.language
    with write(db):
        db.execute(
            "UPDATE talks SET title = ?, speaker = ?, department = ?, starts_at = ?, "
            "description = ?, language = ?, visibility = ?, updated_at = ?, room = ?, "
            "capacity = ? WHERE id = ?",
            [clean.title, clean.speaker, clean.department, clean.starts_at or None,
             clean.description, language, clean.visibility, clock.now_iso(), clean.room,
             clean.capacity, talk.id],
        )  # fmt: skip
        search.index_talk_metadata(db, talk.id)
        action = N_("endret foredrag")
        if talk.visibility == "draft" and clean.visibility != "draft":
            action = N_("publiserte foredrag")
        accounts.audit(db, actor, action, clean.title, changes(talk, get(db, talk.id)))
    return get(db, talk.id)


# What the audit log calls each field of the talk form.
AUDITED_FIELDS = {
    "title": N_("tittel"), "speaker": N_("foredragsholder"), "department": N_("avdeling"),
    "starts_at": N_("tidspunkt"), "room": N_("rom"), "capacity": N_("plasser"),
    "language": N_("språk"), "visibility": N_("synlighet"), "description": N_("beskrivelse"),
}  # fmt: skip
NO_CHANGES = N_("ingen endringer")
DESCRIPTION_CHANGED = N_("beskrivelse endret")


def changes(before: Talk, after: Talk) -> str:
    """Exactly the fields that changed, for the audit log: "tidspunkt 2030-12-03T11:30→
    2030-12-04T11:30; rom –→Kantina" (a changed description is only named)."""
    parts = []
    for name, label in AUDITED_FIELDS.items():
        old, new = (_shown(getattr(value, name)) for value in (before, after))
        if old == new:
            continue
        parts.append(DESCRIPTION_CHANGED if name == "description" else f"{label} {old}→{new}")
    return "; ".join(parts) or NO_CHANGES


def _shown(value: object) -> str:
    return "–" if value is None or value == "" else str(value)


def get(db: sqlite_utils.Database, talk_id: int) -> Talk | None:
    row = db.execute("SELECT * FROM talks WHERE id = ?", [talk_id]).fetchone()
    return talk_or_none(row)


def hold(db: sqlite_utils.Database, talk_id: int) -> None:
    """Inside a write unit that reads, decides and writes for one talk (seats, versions,
    chapters): other units doing the same for this talk wait here until this one ends
    (server.store.locks: nothing to do on SQLite, whose write unit is alone)."""
    serialize(db, f"talk:{talk_id}")


def find(db: sqlite_utils.Database, key: str) -> Talk | None:
    """A talk by slug or by numeric id."""
    row = db.execute("SELECT * FROM talks WHERE slug = ?", [key]).fetchone()
    talk_id = parse.identifier(key)
    if row is None and talk_id is not None:
        row = db.execute("SELECT * FROM talks WHERE id = ?", [talk_id]).fetchone()
    return talk_or_none(row)


def recording(db: sqlite_utils.Database, talk_id: int) -> Recording | None:
    row = db.execute("SELECT * FROM recordings WHERE talk_id = ?", [talk_id]).fetchone()
    return Recording.from_row(row) if row else None


def media_dir(settings: Settings, talk_id: int) -> Path:
    return settings.paths.talk_media(talk_id)


def transcript_dir(settings: Settings, talk_id: int) -> Path:
    return settings.paths.talk_transcripts(talk_id)


def _extension(original_name: str) -> str:
    suffix = Path(original_name).suffix.lower().lstrip(".")
    return suffix if re.fullmatch(r"[a-z0-9]{1,5}", suffix) else "bin"


def attach_recording(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, source: Path, original_name: str
) -> Recording:
    """Probe `source`, move it into place and queue processing, all or nothing.

    On any error the source file is removed and no row or job is written.
    """
    try:
        talk = get(db, talk_id)
        if talk is None:
            raise RecordingError(N_("Foredraget finnes ikke lenger."), status=404)
        if recording(db, talk_id) is not None:
            raise RecordingError(N_("Foredraget har allerede et opptak."), status=409)
        info = probe.inspect(source, original_name)
    except (probe.MediaError, RecordingError) as exc:
        source.unlink(missing_ok=True)
        if isinstance(exc, probe.MediaError):
            raise RecordingError(str(exc)) from exc
        raise
    return _store(db, settings, talk, source, original_name, info)


def attach_upload(
    db: sqlite_utils.Database,
    settings: Settings,
    talk_id: int,
    upload_id: str,
    owner_id: int | None,
) -> Recording:
    """Take over a completed resumable upload as the talk's recording (see attach_recording).

    Only the person who uploaded the file can attach it.
    """
    upload = tus.get(db, upload_id) if tus.valid_id(upload_id) else None
    if upload is None or upload.metadata.get("ktl_owner") != (
        str(owner_id) if owner_id is not None else None
    ):
        raise RecordingError(
            N_("Fant ikke opplastingen. Velg filen på nytt og last den opp igjen."), status=404
        )
    path = tus.take_completed(db, settings, upload_id)
    try:
        return attach_recording(
            db, settings, talk_id, path, upload.metadata.get("filename") or "opptak"
        )
    finally:
        with write(db):
            tus.discard(db, upload_id)


def _store(
    db: sqlite_utils.Database,
    settings: Settings,
    talk: Talk,
    source: Path,
    original_name: str,
    info: probe.MediaInfo,
) -> Recording:
    folder = media_dir(settings, talk.id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"original.{_extension(original_name)}"
    size = source.stat().st_size
    shutil.move(source, target)
    try:
        with write(db):
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
                "video_codec, pix_fmt, audio_codec, width, height, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    talk.id, original_name[:255], target.name, size, info.duration,
                    int(info.has_video), info.video_codec, info.pix_fmt, info.audio_codec,
                    info.width, info.height, clock.now_iso(),
                ],
            )  # fmt: skip
            db.execute(
                "UPDATE talks SET status = 'processing', updated_at = ? WHERE id = ?",
                [clock.now_iso(), talk.id],
            )
            jobs.enqueue(db, talk.id)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return recording(db, talk.id)


Allowed = Filter  # the viewer's access rule as SQL on talks t (server.people.access.Visibility)
ARCHIVE_PAGE = 50  # talks per page of /arkiv


def list_talks(
    db: sqlite_utils.Database,
    where: str = "1 = 1",
    params: dict | None = None,
    order: str = "",
    allowed: Allowed = EVERYONE,
    limit: int = 500,
    offset: int = 0,
) -> list[Talk]:
    order = order or "COALESCE(t.starts_at, t.created_at) DESC, t.id DESC"
    sql = (
        f"SELECT t.* FROM talks t WHERE ({where}) AND ({allowed[0]}) "
        f"ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    return [Talk.from_row(r) for r in db.execute(sql, {**(params or {}), **allowed[1]})]


def count_talks(
    db: sqlite_utils.Database, where: str = "1 = 1", params: dict | None = None,
    allowed: Allowed = EVERYONE,
) -> int:  # fmt: skip
    sql = f"SELECT count(*) FROM talks t WHERE ({where}) AND ({allowed[0]})"
    return db.execute(sql, {**(params or {}), **allowed[1]}).fetchone()[0]


def upcoming(db: sqlite_utils.Database, now: str, allowed: Allowed = EVERYONE) -> list[Talk]:
    """Planned talks still to come: one on air, or whose broadcast is over, has happened."""
    where = (
        "t.status = 'planned' AND t.starts_at >= :now AND t.id NOT IN "
        "(SELECT talk_id FROM broadcasts WHERE state != 'idle')"
    )
    return list_talks(db, where, {"now": now}, "t.starts_at ASC", allowed)


def recent(db: sqlite_utils.Database, allowed: Allowed = EVERYONE, limit: int = 12) -> list[Talk]:
    return list_talks(db, "t.status = 'ready'", allowed=allowed, limit=limit)


def archive(
    db: sqlite_utils.Database,
    year: int | None,
    department: str | None,
    allowed: Allowed = EVERYONE,
    page: int = 1,
    size: int = ARCHIVE_PAGE,
) -> tuple[list[Talk], Page]:
    """One page of the ready talks (newest first) of a year and/or department, and where
    that page is among all of them (no talks when the page is past the last one)."""
    clauses, params = ["t.status = 'ready'"], {}
    if year:
        clauses.append("substr(COALESCE(t.starts_at, t.created_at), 1, 4) = :year")
        params["year"] = f"{year:04d}"
    if department:
        clauses.append("t.department = :department")
        params["department"] = department
    where = " AND ".join(clauses)
    place = Page(page, size, count_talks(db, where, params, allowed))
    if not place.exists:
        return [], place
    listed = list_talks(db, where, params, allowed=allowed, limit=size, offset=place.offset)
    return listed, place


def set_status(db: sqlite_utils.Database, talk_id: int, status: str) -> None:
    with write(db):
        db.execute(
            "UPDATE talks SET status = ?, updated_at = ? WHERE id = ?",
            [status, clock.now_iso(), talk_id],
        )


def delete(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, actor: User | None = None
) -> None:
    """Remove a talk with its rows, index entries and files."""
    talk = get(db, talk_id)
    with write(db):
        if talk is not None and actor is not None:
            accounts.audit(db, actor, N_("slettet foredrag"), talk.title)
        search.remove_talk(db, talk_id)
        db.execute("DELETE FROM jobs WHERE talk_id = ?", [talk_id])
        db.execute("DELETE FROM recordings WHERE talk_id = ?", [talk_id])
        db.execute("DELETE FROM talks WHERE id = ?", [talk_id])
    shutil.rmtree(media_dir(settings, talk_id), ignore_errors=True)
    shutil.rmtree(transcript_dir(settings, talk_id), ignore_errors=True)
