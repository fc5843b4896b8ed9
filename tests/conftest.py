from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.core.config import Settings, load_settings
from server.store import db as database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data folder; the model cache is the one the install step filled."""
    base = load_settings(env={}, data_dir=tmp_path / "data")
    base = base.replace(embedded_worker=False, job_lease_seconds=30, worker_poll_seconds=0.2)
    base.ensure_dirs()
    database.init(base.db_path)
    return base


@pytest.fixture
def db(settings: Settings):
    with database.session(settings.db_path) as conn:
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

    return Worker(settings, engine_factory=lambda: engine)
