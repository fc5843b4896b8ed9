"""Broadcast and question rows (domain, no HTTP).

A talk has at most one broadcast. States: `idle` (ingest details made, nothing received),
`live` (segments are arriving), `interrupted` (the publisher left; the grace period runs),
`ending` (the parts are being joined), `ended` (the recording went to the pipeline).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from server.catalogue import talks
from server.catalogue.records import Broadcast, Talk
from server.core.clock import now_iso
from server.core.errors import UserError
from server.core.i18n import N_
from server.store import inserted_id, write

IDLE, LIVE, INTERRUPTED, ENDING, ENDED = "idle", "live", "interrupted", "ending", "ended"
ON_AIR = (LIVE, INTERRUPTED)
QUESTION_MAX = 500


@dataclass(frozen=True, slots=True)
class Question:
    """A question from the audience during a broadcast (a row of `live_questions`, with
    `asker`: the asker's name or email, '' when the account is gone)."""

    id: int
    talk_id: int
    text: str
    created_at: str
    user_id: int | None = None
    answered_at: str | None = None
    asker: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> Question:
        return cls(row["id"], row["talk_id"], row["text"], row["created_at"], row["user_id"],
                   row["answered_at"], row["asker"])  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """What the organiser's page reads (sporsmal.json), less the time as shown."""
        return {"id": self.id, "text": self.text, "asker": self.asker,
                "created_at": self.created_at, "answered_at": self.answered_at}  # fmt: skip


class LiveError(UserError):
    """Something a person asked for that cannot be done; the message is for them."""

    status = 409


NOT_PLANNED = N_("Foredraget har allerede et opptak, så det kan ikke sendes direkte.")
ALREADY_ENDED = N_("Sendingen er avsluttet. Opptaket blir behandlet og kommer på foredragssiden.")
QUESTION_EMPTY = N_("Skriv et spørsmål før du sender.")
QUESTION_TOO_LONG = N_("Spørsmålet er for langt. Hold det under %(count)s tegn.") % {
    "count": QUESTION_MAX
}
QUESTION_NOT_LIVE = N_("Spørsmål kan bare sendes mens foredraget sendes direkte.")


def new_passphrase() -> str:
    """32 characters (SRT accepts 10-79)."""
    return secrets.token_urlsafe(24)


def get(db: sqlite_utils.Database, talk_id: int) -> Broadcast | None:
    row = db.execute("SELECT * FROM broadcasts WHERE talk_id = ?", [talk_id]).fetchone()
    return Broadcast.from_row(row) if row else None


def ensure(db: sqlite_utils.Database, talk: Talk) -> Broadcast:
    """The talk's broadcast, made (idle, with a new SRT passphrase) the first time."""
    with write(db):
        db.execute(
            "INSERT INTO broadcasts (talk_id, srt_passphrase, updated_at) "
            "VALUES (?, ?, ?) ON CONFLICT (talk_id) DO NOTHING",
            [talk.id, new_passphrase(), now_iso()],
        )
    return get(db, talk.id)


def new_srt_passphrase(db: sqlite_utils.Database, talk_id: int) -> Broadcast:
    with write(db):
        db.execute(
            "UPDATE broadcasts SET srt_passphrase = ?, updated_at = ? WHERE talk_id = ?",
            [new_passphrase(), now_iso(), talk_id],
        )
    return get(db, talk_id)


_COLUMNS = {"state", "source", "srt_port", "parts", "interrupted_at", "ended_at", "message"}


def update(db: sqlite_utils.Database, talk_id: int, **fields: object) -> None:
    unknown = set(fields) - _COLUMNS
    if unknown:
        raise ValueError(f"not a broadcast column: {sorted(unknown)}")
    values = {**fields, "updated_at": now_iso()}
    assignments = ", ".join(f"{key} = :{key}" for key in values)
    with write(db):
        db.execute(
            f"UPDATE broadcasts SET {assignments} WHERE talk_id = :talk_id",
            {**values, "talk_id": talk_id},
        )


def set_state(db: sqlite_utils.Database, talk_id: int, state: str, **fields: object) -> None:
    """Change the state; `started_at` is kept from the first time the broadcast went live."""
    now = now_iso()
    values: dict[str, object] = {"state": state, **fields}
    if state == LIVE:
        values["interrupted_at"] = None
    if state == INTERRUPTED:
        values["interrupted_at"] = now
    if state == ENDED:
        values["ended_at"] = now
    update(db, talk_id, **values)
    with write(db):
        if state == LIVE:
            db.execute(
                "UPDATE broadcasts SET started_at = COALESCE(started_at, ?) WHERE talk_id = ?",
                [now, talk_id],
            )


def on_air(db: sqlite_utils.Database) -> list[Broadcast]:
    rows = db.execute(
        "SELECT * FROM broadcasts WHERE state IN (?, ?, ?)", [LIVE, INTERRUPTED, ENDING]
    )
    return [Broadcast.from_row(r) for r in rows]


def live_talks(db: sqlite_utils.Database, allowed: talks.Allowed = talks.EVERYONE) -> list[Talk]:
    """Talks on air now that the viewer may see ("Direkte nå" on the front page)."""
    where = (
        "t.status = 'planned' AND t.id IN (SELECT talk_id FROM broadcasts "
        "WHERE state IN ('live', 'interrupted'))"
    )
    return talks.list_talks(db, where, allowed=allowed, limit=10)


def watch_context(db: sqlite_utils.Database, talk: Talk) -> dict:
    """What the talk page needs about a broadcast: its state, and whether it is on air."""
    row = get(db, talk.id)
    state = row.state if row else None
    planned = talk.status == "planned"
    return {
        "live_state": state,
        "on_air": state in ON_AIR and planned,
        # the live player: from the moment the organiser opened the live page until the end
        "show_live": planned and state not in (None, ENDED),
    }


# ---------------------------------------------------------------- questions


def ask(db: sqlite_utils.Database, talk_id: int, user_id: int | None, text: str) -> Question:
    text = " ".join((text or "").split())
    if not text:
        raise LiveError(QUESTION_EMPTY, 422)
    if len(text) > QUESTION_MAX:
        raise LiveError(QUESTION_TOO_LONG, 422)
    broadcast = get(db, talk_id)
    if broadcast is None or broadcast.state not in ON_AIR:
        raise LiveError(QUESTION_NOT_LIVE, 409)
    with write(db):
        cursor = db.execute(
            "INSERT INTO live_questions (talk_id, user_id, text, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            [talk_id, user_id, text, now_iso()],
        )
        question_id = inserted_id(cursor)
    return question(db, question_id)


def question(db: sqlite_utils.Database, question_id: int) -> Question | None:
    row = db.execute(
        "SELECT q.*, COALESCE(NULLIF(u.name, ''), u.email, '') AS asker FROM live_questions q "
        "LEFT JOIN users u ON u.id = q.user_id WHERE q.id = ?",
        [question_id],
    ).fetchone()
    return Question.from_row(row) if row else None


def questions(db: sqlite_utils.Database, talk_id: int) -> list[Question]:
    """In the order they were asked."""
    rows = db.execute(
        "SELECT q.*, COALESCE(NULLIF(u.name, ''), u.email, '') AS asker FROM live_questions q "
        "LEFT JOIN users u ON u.id = q.user_id WHERE q.talk_id = ? ORDER BY q.id",
        [talk_id],
    )
    return [Question.from_row(r) for r in rows]


def mark_answered(db: sqlite_utils.Database, talk_id: int, question_id: int, answered: bool):
    with write(db):
        cursor = db.execute(
            "UPDATE live_questions SET answered_at = ? WHERE id = ? AND talk_id = ?",
            [now_iso() if answered else None, question_id, talk_id],
        )
    if cursor.rowcount == 0:
        raise LiveError(N_("Fant ikke spørsmålet."), 404)
