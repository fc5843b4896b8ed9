"""Transcript editing: versions, validation, review state and re-transcription (no HTTP).

Files (under ``transcripts/<talk id>/``): ``transcript.json`` is the current version (the
source of truth the worker, captions and ``ktl reindex`` read); every version ever made
current, and a pending one, is kept as ``versions/v{N:04d}.json``. Version 0 is the
machine transcript the worker wrote; it is copied into ``versions/`` at the first edit.

Rows: ``transcript_versions`` has one row per kept version (status ``current``, ``old`` or
``pending``); ``talks.transcript_version`` is the current number, ``talks.transcript_state``
``machine`` or ``reviewed``. Version numbers only grow: a save, a restore and an accepted
re-transcription each make a new number (max + 1), so "the version I was editing" is a
reliable base for detecting concurrent edits.

Every change runs in one ``BEGIN IMMEDIATE`` transaction: check the base version, write
the version file, the current json + VTT/SRT/TXT, re-index for search, make the chapters
that came from the transcript again (server.catalogue.chapters), record the row and the
audit entry. If anything fails, the previous transcript files are written back.

Review state: saving or restoring keeps the state (an organiser's correction of a
reviewed transcript is itself reviewed work); accepting a new machine transcript from
another model sets it back to ``machine``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import sqlite_utils

from server.catalogue import chapters, search, talks
from server.catalogue.records import Talk
from server.core import clock, parse
from server.core.config import Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.people.accounts import User
from server.pipeline import jobs
from server.store import write
from server.transcript import model as transcript
from server.transcript.model import Segment, Transcript

RETRANSCRIBE = "retranscribe"
MACHINE, REVIEWED = "machine", "reviewed"
STATE_LABELS = {MACHINE: N_("maskinlaget"), REVIEWED: N_("kontrollert")}
MAX_SEGMENTS = 20_000
MAX_SEGMENT_TEXT = 1_000
MAX_NOTE = 300
MAX_MODEL = 200
MAX_SECONDS = 24 * 3600.0
# Messages, version notes and audit texts are msgids (values filled in with %(name)s);
# they are translated where they are shown (server.core.i18n.translate).
MACHINE_AUTHOR = N_("Maskin (Whisper)")
NOT_READY = N_("Transkripsjonen er ikke klar ennå. Vent til behandlingen er ferdig.")
NOT_REVIEWED = N_("Transkripsjonen er ikke kontrollert ennå.")
NO_VERSION = N_("Fant ikke versjon %(version)s av transkripsjonen.")
WITH_MODEL = N_("med modellen %(model)s")
READY_NOTE = N_("Ny transkripsjon med modellen %(model)s, klar til gjennomsyn")
_SPACE = re.compile(r"\s+")


class EditError(UserError):
    """A change that cannot be made; `message` is a Norwegian sentence for the person."""

    status = 422

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)


class ConflictError(EditError):
    """The transcript changed since the version the person was editing."""

    status = 409


class NotReady(EditError):
    status = 404


@dataclass(frozen=True)
class Version:
    version: int
    status: str
    author: str
    model: str
    note: str
    created_at: str
    has_file: bool = True


# ---------------------------------------------------------------- paths and reading


def folder(settings: Settings, talk_id: int) -> Path:
    return talks.transcript_dir(settings, talk_id)


def current_path(settings: Settings, talk_id: int) -> Path:
    return settings.paths.transcript_json(talk_id)


def version_path(settings: Settings, talk_id: int, version: int) -> Path:
    return folder(settings, talk_id) / "versions" / f"v{version:04d}.json"


def load_current(settings: Settings, talk_id: int) -> Transcript:
    path = current_path(settings, talk_id)
    if not path.is_file():
        raise NotReady(NOT_READY)
    return transcript.load(path)


def load_version(settings: Settings, talk: Talk, version: int) -> Transcript:
    """Any kept version; the current one also when it was never copied (version 0)."""
    path = version_path(settings, talk.id, version)
    if path.is_file():
        return transcript.load(path)
    if version == talk.transcript_version:
        return load_current(settings, talk.id)
    raise NotReady(NO_VERSION % {"version": version})


def transcript_visible(settings: Settings, talk: Talk, can_edit: bool) -> bool:
    """Captions, transcript panel and downloads: hidden from viewers until reviewed when
    ``captions_publish`` is ``reviewed``; editors always see them."""
    if can_edit or settings.captions_publish == "immediately":
        return True
    return talk.transcript_state == REVIEWED


# ---------------------------------------------------------------- validation


def _number(value: object, label: str, errors: list[str]) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors.append(N_("%(label)s må være et tall (sekunder).") % {"label": label})
        return 0.0
    if not math.isfinite(number) or number < 0:
        errors.append(N_("%(label)s kan ikke være negativ.") % {"label": label})
        return 0.0
    if number > MAX_SECONDS:
        errors.append(N_("%(label)s er lenger enn et døgn.") % {"label": label})
    return round(number, 3)


def clean_text(text: str) -> str:
    """NFC, no control characters, whitespace (also line breaks) as single spaces."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return _SPACE.sub(" ", text).strip()


def _segment(raw: object, number: int, errors: list[str]) -> Segment | None:
    at = {"number": number}
    if not isinstance(raw, dict):
        errors.append(N_("Segment %(number)s mangler start, slutt eller tekst.") % at)
        return None
    start = _number(raw.get("start"), N_("Segment %(number)s: starttiden") % at, errors)
    end = _number(raw.get("end"), N_("Segment %(number)s: sluttiden") % at, errors)
    text = clean_text(str(raw.get("text") or ""))
    if start >= end:
        errors.append(N_("Segment %(number)s: starttiden må være før sluttiden.") % at)
    if not text:
        errors.append(
            N_("Segment %(number)s er tomt. Skriv tekst, eller slå det sammen med et annet.") % at
        )
    if len(text) > MAX_SEGMENT_TEXT:
        too_long = N_(
            "Segment %(number)s er for langt (%(length)s tegn, høyst %(limit)s). Del det i flere."
        )
        errors.append(too_long % {**at, "length": len(text), "limit": MAX_SEGMENT_TEXT})
    return Segment(start=start, end=end, text=text)


def parse_segments(raw: object) -> tuple[Segment, ...]:
    """Validate edited segments ({start, end, text} each); raises EditError listing all faults."""
    if not isinstance(raw, list):
        raise EditError(N_("Fant ingen segmenter å lagre. Last siden på nytt og prøv igjen."))
    if len(raw) > MAX_SEGMENTS:
        too_many = N_("Transkripsjonen har for mange segmenter (høyst %(limit)s).")
        raise EditError(too_many % {"limit": MAX_SEGMENTS})
    errors: list[str] = []
    segments = [_segment(item, number, errors) for number, item in enumerate(raw, start=1)]
    for number in range(2, len(segments) + 1):
        before, seg = segments[number - 2], segments[number - 1]
        if before and seg and seg.start < before.start:
            early = N_("Segment %(number)s starter før segmentet foran. Rett tidene.")
            errors.append(early % {"number": number})
    if errors:
        summary = N_("Transkripsjonen ble ikke lagret. %(first)s") % {"first": errors[0]}
        if len(errors) > 1:
            more = N_("Transkripsjonen ble ikke lagret. %(first)s (og %(more)s feil til)")
            summary = more % {"first": errors[0], "more": len(errors) - 1}
        raise EditError(summary, errors)
    return tuple(s for s in segments if s is not None)


def parse_base(raw: object) -> int:
    base = parse.integer(raw, 0, parse.MAX_ID)
    if base is None:
        raise EditError(N_("Mangler versjonen du redigerte. Last siden på nytt."))
    return base


def clean_note(note: object) -> str:
    return clean_text(str(note or ""))[:MAX_NOTE]


def carry_words(old: Sequence[Segment], new: Sequence[Segment]) -> tuple[Segment, ...]:
    """Give each edited segment the word timestamps of the old transcript inside its times
    (a word belongs where its middle falls), so later splits can still use them."""
    words = [w for seg in old for w in seg.words]
    result = []
    for seg in new:
        inside = tuple(w for w in words if seg.start <= (w.start + w.end) / 2 < seg.end)
        result.append(replace(seg, words=inside))
    return tuple(result)


# ---------------------------------------------------------------- transactions and files


def _talk(db: sqlite_utils.Database, talk_id: int) -> Talk:
    """The talk, held until the write unit ends (versions are numbered and checked against
    the current one: two edits of one talk wait for each other)."""
    talks.hold(db, talk_id)
    talk = talks.get(db, talk_id)
    if talk is None:
        raise NotReady(N_("Foredraget finnes ikke lenger."))
    return talk


def _row(db: sqlite_utils.Database, talk_id: int, version: int) -> dict | None:
    row = db.execute(
        "SELECT * FROM transcript_versions WHERE talk_id = ? AND version = ?", [talk_id, version]
    ).fetchone()
    return dict(row) if row else None


def _check_base(db: sqlite_utils.Database, talk: Talk, base: int) -> None:
    current = talk.transcript_version
    if base == current:
        return
    row = _row(db, talk.id, current) or {}
    who = row.get("author") or N_("en annen")
    changed = N_(
        "Transkripsjonen er endret av %(who)s mens du redigerte (du redigerte versjon %(base)s, "
        "nå er versjon %(current)s gjeldende). Endringene dine er ikke lagret, men står "
        "fortsatt i skjemaet: kopier dem, åpne den nye versjonen og gjør dem der."
    )
    raise ConflictError(changed % {"who": who, "base": base, "current": current})


def _next_number(db: sqlite_utils.Database, talk: Talk, exclude_id: int | None = None) -> int:
    row = db.execute(
        "SELECT MAX(version) FROM transcript_versions WHERE talk_id = ? AND id IS DISTINCT FROM ?",
        [talk.id, exclude_id],
    ).fetchone()
    return max(row[0] if row[0] is not None else 0, talk.transcript_version) + 1


def _keep_current(db: sqlite_utils.Database, settings: Settings, talk: Talk) -> Transcript:
    """Make sure the current version has its file in versions/ and its row (version 0 is
    written by the worker without either); returns it."""
    current = load_current(settings, talk.id)
    number = talk.transcript_version
    path = version_path(settings, talk.id, number)
    if not path.is_file():
        transcript.write_atomic(path, current_path(settings, talk.id).read_text("utf-8"))
    if _row(db, talk.id, number) is None:
        db.execute(
            "INSERT INTO transcript_versions (talk_id, version, status, author, model, note, "
            "created_at) VALUES (?, ?, 'current', ?, ?, 'Maskinlaget transkripsjon', ?)",
            [talk.id, number, MACHINE_AUTHOR, current.model, talk.updated_at],
        )
    return current


def _insert_version(
    db: sqlite_utils.Database, talk_id: int, version: int, status: str, actor: User | None,
    model: str, note: str,
) -> None:  # fmt: skip
    db.execute(
        "INSERT INTO transcript_versions (talk_id, version, status, author_id, author, model, "
        "note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [talk_id, version, status, actor.id if actor else None, _author(actor), model, note,
         clock.now_iso()],
    )  # fmt: skip


def _author(actor: User | None) -> str:
    if actor is None:
        return "system"
    return actor.name or actor.email


def _make_current(
    db: sqlite_utils.Database, settings: Settings, talk: Talk, new: Transcript, number: int,
    previous: Transcript,
) -> None:  # fmt: skip
    """Write files, index, flip statuses; restores the previous files if anything fails."""
    directory = folder(settings, talk.id)
    try:
        path = version_path(settings, talk.id, number)
        transcript.write_atomic(path, _json(new))
        transcript.write_all(directory, new)
        search.index_talk(db, talk.id, new.segments, talk.language)
        chapters.follow_transcript(db, talk.id, new.segments, talk.language, _length(new))
        db.execute(
            "UPDATE transcript_versions SET status = 'old' "
            "WHERE talk_id = ? AND status = 'current' AND version != ?",
            [talk.id, number],
        )
        db.execute(
            "UPDATE talks SET transcript_version = ?, updated_at = ? WHERE id = ?",
            [number, clock.now_iso(), talk.id],
        )
    except BaseException:
        transcript.write_all(directory, previous)
        raise


def _length(value: Transcript) -> float:
    """The transcript's duration, or where its last segment ends when none was recorded."""
    return value.duration or max((s.end for s in value.segments), default=0.0)


def _json(value: Transcript) -> str:
    return json.dumps(transcript.to_dict(value), ensure_ascii=False, indent=1)


# ---------------------------------------------------------------- edits and restores


def save(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, segments: Sequence[Segment],
    base_version: int, actor: User | None, note: str = "",
) -> int:  # fmt: skip
    """Save edited segments as a new current version; returns its number.

    Raises ConflictError when the current version is no longer `base_version`."""
    note = clean_note(note) or N_("Rettet transkripsjonen")
    with write(db):
        talk = _talk(db, talk_id)
        _check_base(db, talk, base_version)
        previous = _keep_current(db, settings, talk)
        number = _next_number(db, talk)
        edited = replace(previous, segments=carry_words(previous.segments, segments))
        _insert_version(db, talk_id, number, "current", actor, previous.model, note)
        _make_current(db, settings, talk, edited, number, previous)
        detail = N_("versjon %(number)s: %(note)s") % {"number": number, "note": note}
        accounts.audit(db, actor, N_("redigerte transkripsjon"), talk.title, detail)
    return number


def restore(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, version: int,
    base_version: int, actor: User | None,
) -> int:  # fmt: skip
    """Make an old version's content current again, as a new version; returns its number."""
    with write(db):
        talk = _talk(db, talk_id)
        _check_base(db, talk, base_version)
        previous = _keep_current(db, settings, talk)
        row = _row(db, talk_id, version)
        if row is None or row["status"] == "pending":
            raise NotReady(NO_VERSION % {"version": version})
        old = load_version(settings, talk, version)
        number = _next_number(db, talk)
        note = N_("Gjenopprettet versjon %(version)s") % {"version": version}
        _insert_version(db, talk_id, number, "current", actor, old.model, note)
        _make_current(db, settings, talk, old, number, previous)
        detail = N_("versjon %(version)s som versjon %(number)s")
        accounts.audit(db, actor, N_("gjenopprettet transkripsjon"), talk.title,
                       detail % {"version": version, "number": number})  # fmt: skip
    return number


def versions(db: sqlite_utils.Database, talk: Talk) -> list[Version]:
    """Newest first; the machine version 0 is listed even before anything was edited."""
    rows = db.execute(
        "SELECT * FROM transcript_versions WHERE talk_id = ? ORDER BY version DESC", [talk.id]
    ).fetchall()
    result = [
        Version(r["version"], r["status"], r["author"], r["model"], r["note"], r["created_at"])
        for r in rows
    ]
    if not any(v.version == talk.transcript_version for v in result):
        result.append(
            Version(talk.transcript_version, "current", MACHINE_AUTHOR, "",
                    N_("Maskinlaget transkripsjon"), talk.updated_at)
        )  # fmt: skip
    return result


# ---------------------------------------------------------------- review state


def set_state(db: sqlite_utils.Database, talk_id: int, state: str, actor: User | None) -> None:
    """Mark the transcript reviewed ('reviewed') or back to machine-made ('machine')."""
    if state not in STATE_LABELS:
        raise EditError(N_("Velg om transkripsjonen er kontrollert eller maskinlaget."))
    with write(db):
        talk = _talk(db, talk_id)
        if talk.transcript_state == state:
            return
        db.execute(
            "UPDATE talks SET transcript_state = ?, updated_at = ? WHERE id = ?",
            [state, clock.now_iso(), talk_id],
        )
        action = N_("markerte transkripsjonen som %(state)s") % {"state": STATE_LABELS[state]}
        detail = N_("gjeldende versjon %(number)s") % {"number": talk.transcript_version}
        accounts.audit(db, actor, action, talk.title, detail)


# ---------------------------------------------------------------- re-transcription


def clean_model(model: object) -> str:
    text = clean_text(str(model or ""))
    if not text:
        raise EditError(N_("Velg modellen som skal transkribere på nytt."))
    if len(text) > MAX_MODEL:
        too_long = N_("Modellnavnet er for langt (høyst %(limit)s tegn).")
        raise EditError(too_long % {"limit": MAX_MODEL})
    return text


def pending(db: sqlite_utils.Database, settings: Settings, talk_id: int) -> Version | None:
    """The pending re-transcription: requested (has_file False) or ready for preview."""
    row = db.execute(
        "SELECT * FROM transcript_versions WHERE talk_id = ? AND status = 'pending'", [talk_id]
    ).fetchone()
    if row is None:
        return None
    has_file = version_path(settings, talk_id, row["version"]).is_file()
    return Version(row["version"], "pending", row["author"], row["model"], row["note"],
                   row["created_at"], has_file)  # fmt: skip


def request_retranscribe(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, model: str, actor: User | None
) -> int:
    """Queue a 'retranscribe' job and record the request as a pending version row (without a
    file until the worker calls store_pending). Returns the job id."""
    model = clean_model(model)
    with write(db):
        talk = _talk(db, talk_id)
        load_current(settings, talk_id)
        if pending(db, settings, talk_id) is not None:
            waiting = N_(
                "Det finnes allerede en ny transkripsjon som venter. Godta eller forkast den først."
            )
            raise ConflictError(waiting)
        note = N_("Venter på ny transkripsjon med modellen %(model)s") % {"model": model}
        _insert_version(db, talk_id, _next_number(db, talk), "pending", actor, model, note)
        job_id = jobs.enqueue(db, talk_id, kind=RETRANSCRIBE)
        accounts.audit(db, actor, N_("ba om ny transkripsjon"), talk.title,
                       WITH_MODEL % {"model": model})  # fmt: skip
    return job_id


def retranscribe_error(db: sqlite_utils.Database, talk_id: int) -> str | None:
    """Why the talk's latest 'retranscribe' job failed, if it did (shown beside the request)."""
    row = db.execute(
        "SELECT id FROM jobs WHERE talk_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        [talk_id, RETRANSCRIBE],
    ).fetchone()
    job = jobs.get(db, row["id"]) if row else None
    if job is None or job.state != "failed":
        return None
    return job.error or N_("Den nye transkripsjonen feilet.")


def requested_model(db: sqlite_utils.Database, talk_id: int) -> str | None:
    """For the worker: the model asked for in the talk's pending request, if any."""
    row = db.execute(
        "SELECT model FROM transcript_versions WHERE talk_id = ? AND status = 'pending'",
        [talk_id],
    ).fetchone()
    return row["model"] if row else None


def store_pending(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, result: Transcript, model: str
) -> int:
    """For the worker: keep a new transcript as the pending version (never current).

    Fills the requested pending row (or makes one); returns its version number."""
    result = replace(result, model=result.model or model)
    with write(db):
        talk = _talk(db, talk_id)
        row = db.execute(
            "SELECT * FROM transcript_versions WHERE talk_id = ? AND status = 'pending'",
            [talk_id],
        ).fetchone()
        number = row["version"] if row else _next_number(db, talk)
        if row is None:
            _insert_version(db, talk_id, number, "pending", None, model, "")
        transcript.write_atomic(version_path(settings, talk_id, number), _json(result))
        db.execute(
            "UPDATE transcript_versions SET model = ?, note = ?, created_at = ? "
            "WHERE talk_id = ? AND version = ?",
            [model, READY_NOTE % {"model": model}, clock.now_iso(), talk_id, number],
        )  # fmt: skip
    return number


def accept_pending(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, base_version: int,
    actor: User | None,
) -> int:  # fmt: skip
    """The pending transcript becomes current (the newest number); the state goes back to
    'machine' since nobody has reviewed the new text. Returns the version number."""
    with write(db):
        talk = _talk(db, talk_id)
        waiting = pending(db, settings, talk_id)
        if waiting is None or not waiting.has_file:
            raise NotReady(N_("Det finnes ingen ny transkripsjon som er klar til å godtas."))
        _check_base(db, talk, base_version)
        previous = _keep_current(db, settings, talk)
        new = transcript.load(version_path(settings, talk_id, waiting.version))
        row = _row(db, talk_id, waiting.version) or {}
        number = _next_number(db, talk, exclude_id=row.get("id"))
        note = N_("Ny transkripsjon med modellen %(model)s (godtatt)") % {"model": waiting.model}
        db.execute(
            "UPDATE transcript_versions SET version = ?, status = 'current', author_id = ?, "
            "author = ?, note = ?, created_at = ? WHERE id = ?",
            [number, actor.id if actor else None, _author(actor), note, clock.now_iso(),
             row.get("id")],
        )  # fmt: skip
        db.execute("UPDATE talks SET transcript_state = 'machine' WHERE id = ?", [talk_id])
        _make_current(db, settings, talk, new, number, previous)
        detail = N_("med modellen %(model)s, versjon %(number)s")
        accounts.audit(db, actor, N_("godtok ny transkripsjon"), talk.title,
                       detail % {"model": waiting.model, "number": number})  # fmt: skip
    if number != waiting.version:  # renumbered to stay the newest: drop the pending file
        version_path(settings, talk_id, waiting.version).unlink(missing_ok=True)
    return number


def discard_pending(
    db: sqlite_utils.Database, settings: Settings, talk_id: int, actor: User | None
) -> None:
    """Throw the pending transcript (or request) away; a request still queued is cancelled."""
    with write(db):
        talk = _talk(db, talk_id)
        waiting = pending(db, settings, talk_id)
        if waiting is None:
            raise NotReady(N_("Det finnes ingen ny transkripsjon å forkaste."))
        db.execute(
            "DELETE FROM transcript_versions WHERE talk_id = ? AND version = ?",
            [talk_id, waiting.version],
        )
        db.execute(
            "UPDATE jobs SET state = 'done', error = 'Forkastet av arrangøren.', finished_at = ?, "
            "updated_at = ? WHERE talk_id = ? AND kind = ? AND state = 'queued'",
            [clock.now_iso(), clock.now_iso(), talk_id, RETRANSCRIBE],
        )
        accounts.audit(db, actor, N_("forkastet ny transkripsjon"), talk.title,
                       WITH_MODEL % {"model": waiting.model})  # fmt: skip
    version_path(settings, talk_id, waiting.version).unlink(missing_ok=True)
