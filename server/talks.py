"""Talks and their recordings: validation, storage and lookups. No HTTP in here."""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from server import search, tus
from server.config import LANGUAGES, VISIBILITIES, Settings
from server.pipeline import jobs, probe

MAX_TITLE = 200
MAX_TEXT = 5000


class ValidationError(ValueError):
    """Form input that cannot be saved; `errors` maps field name to a Norwegian sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class RecordingError(ValueError):
    """A recording cannot be attached; the message is for the person who uploaded it."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TalkInput:
    title: str
    speaker: str = ""
    department: str = ""
    starts_at: str = ""
    description: str = ""
    language: str = "nb"
    visibility: str = "internal"


def _clean(value: str, limit: int) -> str:
    return value.replace("\x00", "").strip()[:limit]


def _check_starts_at(value: str) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return ""


def validate(data: TalkInput) -> TalkInput:
    errors: dict[str, str] = {}
    title = _clean(data.title, MAX_TITLE)
    if not title:
        errors["title"] = "Skriv en tittel på foredraget."
    if data.language not in LANGUAGES:
        errors["language"] = "Velg språket det snakkes på: bokmål, nynorsk eller engelsk."
    if data.visibility not in VISIBILITIES:
        errors["visibility"] = "Velg om foredraget er åpent for alle eller bare for ansatte."
    starts_at = _check_starts_at(data.starts_at.strip())
    if starts_at == "":
        errors["starts_at"] = "Skriv dato og klokkeslett som 2026-12-03 11:30."
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


def create(db: sqlite_utils.Database, data: TalkInput) -> dict:
    """Validate and insert a talk; returns the row."""
    clean = validate(data)
    stamp = jobs.now_iso()
    with db.conn:
        cursor = db.execute(
            "INSERT INTO talks (slug, title, speaker, department, starts_at, description, "
            "language, visibility, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?)",
            [
                _unique_slug(db, clean.title), clean.title, clean.speaker, clean.department,
                clean.starts_at or None, clean.description, clean.language, clean.visibility,
                stamp, stamp,
            ],
        )  # fmt: skip
        talk_id = int(cursor.lastrowid)
        search.index_talk_metadata(db, talk_id)
    return get(db, talk_id)


def get(db: sqlite_utils.Database, talk_id: int) -> dict | None:
    row = db.execute("SELECT * FROM talks WHERE id = ?", [talk_id]).fetchone()
    return dict(row) if row else None


def find(db: sqlite_utils.Database, key: str) -> dict | None:
    """A talk by slug or by numeric id."""
    row = db.execute("SELECT * FROM talks WHERE slug = ?", [key]).fetchone()
    if row is None and key.isdigit():
        row = db.execute("SELECT * FROM talks WHERE id = ?", [int(key)]).fetchone()
    return dict(row) if row else None


def recording(db: sqlite_utils.Database, talk_id: int) -> dict | None:
    row = db.execute("SELECT * FROM recordings WHERE talk_id = ?", [talk_id]).fetchone()
    return dict(row) if row else None


def media_dir(settings: Settings, talk_id: int) -> Path:
    return settings.media_dir / str(talk_id)


def transcript_dir(settings: Settings, talk_id: int) -> Path:
    return settings.transcripts_dir / str(talk_id)


def _extension(original_name: str) -> str:
    suffix = Path(original_name).suffix.lower().lstrip(".")
    return suffix if re.fullmatch(r"[a-z0-9]{1,5}", suffix) else "bin"


def attach_recording(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, source: Path, original_name: str
) -> dict:
    """Probe `source`, move it into place and queue processing, all or nothing.

    On any error the source file is removed and no row or job is written.
    """
    try:
        talk = get(db, talk_id)
        if talk is None:
            raise RecordingError("Foredraget finnes ikke lenger.", status=404)
        if recording(db, talk_id) is not None:
            raise RecordingError("Foredraget har allerede et opptak.", status=409)
        info = probe.inspect(source, original_name)
    except (probe.MediaError, RecordingError) as exc:
        source.unlink(missing_ok=True)
        if isinstance(exc, probe.MediaError):
            raise RecordingError(str(exc)) from exc
        raise
    return _store(db, settings, talk, source, original_name, info)


def attach_upload(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, upload_id: str
) -> dict:
    """Take over a completed resumable upload as the talk's recording (see attach_recording)."""
    upload = tus.get(db, upload_id) if tus.valid_id(upload_id) else None
    if upload is None:
        raise RecordingError(
            "Fant ikke opplastingen. Velg filen på nytt og last den opp igjen.", status=404
        )
    path = tus.take_completed(db, settings, upload_id)
    try:
        return attach_recording(
            db, settings, talk_id, path, upload.metadata.get("filename") or "opptak"
        )
    finally:
        with db.conn:
            tus.discard(db, upload_id)


def _store(
    db: sqlite_utils.Database,
    settings: Settings,
    talk: dict,
    source: Path,
    original_name: str,
    info: probe.MediaInfo,
) -> dict:
    folder = media_dir(settings, talk["id"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"original.{_extension(original_name)}"
    size = source.stat().st_size
    shutil.move(source, target)
    try:
        with db.conn:
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
                "video_codec, pix_fmt, audio_codec, width, height, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    talk["id"], original_name[:255], target.name, size, info.duration,
                    int(info.has_video), info.video_codec, info.pix_fmt, info.audio_codec,
                    info.width, info.height, jobs.now_iso(),
                ],
            )  # fmt: skip
            db.execute(
                "UPDATE talks SET status = 'processing', updated_at = ? WHERE id = ?",
                [jobs.now_iso(), talk["id"]],
            )
            jobs.enqueue(db, talk["id"])
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return recording(db, talk["id"])


def list_talks(
    db: sqlite_utils.Database, where: str = "1", params: list | None = None, order: str = ""
) -> list[dict]:
    order = order or "COALESCE(starts_at, created_at) DESC"
    rows = db.execute(f"SELECT * FROM talks WHERE {where} ORDER BY {order}", params or [])
    return [dict(r) for r in rows]


def upcoming(db: sqlite_utils.Database, now: str) -> list[dict]:
    return list_talks(db, "status = 'planned' AND starts_at >= ?", [now], "starts_at ASC")


def recent(db: sqlite_utils.Database, limit: int = 12) -> list[dict]:
    return list_talks(db, "status = 'ready'")[:limit]


def archive(db: sqlite_utils.Database, year: int | None, department: str | None) -> list[dict]:
    clauses, params = ["status = 'ready'"], []
    if year:
        clauses.append("substr(COALESCE(starts_at, created_at), 1, 4) = ?")
        params.append(f"{year:04d}")
    if department:
        clauses.append("department = ?")
        params.append(department)
    return list_talks(db, " AND ".join(clauses), params)


def set_status(db: sqlite_utils.Database, talk_id: int, status: str) -> None:
    db.execute(
        "UPDATE talks SET status = ?, updated_at = ? WHERE id = ?",
        [status, jobs.now_iso(), talk_id],
    )


def delete(db: sqlite_utils.Database, settings: Settings, talk_id: int) -> None:
    """Remove a talk with its rows, index entries and files."""
    with db.conn:
        search.remove_talk(db, talk_id)
        db.execute("DELETE FROM jobs WHERE talk_id = ?", [talk_id])
        db.execute("DELETE FROM recordings WHERE talk_id = ?", [talk_id])
        db.execute("DELETE FROM talks WHERE id = ?", [talk_id])
    shutil.rmtree(media_dir(settings, talk_id), ignore_errors=True)
    shutil.rmtree(transcript_dir(settings, talk_id), ignore_errors=True)
