"""Opening SQLite outside a Store: one-off sessions (tests, tools), snapshots, schema version.

The connections, the write unit and the migrations live in server.store.store and
server.store.migrations; the names are kept here for the code that imports them from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from server.store.migrations import all_migrations
from server.store.store import connect, migrate, write

write_transaction = write  # the earlier name of the one write unit

__all__ = [
    "all_migrations", "connect", "init", "migrate", "schema_version", "session", "snapshot",
    "write", "write_transaction",
]  # fmt: skip


@contextmanager
def session(path: Path) -> Iterator[sqlite_utils.Database]:
    db = connect(path)
    try:
        yield db
    finally:
        db.close()


def snapshot(source: Path, dest: Path) -> int:
    """A consistent copy of a live database with SQLite's online backup API (never a file
    copy of a WAL database), as one self-contained file; returns its schema version."""
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(dest))
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # one step, one read snapshot: with WAL, writers carry on meanwhile
        dst.execute("PRAGMA journal_mode=DELETE")
        return dst.execute("PRAGMA user_version").fetchone()[0]
    finally:
        dst.close()
        src.close()


def schema_version(path: Path) -> int:
    with session(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def init(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with session(path) as db:
        migrate(db)
