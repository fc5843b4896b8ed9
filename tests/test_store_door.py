"""The one door to the data: only server/store opens SQLite or PostgreSQL (psycopg) or ends
a transaction, and its write unit begins at once, commits or rolls back as a whole, and
joins an open one, on both engines."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import pytest

from server.core.config import Settings
from server.store import PgStore, Store, is_postgres, open_store, write
from server.store import db as database
from server.web.app import create_app

SERVER = Path(__file__).resolve().parents[1] / "server"
STORE = SERVER / "store"
FORBIDDEN_CALLS = {"commit", "rollback", "executescript"}
TRANSACTION_SQL = ("BEGIN", "COMMIT", "ROLLBACK", "END", "SAVEPOINT", "RELEASE")
DRIVERS = ("psycopg", "psycopg_pool", "psycopg2")  # PostgreSQL's: only server/store uses them


def _leading_sql(node: ast.Call) -> str:
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value.lstrip().split(" ", 1)[0].upper().rstrip(";")
    return ""


def door_breaches(source: str, name: str) -> list[str]:
    """Each place in `source` that opens SQLite or PostgreSQL or controls a transaction
    itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if driver := _driver_imported(node):
            found.append(f"{where} import {driver}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, ast.unparse(node.func.value)
            if name == "connect" and owner == "sqlite3":
                found.append(f"{where} sqlite3.connect")
            elif name in FORBIDDEN_CALLS:
                found.append(f"{where} .{name}()")
            elif name == "execute" and _leading_sql(node) in TRANSACTION_SQL:
                found.append(f"{where} {_leading_sql(node)} by hand")
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Attribute) and expr.attr == "conn":
                    found.append(f"{where} with {ast.unparse(expr)}")
    return sorted(found, key=lambda b: int(b.split(" ", 1)[0].rsplit(":", 1)[1]))


def _driver_imported(node: ast.AST) -> str:
    """The PostgreSQL driver `node` imports (`import psycopg`, `from psycopg_pool import …`)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module]
    else:
        return ""
    found = [n for n in names if n.split(".")[0] in DRIVERS]
    return found[0] if found else ""


def test_nothing_outside_the_store_opens_sqlite_or_commits():
    outside = [p for p in sorted(SERVER.rglob("*.py")) if STORE not in p.parents]
    assert len(outside) > 50, "the scan sees the server package"
    breaches = [
        b
        for path in outside
        for b in door_breaches(path.read_text(encoding="utf-8"), str(path.relative_to(SERVER)))
    ]
    assert breaches == [], "use a Store connection and server.store.write(db):\n" + "\n".join(
        breaches
    )


def test_the_scan_finds_each_way_round_the_door():
    sample = (
        "import sqlite3\n"
        "def f(db):\n"
        "    conn = sqlite3.connect('x')\n"
        "    with db.conn:\n"
        "        db.execute('UPDATE t SET a = 1')\n"
        "    db.conn.commit()\n"
        "    db.conn.rollback()\n"
        "    db.conn.executescript('SELECT 1')\n"
        "    db.execute('BEGIN IMMEDIATE')\n"
        "    import psycopg\n"
        "    from psycopg_pool import ConnectionPool\n"
    )
    breaches = door_breaches(sample, "sample.py")
    kinds = [b.split(" ", 1)[1] for b in breaches]
    assert kinds == [
        "sqlite3.connect", "with db.conn", ".commit()", ".rollback()", ".executescript()",
        "BEGIN by hand", "import psycopg", "import psycopg_pool",
    ]  # fmt: skip


@pytest.fixture
def store(settings: Settings):
    store = open_store(settings)
    with store.write() as db:
        key = "id bigint GENERATED ALWAYS AS IDENTITY" if is_postgres(db) else "id INTEGER"
        db.execute(f"CREATE TABLE door_rows ({key} PRIMARY KEY, text TEXT NOT NULL)")
    yield store
    store.close()


def _count(settings: Settings) -> int:
    """Rows as another connection sees them (what is committed)."""
    with database.session(settings) as db:
        return db.execute("SELECT count(*) FROM door_rows").fetchone()[0]


def _insert(db, *texts: str) -> None:
    for text in texts:
        db.execute("INSERT INTO door_rows (text) VALUES (?)", [text])


def test_a_write_unit_commits_as_a_whole(store, settings):
    with store.read() as db, write(db):
        _insert(db, "en")
        db.execute("INSERT INTO door_rows (text) VALUES ('to')")
        assert _count(settings) == 0, "nothing is visible before the unit ends"
    assert _count(settings) == 2


def test_an_error_rolls_the_whole_unit_back(store, settings):
    with pytest.raises(ValueError), store.read() as db, write(db):
        _insert(db, "en")
        db.conn.executemany("INSERT INTO door_rows (text) VALUES (?)", [["to"], ["tre"]])
        raise ValueError("halfway")
    assert _count(settings) == 0
    with store.read() as db:
        assert not db.conn.in_transaction


def test_a_nested_unit_joins_the_open_one(store, settings):
    with store.write() as db:
        _insert(db, "ytre")
        with write(db):
            _insert(db, "indre")
        assert _count(settings) == 0, "the inner unit commits with the outer one"
    assert _count(settings) == 2


def test_a_failed_nested_unit_undoes_its_part_and_the_error_goes_on(store, settings):
    with pytest.raises(ValueError), store.write() as db:
        _insert(db, "ytre")
        with pytest.raises(KeyError), write(db):
            _insert(db, "indre")
            raise KeyError("inner")
        assert [r[0] for r in db.execute("SELECT text FROM door_rows")] == ["ytre"]
        raise ValueError("outer")
    assert _count(settings) == 0, "the outer error rolls back everything"


# SQLite's own: BEGIN IMMEDIATE and its one writer at a time (PostgreSQL locks rows).
@pytest.mark.sqlite_only
def test_a_write_unit_takes_the_write_lock_at_once(store, settings):
    """BEGIN IMMEDIATE: a second writer is refused while a unit is open, even before the
    unit has written anything (so no unit fails half-way for want of the lock)."""
    other = sqlite3.connect(str(settings.db_path), timeout=0, isolation_level=None)
    try:
        with store.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the unit is over
        other.execute("ROLLBACK")
    finally:
        other.close()


def _connection(db):
    """The driver's connection under what the store lends (PgDatabase wraps one per loan)."""
    return db.raw if is_postgres(db) else db


def test_connections_are_lent_again_not_reopened(store):
    with store.read() as first:
        pass
    with store.read() as second:
        assert _connection(second) is _connection(first)
        if not is_postgres(second):
            assert second.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert second.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_unit_left_open_is_not_lent_on(store, settings):
    with store.read() as db:
        # by hand, as domain code must not: the store cleans up
        db.execute("BEGIN" if is_postgres(db) else "BEGIN IMMEDIATE")
        db.execute("INSERT INTO door_rows (text) VALUES ('glemt')")
    with store.read() as db:
        assert not db.conn.in_transaction
    assert _count(settings) == 0


def test_threads_each_borrow_their_own_connection(store, settings):
    seen, barrier = [], threading.Barrier(4)

    def work(n: int) -> None:
        with store.read() as db:
            barrier.wait(timeout=30)  # all four hold a connection at the same time
            seen.append(id(db))
            with write(db):
                _insert(db, f"tråd {n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4
    assert _count(settings) == 4


def test_the_app_has_one_store(settings):
    app = create_app(settings)
    if settings.database_url:
        assert isinstance(app.state.store, PgStore)
        assert app.state.store.url == settings.database_url
    else:
        assert isinstance(app.state.store, Store)
        assert app.state.store.path == settings.db_path


def test_migrations_live_in_the_store():
    """The store imports nothing above it, only server.core below it (the search schema is
    among its migrations)."""
    for path in STORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
        ] + [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        above = [
            m
            for m in imported
            if m.startswith("server.") and not m.startswith(("server.store", "server.core"))
        ]
        assert above == [], f"{path.name} imports {above}"
    assert any("search_segments_fts" in m for m in database.all_migrations())


def test_a_page_whose_client_has_gone_is_not_built(settings):
    """Under load pages wait their turn; one whose client closed the connection meanwhile
    is answered 499 without being built (nobody would read it)."""
    import anyio

    app = create_app(settings)
    app.state.store.init()
    sent: list[dict] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/arkiv", "raw_path": b"/arkiv", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver"), (b"accept", b"text/html")],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {},
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def call(app=app) -> None:
        await app(scope, receive, send)

    anyio.run(call)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 499
