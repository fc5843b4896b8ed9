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

from server.core.config import Settings
from server.store import pgconn, postgres
from server.store.migrations import all_migrations
from server.store.store import connect, migrate, open_store, write

write_transaction = write  # the earlier name of the one write unit

__all__ = [
    "all_migrations", "connect", "init", "migrate", "schema_version", "session", "snapshot",
    "write", "write_transaction",
]  # fmt: skip


@contextmanager
def session(target: Path | Settings) -> Iterator[sqlite_utils.Database]:
    """A connection of its own to a SQLite file, or to the database the settings name
    (PostgreSQL at KTL_DATABASE_URL, else the data folder's SQLite file)."""
    if isinstance(target, Settings) and target.database_url:
        db = pgconn.PgDatabase(postgres.connect(target.database_url, autocommit=True))
    else:
        db = connect(target.db_path if isinstance(target, Settings) else target)
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


def init(target: Path | Settings) -> None:
    """The schema, with every pending migration, in a SQLite file or the settings' database."""
    if isinstance(target, Settings):
        open_store(target).init()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with session(target) as db:
        migrate(db)
