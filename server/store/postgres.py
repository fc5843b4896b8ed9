"""The door to PostgreSQL (psycopg 3): connecting with a sentence a person can act on when it
fails, the connection pool, the schema's migrations and what the schema holds.

`KTL_DATABASE_URL` makes the store use these (server.store.store.PgStore, with
server.store.pgconn's connections); `ktl migrate-to-postgres` (server.store.pg_copy) and the
tests use them directly. The migrations are server.store.pg_migrations (append
there); `migrate()` applies the pending ones, each in one transaction with its row in
`schema_version`, under an advisory lock so that processes starting together apply each
once.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from server.store.pg_migrations import all_pg_migrations

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT = 10  # seconds: a wrong host answers with a sentence, not a hang
# pg_advisory_xact_lock key for migrations (any constant; "ktl" in ASCII).
MIGRATION_LOCK = 0x6B746C
VERSION_TABLE = "schema_version"


class PostgresError(Exception):
    """PostgreSQL cannot be used as asked; the message says why in Norwegian."""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def check_url(url: str) -> str:
    """The URL if it names a PostgreSQL database; otherwise a PostgresError."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.path.strip("/"):
        raise PostgresError(
            f"«{redacted(url)}» er ikke en PostgreSQL-adresse. Skriv den som "
            "postgresql://bruker:passord@vert:5432/database."
        )
    return url


def connect(url: str, autocommit: bool = False) -> psycopg.Connection:
    """A connection to `url`; a PostgresError saying what to check when there is none."""
    check_url(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.OperationalError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
        raise PostgresError(
            f"Fikk ikke kontakt med PostgreSQL på {redacted(url)} ({reason}). Sjekk at "
            "databasetjeneren kjører og kan nås herfra, og at vert, port, bruker, passord og "
            "databasenavn i adressen stemmer."
        ) from exc
    except psycopg.ProgrammingError as exc:  # a URL libpq cannot parse
        raise PostgresError(
            f"Adressen {redacted(url)} kan ikke leses ({exc}). Skriv den som "
            "postgresql://bruker:passord@vert:5432/database."
        ) from exc


def open_pool(url: str, min_size: int = 1, max_size: int = 10) -> ConnectionPool:
    """A pool of connections to `url` (opened, connections checked when borrowed)."""
    check_url(url)
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"connect_timeout": CONNECT_TIMEOUT},
        check=ConnectionPool.check_connection,
        open=False,
    )
    pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    return pool


def tables(conn: psycopg.Connection) -> list[str]:
    """The tables in the connection's current schema, by name."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def columns(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """table -> column -> its type (information_schema's data_type, or the extension's type
    name for a user-defined one such as citext)."""
    rows = conn.execute(
        "SELECT table_name, column_name, "
        "  CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        found.setdefault(table, {})[column] = kind
    return found


def schema_version(conn: psycopg.Connection) -> int:
    """How many migrations this database has (0 for a database without the schema)."""
    if VERSION_TABLE not in tables(conn):
        return 0
    return conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()[0]


def migrate(conn: psycopg.Connection, migrations: list[str] | None = None) -> int:
    """Apply the pending migrations (all_pg_migrations() unless given), each in one
    transaction; the version reached."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("migrate() runs its own transactions: pass an idle connection")
    migrations = all_pg_migrations() if migrations is None else migrations
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version bigint PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            version = schema_version(conn)
            if version > len(migrations):
                raise PostgresError(
                    f"Databasen har skjemaversjon {version}, men denne utgaven av Kunnskap til "
                    f"lunsj kjenner bare {len(migrations)}. Oppgrader programmet først."
                )
            if version == len(migrations):
                return version
            conn.execute(migrations[version])
            conn.execute(
                sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(
                    sql.Identifier(VERSION_TABLE)
                ),
                [version + 1],
            )
