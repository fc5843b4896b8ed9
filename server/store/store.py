"""The store: the one door to SQLite.

A `Store` owns the connections to one database file. It opens them (the pragmas run once
per connection), lends one out per unit of work (a request, a job step, a CLI command) and
takes it back for the next. Domain code receives the connection, a `sqlite_utils.Database`,
and never opens, commits or rolls one back: it groups its writes in `write(db)`, the one
way to commit. Connections run in autocommit mode (`isolation_level=None`), so nothing opens
a transaction behind anyone's back: a transaction exists only inside `write(db)`, and
sqlite-utils' own `atomic()` blocks inside it become savepoints of that one transaction.
"""

from __future__ import annotations

import fcntl
import itertools
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

import server.store.postgres as postgres
from server.store.migrations import all_migrations
from server.store.pgconn import DatabaseError, PgDatabase, is_postgres

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
POOL_SIZE = 20  # PostgreSQL connections per process at most (PostgreSQL allows 100 in all)
IDLE_CONNECTIONS = 40  # kept open between units of work (anyio lends 40 threads at most)
_savepoints = itertools.count()

if TYPE_CHECKING:
    from server.core.config import Settings


def connect(path: Path) -> sqlite_utils.Database:
    """A new connection with the project's pragmas; Store lends these out."""
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return sqlite_utils.Database(conn)


_generation = 0


def generation() -> int:
    """How many write units this process has committed (not counting joined ones): an
    answer read at one generation may be stale at the next (server.web.shortcache)."""
    return _generation


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """One write unit: taken at once (BEGIN IMMEDIATE, so it never fails half-way for want
    of the write lock), committed as a whole at the end, rolled back as a whole on any
    error. A write unit inside another joins it (a savepoint: its rows commit with the
    outer unit; an error inside undoes its own part and goes on up). Yields the connection."""
    conn = db.conn
    if conn.in_transaction:
        yield from _joined(conn)
        return
    conn.execute("BEGIN" if is_postgres(conn) else "BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    finally:
        global _generation
        _generation += 1  # also after a failed COMMIT: what was read may be stale either way


def _joined(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    name = f"ktl_unit_{next(_savepoints)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # an error such as SQLITE_FULL may have ended it already
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def _rollback(conn: sqlite3.Connection | PgDatabase) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in one transaction with its version bump; returns the
    schema version."""
    migrations = all_migrations()
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(migrations[version:], start=version + 1):
        try:
            db.conn.executescript(
                f"BEGIN IMMEDIATE;\n{migration}\n;PRAGMA user_version={number};\nCOMMIT;"
            )
        except sqlite3.Error:
            _rollback(db.conn)
            raise
    return len(migrations)


class Store:
    """The connections to one database, lent out one unit of work at a time."""

    def __init__(self, path: Path, idle: int = IDLE_CONNECTIONS) -> None:
        self.path = Path(path)
        self._idle: queue.LifoQueue[sqlite_utils.Database] = queue.LifoQueue()
        self._max_idle = idle
        self._closed = False
        self._watch: sqlite_utils.Database | None = None  # never writes: see version()
        self._watch_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        """A connection for one unit of work: reads run at once; writes go in `write(db)`."""
        db = self._borrow()
        try:
            yield db
        finally:
            self._give_back(db)

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A connection inside one write unit (see `write`)."""
        with self.read() as db, write(db):
            yield db

    def init(self) -> int:
        """Create the folder and the schema (pending migrations); returns the version.
        Processes starting together on one data folder (several `ktl serve`, workers)
        migrate one after the other: each reads the version only once the one before it
        has finished (a lock file beside the database)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".migrating")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            with self.read() as db:
                return migrate(db)

    def version(self) -> tuple[int, int]:
        """A value that changes whenever a write unit commits to this database, in this
        process or any other (`ktl serve` processes behind nginx, workers, the CLI): an
        answer read at one version may be stale at the next (server.web.shortcache). SQLite:
        `PRAGMA data_version` on a connection kept for it, which never writes, so every
        commit is another connection's (a few microseconds: it reads the WAL index)."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = connect(self.path)
            changes = self._watch.execute("PRAGMA data_version").fetchone()[0]
        return (_generation, changes)

    def close(self) -> None:
        self._closed = True
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _borrow(self) -> sqlite_utils.Database:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return connect(self.path)

    def _give_back(self, db: sqlite_utils.Database) -> None:
        try:
            _rollback(db.conn)  # a unit that left a transaction open loses it, never leaks it
        except DatabaseError:
            db.close()
            return
        if self._closed or self._idle.qsize() >= self._max_idle:
            db.close()
        else:
            self._idle.put(db)


class PgStore:
    """The same door on PostgreSQL (`KTL_DATABASE_URL`): connections lent from a pool
    (psycopg_pool), in autocommit mode like SQLite's, as `PgDatabase` (server.store.pgconn)."""

    def __init__(self, url: str, max_size: int = POOL_SIZE) -> None:
        self.url = postgres.check_url(url)
        self.path = None
        self._max_size = max_size
        self._pool: Any = None
        self._lock = threading.Lock()
        self._watch: Any = None  # a connection for version() alone, outside the pool
        self._watch_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[PgDatabase]:
        """A connection for one unit of work: reads run at once; writes go in `write(db)`."""
        with self._connections().connection() as conn:
            db = PgDatabase(conn)
            try:
                yield db
            finally:
                _rollback(db)

    @contextmanager
    def write(self) -> Iterator[PgDatabase]:
        """A connection inside one write unit (see `write`)."""
        with self.read() as db, write(db):
            yield db

    def init(self) -> int:
        """The schema's pending migrations (processes starting together apply each once:
        server.store.postgres.migrate holds an advisory lock); returns the version."""
        conn = postgres.connect(self.url, autocommit=True)
        try:
            return postgres.migrate(conn)
        finally:
            conn.close()

    def version(self) -> tuple[int, str]:
        """A value that changes whenever anything commits to the cluster (where its
        write-ahead log is inserted next: a write in any process, also ones that do not
        concern this database, which only costs a cache a fresh read; the insert position,
        not the write position, which lags a commit with synchronous_commit off). Read on a
        connection kept for it, outside the pool: the caches ask while their request holds a
        pooled connection, and as many requests as the pool has connections, each waiting
        for a second one, would wait for each other until the pool's timeout (20 clients on
        one search did)."""
        with self._watch_lock:
            if self._watch is None or self._watch.closed:
                self._watch = postgres.connect(self.url, autocommit=True)
            try:
                lsn = self._watch.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
            except DatabaseError:
                self._watch.close()  # a broken connection: the next call opens another
                raise
        return (_generation, lsn)

    def close(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _connections(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = postgres.open_pool(self.url, min_size=1, max_size=self._max_size)
            return self._pool


def open_store(settings: Settings) -> Store | PgStore:
    """The store the settings name: PostgreSQL at KTL_DATABASE_URL, else the data folder's
    SQLite file."""
    if settings.database_url:
        return PgStore(settings.database_url)
    return Store(settings.db_path)
