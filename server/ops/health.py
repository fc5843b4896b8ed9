"""/readyz: what this process needs to do its work, each check a sentence when it fails."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from server.core.config import Settings
from server.ops import diskspace, stats
from server.pipeline import transcribe
from server.store import DatabaseError, PgStore, Store, postgres


@dataclass(frozen=True)
class Failure:
    check: str
    message: str


def _database(settings: Settings, store: Store | PgStore) -> str | None:
    try:
        with store.read() as db:
            stats.prove_writable(db)
    except DatabaseError as exc:
        return f"Databasen {_where(settings)} kan ikke skrives: {exc}"
    return None


def _where(settings: Settings) -> str:
    """The database as a person finds it: the SQLite file, or PostgreSQL's address without
    its password."""
    if settings.database_url:
        return f"PostgreSQL {postgres.redacted(settings.database_url)}"
    return str(settings.db_path)


def _model(settings: Settings, store: Store | PgStore) -> str | None:
    try:
        path = transcribe.locate_model(settings)
    except transcribe.ModelError as exc:
        return str(exc)
    if not (path / "model.bin").is_file():
        return f"Whisper-modellen mangler i {path}: kjør «ktl model install»."
    return None


def _ffmpeg(settings: Settings, store: Store | PgStore) -> str | None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    return f"Mangler {', '.join(missing)}: installer Debian-pakken ffmpeg." if missing else None


def _disk(settings: Settings, store: Store | PgStore) -> str | None:
    return diskspace.shortage(settings)


CHECKS = {"database": _database, "model": _model, "ffmpeg": _ffmpeg, "disk": _disk}


def failures(settings: Settings, store: Store | PgStore) -> list[Failure]:
    """The failing checks; the database is proved writable through `store`, the app's own
    (its pooled connections, not a new one per call)."""
    found = []
    for name, check in CHECKS.items():
        message = check(settings, store)
        if message is not None:
            found.append(Failure(name, message))
    return found
