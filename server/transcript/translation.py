"""The English caption track: Whisper's translate task on the Norwegian speech, its review
state, edits and versions (domain code, no HTTP).

Per talk, the organiser turns it on or off (``translations.wanted``); a talk that has not
chosen follows the site default KTL_ENGLISH_CAPTIONS. Talks in English need none.

Files (under ``transcripts/<talk id>/en/``): ``transcript.json`` is the current English
version and the VTT/SRT/TXT beside it are made from it; every version ever made current
is kept as ``versions/v{N:04d}.json``. Rows: ``translations`` holds the state of the
worker's stage (none, waiting, running, done, failed), the review state (machine,
reviewed) and the current version; ``translation_versions`` one row per kept version. An
edit keeps each segment's times and changes its text, like the original's editor
(server.transcript.editing), and checks the version it was based on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import sqlite_utils

from server.catalogue import search, talks
from server.core import clock
from server.core.config import Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.people.accounts import User
from server.store import write
from server.transcript import model as transcript
from server.transcript.editing import REVIEWED, STATE_LABELS, clean_note, clean_text
from server.transcript.model import Transcript

LANGUAGE = "en"
LABEL = "English (machine translation)"  # the track's name, in the language it is in
STATES = ("none", "waiting", "running", "done", "failed")
STATE_LABELS_EN = {
    "none": N_("Ikke laget"),
    "waiting": N_("Venter på en arbeider"),
    "running": N_("Lages nå"),
    "done": N_("Klar"),
    "failed": N_("Feilet"),
}
MACHINE_NOTE = N_("Maskinoversatt med Whisper")
CONFLICT = N_(
    "Den engelske teksten er endret av noen andre mens du redigerte (du redigerte versjon "
    "%(base)s, nå er versjon %(current)s gjeldende). Last siden på nytt og gjør endringene der."
)
NOT_READY = N_("Den engelske tekstingen er ikke klar ennå.")
NO_VERSION = N_("Fant ikke versjon %(version)s av den engelske teksten.")
WRONG_COUNT = N_("Skjemaet hadde feil antall tekstlinjer. Last siden på nytt og prøv igjen.")
EMPTY_LINE = N_("Linje %(n)s er tom. Skriv teksten, eller last siden på nytt.")
FAILED = N_("Kunne ikke lage engelsk teksting: %(detail)s")


class TranslationError(UserError):
    """A change that cannot be made; the message is for the organiser (a msgid, filled)."""

    status = 422


@dataclass(frozen=True)
class State:
    talk_id: int
    wanted: bool | None = None  # None: the site default
    state: str = "none"
    review: str = "machine"
    version: int = 0
    seconds: float | None = None  # processing time of the last machine translation
    model: str = ""
    error: str | None = None
    updated_at: str = ""


@dataclass(frozen=True)
class Version:
    version: int
    author: str
    note: str
    created_at: str
    current: bool


# ---------------------------------------------------------------- files


def folder(settings: Settings, talk_id: int) -> Path:
    return settings.paths.talk_transcripts(talk_id, LANGUAGE)


def current_path(settings: Settings, talk_id: int) -> Path:
    return settings.paths.transcript_json(talk_id, LANGUAGE)


def version_path(settings: Settings, talk_id: int, version: int) -> Path:
    return folder(settings, talk_id) / "versions" / f"v{version:04d}.json"


def load(settings: Settings, talk_id: int) -> Transcript | None:
    path = current_path(settings, talk_id)
    return transcript.load(path) if path.is_file() else None


def _json(value: Transcript) -> str:
    return json.dumps(transcript.to_dict(value), ensure_ascii=False, indent=1)


# ---------------------------------------------------------------- state


def get(db: sqlite_utils.Database, talk_id: int) -> State:
    row = db.execute("SELECT * FROM translations WHERE talk_id = ?", [talk_id]).fetchone()
    if row is None:
        return State(talk_id)
    wanted = None if row["wanted"] is None else bool(row["wanted"])
    return State(talk_id, wanted, row["state"], row["review"], row["version"], row["seconds"],
                 row["model"], row["error"], row["updated_at"])  # fmt: skip


def wanted(settings: Settings, talk, state: State) -> bool:
    """Whether this talk should have an English track: its own choice, else the site's."""
    if talk.language == LANGUAGE:
        return False
    return settings.english_captions if state.wanted is None else state.wanted


def _upsert(db: sqlite_utils.Database, talk_id: int, **values: object) -> None:
    values["updated_at"] = clock.now_iso()
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sets = ", ".join(f"{name} = excluded.{name}" for name in values)
    db.execute(
        f"INSERT INTO translations (talk_id, {names}) VALUES (?, {marks})"
        f" ON CONFLICT (talk_id) DO UPDATE SET {sets}",
        [talk_id, *values.values()],
    )


def set_wanted(db: sqlite_utils.Database, talk, on: bool, actor: User | None) -> None:
    with write(db):
        _upsert(db, talk.id, wanted=1 if on else 0)
        action = N_("slo på engelsk teksting") if on else N_("slo av engelsk teksting")
        accounts.audit(db, actor, action, talk.title)


def mark(db: sqlite_utils.Database, talk_id: int, state: str, error: str | None = None) -> None:
    with write(db):
        _upsert(db, talk_id, state=state, error=error)


def made(state: State) -> bool:
    """Whether the track has a current version: done, or being made again (or failed to
    be) after a machine translation was stored once (store_machine records its seconds)."""
    return state.state == "done" or (state.state != "none" and state.seconds is not None)


def visible(settings: Settings, state: State, can_edit: bool) -> bool:
    """The English track is shown when it is made and not turned off and, where captions
    wait for review (KTL_CAPTIONS_PUBLISH=reviewed), reviewed; editors see it unreviewed.
    Turned off, its files and versions stay (turned on again it is made anew). While it
    is made again, or when that failed, the version made before stays shown."""
    if not made(state) or state.wanted is False:
        return False
    return can_edit or settings.captions_publish == "immediately" or state.review == REVIEWED


# ---------------------------------------------------------------- versions


def _write_current(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, new: Transcript, number: int
) -> None:
    """Files first (each atomic), then the index; the caller's write unit holds the rows."""
    transcript.write_atomic(version_path(settings, talk_id, number), _json(new))
    transcript.write_all(folder(settings, talk_id), new)
    search.index_translation(db, talk_id, new.segments)


def _next_number(db: sqlite_utils.Database, talk_id: int) -> int:
    sql = "SELECT max(version) FROM translation_versions WHERE talk_id = ?"
    top = db.execute(sql, [talk_id]).fetchone()[0]
    return 0 if top is None else top + 1


def _insert_version(
    db: sqlite_utils.Database, talk_id: int, number: int, actor: User | None, note: str
) -> None:
    author = (actor.name or actor.email) if actor else "system"
    db.execute(
        "INSERT INTO translation_versions (talk_id, version, author_id, author, note, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [talk_id, number, actor.id if actor else None, author, note, clock.now_iso()],
    )


def store_machine(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, result: Transcript, seconds: float
) -> int:
    """The worker's English transcript becomes the current version (review: machine)."""
    with write(db):
        talks.hold(db, talk_id)  # versions are numbered from the rows: one unit at a time
        number = _next_number(db, talk_id)
        _insert_version(db, talk_id, number, None, MACHINE_NOTE)
        _write_current(db, settings, talk_id, result, number)
        _upsert(db, talk_id, state="done", review="machine", version=number, seconds=seconds,
                model=result.model, error=None)  # fmt: skip
    return number


def save(
    db: sqlite_utils.Database, settings: Settings, talk, texts: list[str], base_version: int,
    actor: User | None, note: str = "",
) -> int:  # fmt: skip
    """New text for each segment (times kept), as a new current version; returns its number."""
    note = clean_note(note) or N_("Rettet den engelske teksten")
    with write(db):
        talks.hold(db, talk.id)  # the version checked stays current until this unit ends
        state = get(db, talk.id)
        current = load(settings, talk.id)
        if state.state != "done" or current is None:
            raise TranslationError(NOT_READY, 409)
        if base_version != state.version:
            detail = {"base": base_version, "current": state.version}
            raise TranslationError(CONFLICT % detail, 409)
        if len(texts) != len(current.segments):
            raise TranslationError(WRONG_COUNT)
        segments = []
        for n, (segment, text) in enumerate(zip(current.segments, texts, strict=True), 1):
            cleaned = clean_text(text)
            if not cleaned:
                raise TranslationError(EMPTY_LINE % {"n": n})
            segments.append(replace(segment, text=cleaned, words=()))
        number = _next_number(db, talk.id)
        _insert_version(db, talk.id, number, actor, note)
        _write_current(db, settings, talk.id, replace(current, segments=tuple(segments)), number)
        _upsert(db, talk.id, version=number)
        detail = N_("versjon %(number)s: %(note)s") % {"number": number, "note": note}
        accounts.audit(db, actor, N_("redigerte den engelske teksten"), talk.title, detail)
    return number


def restore(
    db: sqlite_utils.Database, settings: Settings, talk, version: int, base_version: int,
    actor: User | None,
) -> int:  # fmt: skip
    """An old version's text made current again, as a new version; returns its number."""
    with write(db):
        talks.hold(db, talk.id)  # the version checked stays current until this unit ends
        state = get(db, talk.id)
        if base_version != state.version:
            detail = {"base": base_version, "current": state.version}
            raise TranslationError(CONFLICT % detail, 409)
        path = version_path(settings, talk.id, version)
        if not path.is_file():
            raise TranslationError(NO_VERSION % {"version": version}, 404)
        old = transcript.load(path)
        number = _next_number(db, talk.id)
        note = N_("Gjenopprettet versjon %(version)s") % {"version": version}
        _insert_version(db, talk.id, number, actor, note)
        _write_current(db, settings, talk.id, old, number)
        _upsert(db, talk.id, version=number)
        accounts.audit(db, actor, N_("gjenopprettet den engelske teksten"), talk.title, note)
    return number


def versions(db: sqlite_utils.Database, talk_id: int) -> list[Version]:
    current = get(db, talk_id).version
    rows = db.execute(
        "SELECT * FROM translation_versions WHERE talk_id = ? ORDER BY version DESC", [talk_id]
    ).fetchall()
    return [Version(r["version"], r["author"], r["note"], r["created_at"], r["version"] == current)
            for r in rows]  # fmt: skip


def set_review(db: sqlite_utils.Database, talk, review: str, actor: User | None) -> None:
    """Mark the English text reviewed or back to machine-made."""
    if review not in STATE_LABELS:
        raise TranslationError(N_("Velg om den engelske teksten er kontrollert eller maskinlaget."))
    with write(db):
        if get(db, talk.id).state != "done":
            raise TranslationError(NOT_READY, 409)
        _upsert(db, talk.id, review=review)
        action = N_("markerte den engelske teksten som %(state)s") % {"state": STATE_LABELS[review]}
        accounts.audit(db, actor, action, talk.title)


def page_context(db: sqlite_utils.Database, settings: Settings, talk, can_edit: bool) -> dict:
    """What the talk page and the embed page need: the English track when it may be shown
    (talks/_tracks.html, the downloads, its transcript under the Norwegian one) and its
    state for the organiser."""
    state = get(db, talk.id)
    shown = visible(settings, state, can_edit)
    english = transcript.load_cached(current_path(settings, talk.id)) if shown else None
    return {"english": state if english else None, "english_state": state, "english_label": LABEL,
            "english_segments": english.segments if english else ()}  # fmt: skip
