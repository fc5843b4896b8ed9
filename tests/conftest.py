from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.core.config import Settings, load_settings
from server.store import db as database
from server.web.app import create_app
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.webclient import login, make_user

# Every test that takes `settings` runs on both engines: SQLite (the embedded default) and
# PostgreSQL (KTL_DATABASE_URL; a fresh database of its own in a throwaway cluster started by
# tests/pgserver.py). Tests through a browser, tests marked `sqlite_only` (what exists only
# on SQLite: its files, WAL, backups of the file) and heavy media checks marked
# `engine_independent` (container formats, ffprobe refusals, twenty kills) run on SQLite only.
# KTL_TEST_DATABASE=sqlite (or postgres) runs just one engine, for a quicker run by hand.
ENGINES = ("sqlite", "postgres")
CHOSEN = os.environ.get("KTL_TEST_DATABASE", "")


@pytest.fixture(params=[e for e in ENGINES if CHOSEN in ("", e)])
def database_engine(request) -> str:
    """The engine this test's settings use (the parameter in its id: [sqlite] or [postgres])."""
    return request.param


def pytest_collection_modifyitems(config, items):
    """Leave out the PostgreSQL run of browser and sqlite_only tests."""
    keep, drop = [], []
    for item in items:
        engine = getattr(item, "callspec", None) and item.callspec.params.get("database_engine")
        sqlite_only = any(
            item.get_closest_marker(name)
            for name in ("browser", "sqlite_only", "engine_independent")
        )
        (drop if engine == "postgres" and sqlite_only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def settings(tmp_path: Path, request, database_engine: str) -> Settings:
    """Settings on a fresh data folder (and, on PostgreSQL, a fresh database); the model
    cache is the one the install step filled."""
    base = load_settings(env={}, data_dir=tmp_path / "data")
    base = base.replace(embedded_worker=False, job_lease_seconds=30, worker_poll_seconds=0.2)
    if database_engine == "postgres":
        base = base.replace(database_url=request.getfixturevalue("postgres_schema_url"))
    base.ensure_dirs()
    database.init(base)
    return base


@pytest.fixture
def app(settings: Settings):
    """The app as it ships (middleware, guard), on the test's data folder."""
    return create_app(settings)


@pytest.fixture
def client(app):
    """A guest's TestClient (redirects are not followed, so tests see them)."""
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def signed_in(app, settings: Settings):
    """`signed_in("organiser")`: a TestClient signed in as a new user with that role (an
    email may be given for a second user of the same role); closed at the end of the test."""
    with contextlib.ExitStack() as stack:

        def sign_in(role: str, email: str | None = None) -> TestClient:
            user = make_user(settings, role, email)
            test_client = stack.enter_context(TestClient(app, follow_redirects=False))
            assert login(test_client, user.email).status_code == 303
            test_client.user = user
            return test_client

        yield sign_in


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, one per test module."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A page as a Norwegian browser (Accept-Language nb); `page.console_errors` collects
    the console's errors."""
    context = browser.new_context(locale="nb-NO")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture
def db(settings: Settings):
    with database.session(settings) as conn:
        yield conn


def need(*tools: str) -> None:
    """Fail (not skip) when a real component is missing: CI installs them all."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run bash scripts/install.sh --dev")


@pytest.fixture(scope="session")
def engine():
    """The real faster-whisper engine with the packaged base model, loaded once per run."""
    from server.pipeline.transcribe import FasterWhisperEngine

    return FasterWhisperEngine(load_settings(env={}))


@pytest.fixture
def worker(settings: Settings, engine):
    from server.pipeline.worker import Worker

    worker = Worker(settings, engine_factory=lambda: engine)
    yield worker
    worker.store.close()  # its own store: on PostgreSQL a pool with open connections


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster (tests/pgserver.py), one per test process, started
    the first time a test asks for PostgreSQL and removed at the end of the run."""
    from tests.pgserver import PgServer

    with PgServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a fresh, empty PostgreSQL database of this test's own (dropped after)."""
    with postgres_server.database() as url:
        yield url


@pytest.fixture
def postgres_schema_url(postgres_server):
    """The URL of a fresh PostgreSQL database of this test's own with the whole schema."""
    with postgres_server.migrated_database() as url:
        yield url
