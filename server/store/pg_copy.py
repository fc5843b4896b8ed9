"""Copy a SQLite installation into an empty PostgreSQL database (`ktl migrate-to-postgres`).

The SQLite side is read in ONE read transaction, so the copy is one consistent moment even
while the server keeps writing (WAL: writers carry on; what they write after the start is
not in the copy). The PostgreSQL side is written in ONE transaction: every table in
foreign-key order, streamed in batches with COPY, each identity sequence set past the
largest id, the row counts compared with SQLite's, and only then committed. A failure
leaves the target as empty as it was (the schema stays applied).

`search_vocab` is copied as it is (its ids only grow: server/catalogue/similar.py reads
"words newer than id N"), so the trigger that derives it from `search_talk_vocab` is off
during the copy, inside the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import sqlite_utils
from psycopg import sql

from server.store import postgres
from server.store.migrations import all_migrations
from server.store.postgres import PostgresError
from server.store.store import connect as sqlite_connect

BATCH = 5000  # rows read from SQLite per step (memory stays flat for any size)
# Triggers that derive a copied table from another copied table (off while copying).
DERIVING_TRIGGERS = {"search_talk_vocab": "search_talk_vocab_count"}


@dataclass
class CopyReport:
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows copied, in order
    seconds: float = 0.0
    sqlite_version: int = 0
    postgres_version: int = 0


def sqlite_tables(db: sqlite_utils.Database) -> list[str]:
    """The SQLite tables that hold data: neither FTS5 tables nor their shadow tables (the
    PostgreSQL schema builds its own search index), nor SQLite's own."""
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    virtual = [name for name, text in rows if text.upper().startswith("CREATE VIRTUAL")]
    return sorted(
        name
        for name, _text in rows
        if name not in virtual and not any(name.startswith(f"{v}_") for v in virtual)
    )


def sqlite_columns(db: sqlite_utils.Database, table: str) -> list[str]:
    return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")').fetchall()]


def in_dependency_order(db: sqlite_utils.Database, names: list[str]) -> list[str]:
    """The tables with each after the tables its foreign keys point to."""
    needs = {
        name: {row[2] for row in db.execute(f'PRAGMA foreign_key_list("{name}")')} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)]
        if not ready:  # a circle of foreign keys: cannot happen in this schema
            raise PostgresError("Tabellene har sirkulære fremmednøkler og kan ikke kopieres.")
        ordered.extend(ready)
    return ordered


@contextmanager
def read_transaction(path: Path) -> Iterator[sqlite_utils.Database]:
    """The SQLite database at one moment: a read transaction, always rolled back."""
    db = sqlite_connect(path)
    try:
        db.execute("BEGIN")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        yield db
    finally:
        db.execute("ROLLBACK")
        db.close()


def copy_to_postgres(sqlite_path: Path, url: str) -> CopyReport:
    """Copy every table of the SQLite database at `sqlite_path` into the empty database at
    `url` (its schema applied first); a PostgresError, in Norwegian, when it cannot."""
    started = time.monotonic()
    with postgres.connect(url, autocommit=True) as target, read_transaction(sqlite_path) as source:
        try:
            report = _copy(source, target, url)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PostgresError(
                f"Brukeren i adressen har ikke lov til dette i databasen ({_first_line(exc)}). "
                "La brukeren eie databasen (CREATE DATABASE ktl OWNER ktl), og prøv igjen."
            ) from exc
        except psycopg.Error as exc:
            raise PostgresError(
                f"PostgreSQL avviste kopien ({_first_line(exc)}). Ingen rader er lagret."
            ) from exc
    report.seconds = time.monotonic() - started
    return report


def _copy(source: sqlite_utils.Database, target: psycopg.Connection, url: str) -> CopyReport:
    report = CopyReport()
    report.sqlite_version = _check_sqlite(source)
    report.postgres_version = _prepare_target(target, url)
    names = in_dependency_order(source, sqlite_tables(source))
    _check_same_tables(source, names, postgres.columns(target))
    with target.transaction():
        for table, trigger in DERIVING_TRIGGERS.items():
            target.execute(_trigger_sql(table, trigger, "DISABLE"))
        for table in names:
            with _indexes_built_after(target, table):
                report.counts[table] = _copy_table(source, target, table)
        for table, trigger in DERIVING_TRIGGERS.items():
            target.execute(_trigger_sql(table, trigger, "ENABLE"))
        _set_sequences(source, target, names)
        _verify_counts(source, target, names)
    return report


@contextmanager
def _indexes_built_after(target: psycopg.Connection, table: str) -> Iterator[None]:
    """The table's indexes dropped while its rows stream in, then built again from their
    own definitions, in the same transaction: one build of a GIN or trigram index over all
    rows is several times quicker than keeping it row by row. Indexes behind a constraint
    (primary keys, UNIQUE) stay and check every row as it comes."""
    found = target.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename = %s AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conindid = ("
        "    quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
        [table],
    ).fetchall()
    for name, _definition in found:
        target.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    yield
    for _name, definition in found:
        target.execute(definition)


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _check_sqlite(source: sqlite_utils.Database) -> int:
    version = source.execute("PRAGMA user_version").fetchone()[0]
    expected = len(all_migrations())
    if version != expected:
        raise PostgresError(
            f"SQLite-databasen har skjemaversjon {version}, men denne utgaven har {expected}. "
            "Start «ktl serve» på datamappen én gang (den oppgraderer databasen), og prøv igjen."
        )
    return version


def _prepare_target(target: psycopg.Connection, url: str) -> int:
    """Apply the schema to an empty database; refuse one that holds anything."""
    existing = postgres.tables(target)
    if existing and postgres.VERSION_TABLE not in existing:
        raise PostgresError(
            f"Databasen {postgres.redacted(url)} er ikke tom: den har tabeller som ikke er "
            f"fra Kunnskap til lunsj ({', '.join(existing[:5])}). Oppgi en ny, tom database."
        )
    version = postgres.migrate(target)
    for table in postgres.tables(target):
        if table == postgres.VERSION_TABLE:
            continue
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        if target.execute(query).fetchone()[0]:
            raise PostgresError(
                f"Databasen {postgres.redacted(url)} er ikke tom: tabellen «{table}» har "
                "allerede rader. Kopien må gå til en ny, tom database, så ingenting blir "
                "skrevet over."
            )
    return version


def _check_same_tables(
    source: sqlite_utils.Database, names: list[str], target: dict[str, dict[str, str]]
) -> None:
    missing = [
        f"{table}.{column}" if table in target else table
        for table in names
        for column in (sqlite_columns(source, table) if table in target else [""])
        if table not in target or column not in target[table]
    ]
    if missing:
        raise PostgresError(
            "PostgreSQL-skjemaet mangler noe SQLite-databasen har "
            f"({', '.join(sorted(set(missing))[:8])}). Kopien er ikke startet."
        )


def _trigger_sql(table: str, trigger: str, action: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
        sql.Identifier(table), sql.SQL(action), sql.Identifier(trigger)
    )


def _copy_table(source: sqlite_utils.Database, target: psycopg.Connection, table: str) -> int:
    names = sqlite_columns(source, table)
    listed = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    select = "SELECT " + ", ".join(f'"{n}"' for n in names) + f' FROM "{table}"'
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), listed)
    rows = source.execute(select)
    copied = 0
    try:
        with target.cursor() as cursor, cursor.copy(copy_sql) as copy:
            while batch := rows.fetchmany(BATCH):
                for row in batch:
                    copy.write_row(tuple(row))
                copied += len(batch)
    except psycopg.DataError as exc:  # a value PostgreSQL cannot hold (a NUL in a text)
        raise PostgresError(
            f"Tabellen «{table}» har en verdi PostgreSQL ikke kan lagre ({_first_line(exc)}), "
            f"etter {copied} rader. Ingen rader er lagret; rett verdien i SQLite og prøv igjen."
        ) from exc
    return copied


def _set_sequences(
    source: sqlite_utils.Database, target: psycopg.Connection, names: list[str]
) -> None:
    """Each identity sequence past the largest id copied (and past SQLite's AUTOINCREMENT
    high-water mark, so ids of deleted rows are not handed out again)."""
    has_sequences = source.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'"
    ).fetchone()[0]
    rows = source.execute("SELECT name, seq FROM sqlite_sequence") if has_sequences else []
    high_water = {name: seq for name, seq in rows}
    identities = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        if table not in names:
            continue
        largest = target.execute(
            sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                sql.Identifier(column), sql.Identifier(table)
            )
        ).fetchone()[0]
        value = max(largest, high_water.get(table, 0))
        if value > 0:
            target.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                [sql.Identifier(table).as_string(target), column, value],
            )


def _verify_counts(
    source: sqlite_utils.Database, target: psycopg.Connection, names: list[str]
) -> None:
    wrong = []
    for table in names:
        expected = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        found = target.execute(query).fetchone()[0]
        if found != expected:
            wrong.append(f"{table}: {found} av {expected}")
    if wrong:
        raise PostgresError(
            "Antall rader stemmer ikke etter kopien, så ingenting er lagret: " + "; ".join(wrong)
        )
