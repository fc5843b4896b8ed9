"""The PostgreSQL schema (server/store/pg_migrations.py) on a real throwaway cluster
(tests/pgserver.py) against SQLite's, read from a freshly migrated SQLite file: every table,
column (with a compatible type and the same NOT NULL), primary key, foreign key and named
index of SQLite exists on PostgreSQL, so the two schemas cannot drift apart unnoticed.
Also: migrations run once each (also from two processes at once), the derived vocabulary
behaves as SQLite's triggers do, and connection failures are told in Norwegian."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import psycopg
import pytest

from server.store import db as database
from server.store import postgres
from server.store.pg_copy import sqlite_tables
from server.store.pg_migrations import all_pg_migrations

# SQLite's declared type -> the PostgreSQL types that keep its values and meaning.
COMPATIBLE = {
    "INTEGER": {"bigint"},
    "REAL": {"double precision"},
    "TEXT": {"text", "citext"},
}
# Tables only PostgreSQL has (the migrations' own bookkeeping).
PG_ONLY = {postgres.VERSION_TABLE}


@pytest.fixture
def sqlite_db(tmp_path: Path):
    path = tmp_path / "ktl.db"
    database.init(path)
    with database.session(path) as db:
        yield db


@pytest.fixture
def pg(postgres_url):
    with postgres.connect(postgres_url, autocommit=True) as conn:
        postgres.migrate(conn)
        yield conn


def _sqlite_schema(db) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (declared type, NOT NULL) for the data tables (no FTS5)."""
    schema = {}
    for table in sqlite_tables(db):
        rows = db.execute(f'PRAGMA table_info("{table}")').fetchall()
        # A primary key column is NOT NULL on PostgreSQL whatever SQLite declares.
        schema[table] = {
            r["name"]: (r["type"].upper(), bool(r["notnull"] or r["pk"])) for r in rows
        }
    return schema


def _pg_not_null(conn) -> dict[str, dict[str, bool]]:
    rows = conn.execute(
        "SELECT table_name, column_name, is_nullable = 'NO' FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ).fetchall()
    found: dict[str, dict[str, bool]] = {}
    for table, column, not_null in rows:
        found.setdefault(table, {})[column] = not_null
    return found


def test_every_sqlite_table_and_column_exists_on_postgres_with_a_compatible_type(sqlite_db, pg):
    sqlite = _sqlite_schema(sqlite_db)
    types, not_null = postgres.columns(pg), _pg_not_null(pg)
    assert len(sqlite) > 30, "the scan sees SQLite's tables"
    problems = []
    for table, columns in sqlite.items():
        if table not in types:
            problems.append(f"table {table} missing")
            continue
        for column, (declared, required) in columns.items():
            if column not in types[table]:
                problems.append(f"{table}.{column} missing")
            elif types[table][column] not in COMPATIBLE[declared]:
                problems.append(f"{table}.{column}: {declared} vs {types[table][column]}")
            elif not_null[table][column] != required:
                problems.append(f"{table}.{column}: NOT NULL {required} on SQLite")
    extra = set(types) - set(sqlite) - PG_ONLY
    assert problems == [] and extra == set(), f"{problems} / only on PostgreSQL: {extra}"


def test_every_column_default_is_the_same(sqlite_db, pg):
    """Inserts that leave a column out get the same value on both engines."""
    pg_defaults = {
        (table, column): re.sub(r"::[a-z ]+$", "", default) if default else None
        for table, column, default in pg.execute(
            "SELECT table_name, column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    }
    differ = [
        f"{table}.{row['name']}: {row['dflt_value']} vs {pg_defaults[(table, row['name'])]}"
        for table in sqlite_tables(sqlite_db)
        for row in sqlite_db.execute(f'PRAGMA table_info("{table}")').fetchall()
        if row["dflt_value"] != pg_defaults[(table, row["name"])]
    ]
    assert differ == []


def test_primary_and_foreign_keys_match(sqlite_db, pg):
    def sqlite_keys(table):
        rows = sqlite_db.execute(f'PRAGMA table_info("{table}")').fetchall()
        primary = tuple(r["name"] for r in sorted(rows, key=lambda r: r["pk"]) if r["pk"])
        foreign = {
            (r["from"], r["table"], r["to"] or "id", r["on_delete"])
            for r in sqlite_db.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()
        }
        return primary, foreign

    pg_primary = {
        table: tuple(cols)
        for table, cols in pg.execute(
            "SELECT c.relname, array_agg(a.attname ORDER BY k.n) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace "
            "GROUP BY c.relname"
        ).fetchall()
    }
    pg_foreign: dict[str, set] = {}
    actions = {"a": "NO ACTION", "c": "CASCADE", "n": "SET NULL", "r": "RESTRICT"}
    for table, column, target, target_column, action in pg.execute(
        "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, "
        "  b.attname, c.confdeltype FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1] "
        "WHERE c.contype = 'f'"
    ).fetchall():
        pg_foreign.setdefault(table, set()).add((column, target, target_column, actions[action]))
    problems = []
    for table in sqlite_tables(sqlite_db):
        primary, foreign = sqlite_keys(table)
        if primary and pg_primary.get(table) != primary:
            problems.append(f"{table} primary key {primary} vs {pg_primary.get(table)}")
        if foreign != pg_foreign.get(table, set()):
            problems.append(f"{table} foreign keys {foreign} vs {pg_foreign.get(table)}")
    assert problems == []


def test_every_named_sqlite_index_exists_on_postgres_with_its_uniqueness(sqlite_db, pg):
    data_tables = set(sqlite_tables(sqlite_db))
    sqlite_indexes = {
        row["name"]: row["sql"].upper().startswith("CREATE UNIQUE")
        for row in sqlite_db.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql NOT NULL"
        ).fetchall()
        if row["tbl_name"] in data_tables
    }
    pg_indexes = dict(
        pg.execute(
            "SELECT c.relname, i.indisunique FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace"
        ).fetchall()
    )
    assert len(sqlite_indexes) > 10
    assert {name: pg_indexes.get(name) for name in sqlite_indexes} == sqlite_indexes


def test_migrations_run_once_each_and_are_recorded(postgres_url):
    with postgres.connect(postgres_url, autocommit=True) as conn:
        assert postgres.schema_version(conn) == 0
        assert postgres.migrate(conn) == len(all_pg_migrations())
        assert postgres.migrate(conn) == len(all_pg_migrations())
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, len(all_pg_migrations()) + 1))


def test_two_processes_migrating_at_once_apply_each_migration_once(postgres_url):
    results, errors = [], []

    def run():
        try:
            with postgres.connect(postgres_url, autocommit=True) as conn:
                results.append(postgres.migrate(conn))
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [len(all_pg_migrations())] * 4


def test_a_failing_migration_leaves_nothing_behind(postgres_url):
    # A broken migration after the real ones: its first statement must not stay.
    broken = [*all_pg_migrations(), "CREATE TABLE half_done (id int); SELECT 1/0;"]
    with postgres.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            postgres.migrate(conn, broken)
        assert postgres.schema_version(conn) == len(broken) - 1
        assert "half_done" not in postgres.tables(conn)


def test_the_vocabulary_triggers_keep_the_same_counts_as_sqlite(sqlite_db, pg):
    steps = [
        "INSERT INTO search_talk_vocab (talk_id, word, n) VALUES ({t}, 'barnehage', 2)",
        "INSERT INTO search_talk_vocab (talk_id, word, n) VALUES ({u}, 'barnehage', 3)",
        "INSERT INTO search_talk_vocab (talk_id, word, n) VALUES ({u}, 'skole', 1)",
        "UPDATE search_talk_vocab SET n = 5 WHERE talk_id = {t} AND word = 'barnehage'",
        "DELETE FROM search_talk_vocab WHERE talk_id = {u} AND word = 'skole'",
    ]
    talk = "INSERT INTO talks (slug, title, created_at, updated_at) VALUES ('{s}', 'T', 'x', 'x')"
    for slug in ("a", "b"):
        pg.execute(talk.format(s=slug))
        sqlite_db.execute(talk.format(s=slug))
    pg_ids = [i for (i,) in pg.execute("SELECT id FROM talks ORDER BY id")]
    sqlite_ids = [r[0] for r in sqlite_db.execute("SELECT id FROM talks ORDER BY id")]
    for step in steps:
        pg.execute(step.format(t=pg_ids[0], u=pg_ids[1]))
        sqlite_db.execute(step.format(t=sqlite_ids[0], u=sqlite_ids[1]))
    query = "SELECT word, n FROM search_vocab ORDER BY word"
    assert pg.execute(query).fetchall() == [tuple(r) for r in sqlite_db.execute(query)]
    assert pg.execute(query).fetchall() == [("barnehage", 8)]


def test_email_is_unique_and_matched_without_case_as_on_sqlite(pg):
    insert = "INSERT INTO users (email, created_at) VALUES (%s, 'x')"
    pg.execute(insert, ["Kari@Kommune.no"])
    found = pg.execute("SELECT email FROM users WHERE email = %s", ["kari@kommune.NO"])
    assert found.fetchall() == [("Kari@Kommune.no",)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute(insert, ["KARI@kommune.no"])


def test_the_pool_lends_working_connections(postgres_url):
    pool = postgres.open_pool(postgres_url, min_size=1, max_size=2)
    try:
        with pool.connection() as conn:
            assert postgres.migrate(conn) == len(all_pg_migrations())
        with pool.connection() as conn:
            assert postgres.schema_version(conn) == len(all_pg_migrations())
    finally:
        pool.close()


def test_a_server_that_does_not_answer_is_told_in_norwegian(postgres_server):
    from tests.liveserver import free_port

    url = f"postgresql://ktl:hemmelig@127.0.0.1:{free_port()}/ktl"
    with pytest.raises(postgres.PostgresError) as caught:
        postgres.connect(url)
    message = str(caught.value)
    assert "Fikk ikke kontakt med PostgreSQL" in message and "Sjekk at" in message
    assert "hemmelig" not in message and "ktl:***@" in message


@pytest.mark.parametrize("url", ["mysql://db/ktl", "postgresql://db", "ktl.db", ""])
def test_an_address_that_is_not_postgresql_is_refused(url):
    with pytest.raises(postgres.PostgresError, match="er ikke en PostgreSQL-adresse"):
        postgres.connect(url)


def test_a_wrong_database_name_is_told(postgres_server):
    with pytest.raises(postgres.PostgresError, match="does not exist"):
        postgres.connect(postgres_server.url("finnes_ikke"))


def test_a_database_owner_who_is_not_a_superuser_can_apply_the_schema(postgres_server):
    """As in production: `CREATE ROLE ktl LOGIN; CREATE DATABASE ktl OWNER ktl` (citext
    is a trusted extension, so the owner may create it)."""
    import os

    role = f"ktl_owner_{os.getpid()}"
    with postgres_server.connect("postgres") as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
        admin.execute(f"CREATE DATABASE {role} OWNER {role} TEMPLATE ktl_template")
    url = postgres_server.url(role).replace("postgres@", f"{role}@")
    try:
        with postgres.connect(url, autocommit=True) as conn:
            superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            assert conn.execute(superuser).fetchone() == (False,)
            assert postgres.migrate(conn) == len(all_pg_migrations())
    finally:
        postgres_server.drop_database(url)
        with postgres_server.connect("postgres") as admin:
            admin.execute(f"DROP ROLE {role}")
