"""`ktl migrate-to-postgres URL` for real: an installation built through the app (users,
sessions, talks with recordings, a Norwegian transcript in the search index, a quiz and
attempts, watch progress, notes, jobs, audit rows) is copied by the command (a separate
process) into a fresh database of the throwaway PostgreSQL cluster (tests/pgserver.py);
every table's rows are compared column by column, sequences continue past the copied ids,
and a target that is not empty, a server that does not answer and a wrong URL are refused
with a Norwegian sentence."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg
import pytest
from starlette.testclient import TestClient

from server.catalogue import search
from server.learning import notes, progress, quizzes
from server.learning.quizzes import QuestionInput
from server.people import accounts
from server.pipeline import jobs
from server.store import db as database
from server.store import postgres, write
from server.store.pg_copy import sqlite_columns, sqlite_tables
from server.transcript.model import Segment
from server.web.app import create_app
from tests.test_access_matrix import _talk
from tests.webclient import login, make_user, post

# The source is the installation's SQLite file, copied into a PostgreSQL these tests make
# themselves (postgres_url): the [postgres] run of the settings would copy nothing new.
pytestmark = pytest.mark.sqlite_only

SPEECH = [
    "Velkommen til kunnskap til lunsj fra barnehageetaten.",
    "Kommunen har tjueto barnehager, og nesten alle barn går i barnehage.",
    "Barnehagene samarbeider med helsestasjonen, skolen og barnevernet.",
    "Søknadsfristen for barnehageplass er første mars.",
]


def ktl(settings, *args: str) -> subprocess.CompletedProcess:
    """The command as a person runs it (its own process, the installation's data folder)."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(settings.data_dir), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def installation(settings):
    """A small but complete installation made through the app and its domain code."""
    organiser = make_user(settings, "organiser", department="Oppvekst")
    viewer = make_user(settings, "viewer", department="Helse")
    make_user(settings, "admin")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Bli kjent med barnehagene")
        second = _talk(db, settings, organiser, "public", "Byggesak for alle")
        segments = [Segment(8.0 * i, 8.0 * i + 7, text) for i, text in enumerate(SPEECH)]
        search.index_talk(db, talk.id, segments, "nb")
        search.index_talk_metadata(db, talk.id)
        search.index_talk_metadata(db, second.id)
        questions = [
            ("single", "Hvor mange barnehager?", ("Tjueto", "Tolv"), (0,)),
            ("multiple", "Hvem samarbeider de med?", ("Skolen", "Barnevernet", "Ingen"), (0, 1)),
            ("reflection", "Hva tar du med deg?", (), ()),
        ]
        ids = [
            quizzes.save_question(db, talk, QuestionInput(kind=kind, text=text, explanation="",
                                  at="", options=options, correct=correct), organiser)
            for kind, text, options, correct in questions
        ]  # fmt: skip
        quizzes.save_settings(db, talk, "80", True, True, organiser)
        jobs.enqueue(db, second.id)
        progress.record(db, viewer.id, talk.id, {"intervals": [[0, 1.5]], "position": 1.5})
        notes.add(db, viewer.id, talk.id, 1.0, "Spør om søknadsfristen – «æøå»")
        with write(db):
            accounts.audit(db, organiser, "la til quiz", talk.slug, "4 spørsmål")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert login(client, viewer.email).status_code == 303
        answers = {f"q{ids[0]}": "0", f"q{ids[1]}": ["0", "1"], f"q{ids[2]}": "Mye å lære"}
        assert post(client, f"/talks/{talk.slug}/quiz", answers).status_code == 303
    return settings


def _rows(conn_execute, table: str, columns: list[str]) -> list[tuple]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(str(i + 1) for i in range(len(columns)))
    return [tuple(r) for r in conn_execute(f'SELECT {quoted} FROM "{table}" ORDER BY {order}')]


def test_the_command_copies_every_table_row_for_row(installation, postgres_url):
    settings = installation
    done = ktl(settings, "migrate-to-postgres", postgres_url)
    assert done.returncode == 0, done.stderr
    assert "antallet i hver tabell er kontrollert" in done.stdout
    with database.session(settings) as db, psycopg.connect(postgres_url) as pg:
        tables = sqlite_tables(db)
        copied = {}
        for table in tables:
            columns = sqlite_columns(db, table)
            sqlite_rows = _rows(lambda q: db.execute(q).fetchall(), table, columns)
            assert _rows(lambda q: pg.execute(q).fetchall(), table, columns) == sqlite_rows, table
            copied[table] = len(sqlite_rows)
            assert f"  {table} " in done.stdout
    for table in ("users", "sessions", "talks", "recordings", "search_segments", "search_talks",
                  "search_vocab", "quizzes", "questions", "attempts", "watch_progress", "notes",
                  "jobs", "audit_log"):  # fmt: skip
        assert copied[table] > 0, f"the installation has {table} rows"
    assert copied["search_segments"] >= len(SPEECH)


def _indexes(url: str) -> list[tuple]:
    with psycopg.connect(url) as pg:
        query = "SELECT tablename, indexname, indexdef FROM pg_indexes "
        query += "WHERE schemaname = 'public' ORDER BY 1, 2"
        return pg.execute(query).fetchall()


def test_the_indexes_built_after_the_rows_are_the_schema_s_own(
    installation, postgres_url, postgres_server
):
    """The copy drops each table's plain indexes while its rows stream in and builds them
    again: afterwards they are exactly those of a database the migrations made."""
    assert ktl(installation, "migrate-to-postgres", postgres_url).returncode == 0
    with postgres_server.database() as fresh:
        with postgres.connect(fresh, autocommit=True) as conn:
            postgres.migrate(conn)
        assert _indexes(postgres_url) == _indexes(fresh)
    assert len(_indexes(postgres_url)) > 40


def test_sequences_continue_past_the_copied_ids(installation, postgres_url):
    assert ktl(installation, "migrate-to-postgres", postgres_url).returncode == 0
    with database.session(installation.db_path) as db:
        largest = db.execute("SELECT max(id) FROM users").fetchone()[0]
        words = db.execute("SELECT max(id) FROM search_vocab").fetchone()[0]
    with psycopg.connect(postgres_url) as pg:
        new = pg.execute(
            "INSERT INTO users (email, created_at) VALUES ('ny@kommune.no', 'x') RETURNING id"
        ).fetchone()[0]
        word = pg.execute(
            "INSERT INTO search_vocab (word, n) VALUES ('nyord', 1) RETURNING id"
        ).fetchone()[0]
    assert new == largest + 1 and word == words + 1


def test_the_copy_is_one_moment_while_the_server_keeps_writing(installation, postgres_url):
    """A writer adds audit rows through the store's write unit during the whole copy; the
    copy's counts are verified against the same read transaction, so they agree."""
    settings = installation
    with database.session(settings) as db, write(db):
        db.conn.executemany(
            "INSERT INTO audit_log (at, actor, action, target) VALUES ('x', 'test', 'fyll', ?)",
            [(str(i),) for i in range(20000)],
        )
    stop, written = threading.Event(), []

    def keep_writing():
        with database.session(settings) as db:
            while not stop.is_set():
                with write(db):
                    accounts.audit(db, None, "skriver under kopien", str(len(written)))
                written.append(1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        done = ktl(settings, "migrate-to-postgres", postgres_url)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    with database.session(settings) as db, psycopg.connect(postgres_url) as pg:
        copied = pg.execute("SELECT count(*), max(id) FROM audit_log").fetchone()
        # Every copied row is the SQLite row with that id, and none is missing below the top.
        assert copied[0] == copied[1]
        assert (
            db.execute("SELECT count(*) FROM audit_log WHERE id <= ?", [copied[1]]).fetchone()[0]
            == copied[0]
        )
    assert written, "the writer wrote while the command ran"


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(installation, postgres_url):
    assert ktl(installation, "migrate-to-postgres", postgres_url).returncode == 0
    with psycopg.connect(postgres_url) as pg:
        before = pg.execute("SELECT count(*) FROM talks").fetchone()[0]
    again = ktl(installation, "migrate-to-postgres", postgres_url)
    assert again.returncode == 2
    assert "er ikke tom" in again.stderr and "Traceback" not in again.stderr
    with psycopg.connect(postgres_url) as pg:
        assert pg.execute("SELECT count(*) FROM talks").fetchone()[0] == before


def test_a_database_of_something_else_is_refused(installation, postgres_url):
    with psycopg.connect(postgres_url) as pg:
        pg.execute("CREATE TABLE kunder (id int)")
    refused = ktl(installation, "migrate-to-postgres", postgres_url)
    assert refused.returncode == 2
    assert "ikke er fra Kunnskap til lunsj (kunder)" in refused.stderr


def test_an_unreachable_server_and_a_wrong_url_are_told_in_norwegian(installation):
    from tests.liveserver import free_port

    nobody = ktl(
        installation, "migrate-to-postgres", f"postgresql://ktl:pw@127.0.0.1:{free_port()}/x"
    )
    assert nobody.returncode == 2 and "Fikk ikke kontakt med PostgreSQL" in nobody.stderr
    assert "pw@" not in nobody.stderr and "Traceback" not in nobody.stderr
    wrong = ktl(installation, "migrate-to-postgres", "sqlite:///data/ktl.db")
    assert wrong.returncode == 2 and "er ikke en PostgreSQL-adresse" in wrong.stderr


def test_a_data_folder_without_a_database_is_told(tmp_path, postgres_url):
    empty = tmp_path / "tom"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(empty), "migrate-to-postgres",
         postgres_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Fant ingen database" in done.stderr
    with postgres.connect(postgres_url) as pg:
        assert postgres.tables(pg) == [], "nothing was written to the target"


def test_a_value_postgresql_cannot_hold_names_its_table_and_saves_nothing(
    installation, postgres_url
):
    with database.session(installation.db_path) as db, write(db):
        db.execute("UPDATE audit_log SET detail = ? WHERE id = 1", ["før\x00etter"])
    refused = ktl(installation, "migrate-to-postgres", postgres_url)
    assert refused.returncode == 2, refused.stdout
    assert "Tabellen «audit_log» har en verdi PostgreSQL ikke kan lagre" in refused.stderr
    assert "Traceback" not in refused.stderr
    with postgres.connect(postgres_url) as pg:
        for table in ("users", "talks", "audit_log", "search_segments"):
            assert pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_a_database_of_another_schema_version_is_refused(installation, postgres_url):
    import sqlite3

    # A raw connection: only a test may set the version by hand (an installation that was
    # not upgraded by this release's `ktl serve`).
    conn = sqlite3.connect(installation.db_path)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    refused = ktl(installation, "migrate-to-postgres", postgres_url)
    assert refused.returncode == 2
    assert "skjemaversjon 3" in refused.stderr and "ktl serve" in refused.stderr
