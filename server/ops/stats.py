"""Figures for /metrics and /readyz read from (and written to) the database: the worker is
another process, so what it measures goes through the store."""

from __future__ import annotations

import time

import sqlite_utils

from server.core.clock import now_iso
from server.store import write


def record_transcription(
    db: sqlite_utils.Database, talk_id: int, model: str, audio_seconds: float, wall_seconds: float
) -> None:
    """One transcription's speed (real-time factor = wall_seconds / audio_seconds)."""
    with write(db):
        db.execute(
            "INSERT INTO transcription_stats"
            " (talk_id, model, audio_seconds, wall_seconds, created_at) VALUES (?, ?, ?, ?, ?)",
            [talk_id, model, audio_seconds, wall_seconds, now_iso()],
        )


def realtime_factors(db: sqlite_utils.Database) -> list[float]:
    rows = db.execute(
        "SELECT wall_seconds / audio_seconds FROM transcription_stats WHERE audio_seconds > 0"
    ).fetchall()
    return [row[0] for row in rows]


def jobs_by_state(db: sqlite_utils.Database) -> list[tuple[str, str, int]]:
    """(state, stage, count); stage is '' before a job started."""
    rows = db.execute(
        "SELECT state, COALESCE(stage, ''), COUNT(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def broadcasts_by_state(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    rows = db.execute("SELECT state, COUNT(*) FROM broadcasts GROUP BY 1 ORDER BY 1").fetchall()
    return [(row[0], row[1]) for row in rows]


def prove_writable(db: sqlite_utils.Database) -> None:
    """A real write (one row, always the same): raises one of server.store.DatabaseError
    when it cannot."""
    with write(db):
        db.execute(
            "INSERT INTO health_probe (id, at) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            [time.time()],
        )
