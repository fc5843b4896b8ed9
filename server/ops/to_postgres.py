"""`ktl migrate-to-postgres URL`: copy this installation's SQLite database into an empty
PostgreSQL database and show the rows per table (server.store.pg_copy does the copying:
one read transaction on SQLite, one write transaction on PostgreSQL, counts verified).

Media, transcripts' files and the Whisper models stay where they are: only the database
moves. The server may keep running while it copies; what it writes after the copy began
is not in the copy, so stop it (or take it out of service) before switching over.
"""

from __future__ import annotations

from server.core.config import Settings
from server.store.pg_copy import CopyReport, copy_to_postgres
from server.store.postgres import PostgresError, redacted


class MigrateError(Exception):
    """The copy cannot be made; the message says why in Norwegian."""


def migrate_to_postgres(settings: Settings, url: str) -> CopyReport:
    if not settings.db_path.is_file():
        raise MigrateError(
            f"Fant ingen database i {settings.db_path}. Oppgi datamappen med --data-dir "
            "(eller KTL_DATA_DIR)."
        )
    try:
        return copy_to_postgres(settings.db_path, url)
    except PostgresError as exc:
        raise MigrateError(str(exc)) from exc


def summary(report: CopyReport, url: str) -> list[str]:
    """The lines the command prints after a copy: rows per table, then the total."""
    width = max((len(table) for table in report.counts), default=0)
    lines = [f"  {table:<{width}}  {count:>9}" for table, count in sorted(report.counts.items())]
    total = sum(report.counts.values())
    lines.append(
        f"Kopierte {total} rader i {len(report.counts)} tabeller til {redacted(url)} på "
        f"{report.seconds:.1f} s (skjemaversjon {report.postgres_version}); antallet i hver "
        "tabell er kontrollert."
    )
    return lines
