"""A database made by the last release (3f1ed13; tests/fixtures/release_3f1ed13.sql, made by
tests/fixtures/build_release_db.py with that release's own code) is upgraded by this
version's migrations with nothing lost, and the app works on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.core.config import load_settings
from server.store import db as database
from server.web.app import create_app
from tests.webclient import login

FIXTURE = Path(__file__).parent / "fixtures" / "release_3f1ed13.sql"
RELEASE_VERSION = 6  # migrations the release had


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_fts_%' ORDER BY name"
    )
    return [row[0] for row in rows]


def _contents(conn: sqlite3.Connection, columns: dict[str, list[str]]) -> dict[str, list]:
    found = {}
    for table, names in columns.items():
        quoted = ", ".join(f'"{n}"' for n in names)
        found[table] = conn.execute(f"SELECT {quoted} FROM {table} ORDER BY rowid").fetchall()
    return found


@pytest.fixture
def release_db(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "ktl.db"
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text())
    conn.close()
    return path


def test_the_release_database_is_upgraded_with_nothing_lost(release_db: Path):
    conn = sqlite3.connect(release_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == RELEASE_VERSION
    columns = {
        table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        for table in _tables(conn)
    }
    before = _contents(conn, columns)
    conn.close()
    assert before["attempts"] and before["transcript_versions"] and before["audit_log"]
    assert before["watch_progress"] and before["users"] and before["search_segments"]

    database.init(release_db)

    conn = sqlite3.connect(release_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(database.all_migrations())
    assert _contents(conn, columns) == before  # every old row, every old column, unchanged
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_the_app_works_on_the_upgraded_database(release_db: Path):
    settings = load_settings(env={}, data_dir=release_db.parent).replace(embedded_worker=False)
    settings.ensure_dirs()
    database.init(settings.db_path)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert login(client, "kari@kommune.no", "hemmelig-passord-2").status_code == 303
        hits = client.get("/sok", params={"q": "fosterhjemstjeneste"})
        modules = client.get("/mine-moduler")
    assert hits.status_code == 200 and "Barnevernet forklart" in hits.text
    assert modules.status_code == 200 and "Barnevernet forklart" in modules.text
