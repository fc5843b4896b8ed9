"""The slides read from a talk's recording (server.pipeline.slides finds and reads them):
their rows, the state of the talk's slide stage, and their place in the search index.
No HTTP in here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from server.catalogue import search
from server.core.paths import SLIDES
from server.store.store import write

FOLDER = SLIDES  # in the talk's media folder: one JPEG thumbnail per slide


@dataclass(frozen=True)
class SlideRow:
    index: int
    at: float
    text: str
    heading: str
    thumb: str


@dataclass(frozen=True)
class Scan:
    """How the talk's slide stage went: 'done' or 'failed' (with a message for organisers)."""

    state: str
    slides: int
    candidates: int
    seconds: float | None
    error: str | None


def store(
    db: sqlite_utils.Database,
    talk_id: int,
    slides: Sequence[SlideRow],
    candidates: int,
    seconds: float,
    language: str,
) -> None:
    """Replace the talk's slides, their index entries and its scan record, in one unit."""
    with write(db) as conn:
        conn.execute("DELETE FROM slides WHERE talk_id = ?", [talk_id])
        conn.executemany(
            "INSERT INTO slides (talk_id, idx, at, text, heading, thumb) VALUES (?, ?, ?, ?, ?, ?)",
            [(talk_id, s.index, s.at, s.text, s.heading, s.thumb) for s in slides],
        )
        search.index_slides(db, talk_id, [(s.index, s.at, s.text) for s in slides], language)
        _record(conn, talk_id, "done", len(slides), candidates, seconds, None)


def record_failure(db: sqlite_utils.Database, talk_id: int, message: str) -> None:
    """The stage failed: the talk stays watchable; the message is kept for organisers."""
    with write(db) as conn:
        _record(conn, talk_id, "failed", 0, 0, None, message)


def _record(conn, talk_id, state, count, candidates, seconds, error) -> None:
    conn.execute(
        "INSERT INTO slide_scans (talk_id, state, slides, candidates, seconds, error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (talk_id) DO UPDATE SET state = excluded.state,"
        " slides = excluded.slides, candidates = excluded.candidates, seconds = excluded.seconds,"
        " error = excluded.error, updated_at = excluded.updated_at",
        [talk_id, state, count, candidates, seconds, error, _now()],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def for_talk(db: sqlite_utils.Database, talk_id: int) -> list[SlideRow]:
    rows = db.execute(
        "SELECT idx, at, text, heading, thumb FROM slides WHERE talk_id = ? ORDER BY at, idx",
        [talk_id],
    ).fetchall()
    return [SlideRow(r["idx"], r["at"], r["text"], r["heading"], r["thumb"]) for r in rows]


def scan_of(db: sqlite_utils.Database, talk_id: int) -> Scan | None:
    row = db.execute("SELECT * FROM slide_scans WHERE talk_id = ?", [talk_id]).fetchone()
    if row is None:
        return None
    return Scan(row["state"], row["slides"], row["candidates"], row["seconds"], row["error"])


def thumb_path(media_dir: Path, name: str) -> Path | None:
    """The thumbnail file `name` of a talk, or None for a name that is not one."""
    if "/" in name or name.startswith(".") or not name.endswith(".jpg"):
        return None
    return media_dir / FOLDER / name
