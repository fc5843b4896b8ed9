"""The throwaway PostgreSQL cluster the tests use (tests/pgserver.py): each database it
hands out is fresh and apart from the others, the server runs with the settings that make
it quick, and stopping it leaves nothing behind (no folder, no process on the port)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pgserver import PgServer


def test_databases_are_fresh_and_apart_and_nothing_is_left_after_stop():
    with PgServer() as server:
        first, second = server.create_database(), server.create_database()
        assert first != second
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute("CREATE TABLE merke (id int)")
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT to_regclass('merke')").fetchone() == (None,)
        server.drop_database(first)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(first, connect_timeout=5)
        folder, port = server.folder, server.port
    assert not folder.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server is stopped"


def test_the_fixture_gives_each_test_its_own_empty_database(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_a_cluster_left_by_a_killed_run_is_stopped_and_removed_by_the_next():
    script = (
        "from tests.pgserver import PgServer\n"
        "server = PgServer().start()\n"
        "print(server.folder, server.port, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        folder, port = run.stdout.readline().split()
    finally:
        run.kill()  # as a timeout or Ctrl-\\ would: no teardown runs
        run.wait()
        run.stdout.close()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(port))) == 0, "the orphan still serves"
    with PgServer():
        assert not Path(folder).exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(port))) != 0, "the orphan is stopped"
