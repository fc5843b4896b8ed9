"""Which workers run now, and which stages they take: each worker says so in `workers` every
few seconds (``announce``, from its loop and from its job's heartbeat) and takes its row
away when it stops (``leave``). A worker killed with no chance to leave is simply not seen
again: a row counts as running while it was seen within the job lease (KTL_JOB_LEASE_SECONDS),
and rows not seen for a day are removed by the next announcement.

``unserved`` is what `ktl doctor` warns about: queued jobs whose next stage no running
worker takes (for example transcription waiting while no `ktl worker --only transcribe`
runs). Plain SQL that runs unchanged on PostgreSQL (ON CONFLICT ... DO UPDATE).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import sqlite_utils

from server.core.clock import now_iso
from server.pipeline import jobs
from server.store import write

FORGET_AFTER = 24 * 3600.0  # seconds: rows of workers gone this long are removed


@dataclass(frozen=True)
class Present:
    name: str
    host: str
    pid: int
    stages: frozenset[str] | None  # None: every stage
    seen_at: float

    def takes(self, stage: str | None) -> bool:
        return self.stages is None or stage in self.stages


def announce(db: sqlite_utils.Database, name: str, stages: frozenset[str] | None) -> None:
    """This worker runs and takes `stages` (None: all)."""
    now = time.time()
    listed = ",".join(sorted(stages)) if stages else ""
    with write(db):
        db.execute(
            "INSERT INTO workers (name, host, pid, stages, started_at, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at, stages = excluded.stages",
            [name, socket.gethostname(), os.getpid(), listed, now_iso(), now],
        )
        db.execute("DELETE FROM workers WHERE seen_at < ?", [now - FORGET_AFTER])


def leave(db: sqlite_utils.Database, name: str) -> None:
    with write(db):
        db.execute("DELETE FROM workers WHERE name = ?", [name])


def running(db: sqlite_utils.Database, within: float) -> list[Present]:
    """The workers seen in the last `within` seconds, oldest first."""
    rows = db.execute(
        "SELECT * FROM workers WHERE seen_at >= ? ORDER BY started_at, name",
        [time.time() - within],
    ).fetchall()
    return [
        Present(r["name"], r["host"], r["pid"], jobs.parse_stages(r["stages"]), r["seen_at"])
        for r in rows
    ]


def unserved(db: sqlite_utils.Database, within: float) -> dict[str, int]:
    """next stage -> how many queued jobs wait for it while no running worker takes it."""
    present = running(db, within)
    rows = db.execute(
        "SELECT next_stage, COUNT(*) AS n FROM jobs WHERE state = 'queued' "
        "GROUP BY next_stage ORDER BY next_stage"
    ).fetchall()
    return {
        row["next_stage"] or "?": row["n"]
        for row in rows
        if not any(worker.takes(row["next_stage"]) for worker in present)
    }
