"""ktl backup | restore | doctor (added to the parser by server.cli)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from server.core.config import Settings
from server.ops import backup, doctor

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_commands(sub: argparse._SubParsersAction, settings_of: SettingsOf) -> None:
    take = sub.add_parser("backup", help="ta en sikkerhetskopi mens tjenesten kjører")
    take.add_argument("dest", help="ny mappe for sikkerhetskopien (må ikke finnes)")
    take.add_argument("--with-media", action="store_true", help="ta med media/ (video)")
    take.set_defaults(func=lambda args: cmd_backup(args, settings_of(args)))
    back = sub.add_parser("restore", help="gjenopprett en sikkerhetskopi til en tom datamappe")
    back.add_argument("source", help="mappen «ktl backup» laget")
    back.set_defaults(func=lambda args: cmd_restore(args, settings_of(args)))
    check = sub.add_parser("doctor", help="sjekk driftssettingen og si hva som må rettes")
    check.set_defaults(func=lambda args: cmd_doctor(args, settings_of(args)))
    to_pg = sub.add_parser(
        "migrate-to-postgres", help="kopier databasen til en tom PostgreSQL-database"
    )
    to_pg.add_argument("url", help="postgresql://bruker:passord@vert:5432/database")
    to_pg.set_defaults(func=lambda args: cmd_migrate_to_postgres(args, settings_of(args)))


def _size(count: int) -> str:
    from server.core.units import format_size

    return format_size(count)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    return _report(
        "Sikkerhetskopien er i",
        lambda: backup.backup(settings, Path(args.dest), with_media=args.with_media),
    )


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    return _report("Gjenopprettet til", lambda: backup.restore(settings, Path(args.source)))


def _report(lead: str, action: Callable[[], backup.Summary]) -> int:
    """Run a backup or restore; say what it wrote, or why not (exit status 2)."""
    try:
        done = action()
    except backup.BackupError as exc:
        print(f"Feil: {exc}", file=sys.stderr)
        return 2
    print(
        f"{lead} {done.path}: {done.files} filer, {_size(done.bytes)}, "
        f"skjemaversjon {done.schema_version}, på {done.seconds:.1f} s."
    )
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    results = doctor.run(settings)
    print("\n".join(doctor.format_report(results)))
    return 1 if doctor.has_errors(results) else 0


def cmd_migrate_to_postgres(args: argparse.Namespace, settings: Settings) -> int:
    from server.ops import to_postgres

    print(f"Kopierer {settings.db_path} til PostgreSQL …", flush=True)
    try:
        report = to_postgres.migrate_to_postgres(settings, args.url)
    except to_postgres.MigrateError as exc:
        print(f"Feil: {exc}", file=sys.stderr)
        return 2
    print("\n".join(to_postgres.summary(report, args.url)))
    return 0
