"""Live events and viewers shared by several `ktl serve` processes (domain, no HTTP).

Any number of web processes behind nginx serve the viewers of one broadcast, while one of
them (KTL_LIVE_INGEST) receives it. What a process says about a broadcast (its state, a
caption, "a question came") is appended to `live_events`; every process tails the table
(a short poll on the increasing id) and passes each event to its own event streams. Each
process writes the viewers it holds for a talk to `live_presence` every few seconds, so that
every process counts them all; a process that stopped without saying so is forgotten when
its row is older than PRESENCE_STALE.

Ids only grow, and a row with a lower id is never committed after one with a higher id has
been read, so a tail that remembers the last id it saw misses nothing: SQLite commits one
writer at a time; on PostgreSQL, whose writers commit side by side (ids drawn in one order
could commit in another), `append` takes a named lock (server.store.locks) before drawing
its id and holds it to its commit, so appends commit one after the other there too (reads
go on meanwhile).
Events are pruned after EVENT_KEEP seconds.
"""

from __future__ import annotations

import json
import time

import sqlite_utils

from server.store import inserted_id, locks, write

EVENT_KEEP = 600.0  # seconds an event stays in the table (an event stream reconnects sooner)
PRESENCE_STALE = 15.0  # seconds after which a process's viewers no longer count
TAIL_LIMIT = 500


def append(db: sqlite_utils.Database, talk_id: int, origin: str, event: dict) -> int:
    """Add an event for every process; returns its id."""
    with write(db):
        locks.serialize(db, "live_events")  # appends commit in the order of their ids
        cursor = db.execute(
            "INSERT INTO live_events (talk_id, origin, event, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            [talk_id, origin, json.dumps(event, ensure_ascii=False), time.time()],
        )
        return inserted_id(cursor)


def newest(db: sqlite_utils.Database) -> int:
    """The id of the newest event (0: none): a process starts tailing after it."""
    return db.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchone()[0]


def since(db: sqlite_utils.Database, last: int) -> list[tuple[int, int, str, dict]]:
    """Events after id `last`, oldest first: (id, talk id, origin process, event)."""
    rows = db.execute(
        "SELECT id, talk_id, origin, event FROM live_events WHERE id > ? ORDER BY id LIMIT ?",
        [last, TAIL_LIMIT],
    )
    return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


def prune(db: sqlite_utils.Database, keep: float = EVENT_KEEP) -> None:
    """Forget events older than `keep` seconds and viewers of processes long gone."""
    now = time.time()
    old = [now - keep, now - 4 * PRESENCE_STALE]
    found = db.execute(
        "SELECT EXISTS (SELECT 1 FROM live_events WHERE created_at < ?) "
        "OR EXISTS (SELECT 1 FROM live_presence WHERE seen_at < ?)",
        old,
    ).fetchone()[0]
    if not found:  # no write unit: each one makes every process's short caches start over
        return
    with write(db):
        db.execute("DELETE FROM live_events WHERE created_at < ?", old[:1])
        db.execute("DELETE FROM live_presence WHERE seen_at < ?", old[1:])


def report(
    db: sqlite_utils.Database, process: str, viewers: dict[int, tuple[list[str], list[int]]]
) -> None:
    """This process's viewers now: talk id → (viewer keys, signed-in user ids). Talks that
    are not named lose this process's row."""
    now = time.time()
    with write(db):
        db.execute("DELETE FROM live_presence WHERE process = ?", [process])
        for talk_id, (keys, users) in viewers.items():
            db.execute(
                "INSERT INTO live_presence (process, talk_id, viewers, present, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [process, talk_id, json.dumps(keys), json.dumps(users), now],
            )


def elsewhere(db: sqlite_utils.Database, process: str) -> dict[int, tuple[set[str], set[int]]]:
    """The viewers other live processes hold: talk id → (viewer keys, signed-in user ids)."""
    rows = db.execute(
        "SELECT talk_id, viewers, present FROM live_presence WHERE process != ? AND seen_at > ?",
        [process, time.time() - PRESENCE_STALE],
    )
    found: dict[int, tuple[set[str], set[int]]] = {}
    for talk_id, keys, users in rows:
        seen, present = found.setdefault(talk_id, (set(), set()))
        seen.update(json.loads(keys))
        present.update(json.loads(users))
    return found


def leave(db: sqlite_utils.Database, process: str) -> None:
    """A process that stops takes its viewers with it."""
    with write(db):
        db.execute("DELETE FROM live_presence WHERE process = ?", [process])
