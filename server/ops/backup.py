"""`ktl backup` and `ktl restore`: a consistent copy of a running installation.

A backup is a folder: `ktl.db` (SQLite's online backup API, so a server and a worker may
write meanwhile), `transcripts/`, optionally `media/`, `secret.key` when there is one, and
`manifest.json` listing every file with its size and sha256 and the schema version. The
database is copied first and the files after it, so every transcript the database names
is there. It is written to a hidden folder beside DEST and renamed into place at the end:
there is never half a backup under DEST. Scratch folders of running jobs (`.work-*`) and
unfinished uploads (`media/.uploads/`) are left out.

A restore goes into an empty data folder only: every file is copied into a hidden folder
beside it and checked against the manifest; only when all match is it renamed into place.
Then the database is upgraded to this version's schema (a backup of an older release).

With PostgreSQL (KTL_DATABASE_URL) both refuse, with a sentence pointing to pg_dump and
pg_restore: the database is not a file here to copy, and files copied without it would
not be the consistent pair a backup promises (transcripts named by rows of another time).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server.core.config import Settings
from server.core.paths import DB_NAME, MEDIA, SECRET_NAME, TRANSCRIPTS, UPLOADS
from server.store import db as database

MANIFEST = "manifest.json"
FORMAT = 1
SKIPPED_DIRS = frozenset({UPLOADS})  # unfinished uploads
SCRATCH_PREFIX = ".work-"  # a running job's scratch folder (server.pipeline.worker.SCRATCH)
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do (Norwegian)."""


ON_POSTGRES = (
    "Databasen er PostgreSQL (KTL_DATABASE_URL), og «ktl {command}» gjelder bare den innebygde "
    "SQLite-databasen. Ta sikkerhetskopi av PostgreSQL med pg_dump "
    '(pg_dump -Fc -f ktl.dump "$KTL_DATABASE_URL") og gjenopprett med pg_restore, og kopier '
    "datamappen {data_dir} (transcripts/, media/ og secret.key) med vanlige filverktøy rett etter."
)


def _refuse_postgres(settings: Settings, command: str) -> None:
    if settings.database_url:
        raise BackupError(ON_POSTGRES.format(command=command, data_dir=settings.data_dir))


@dataclass(frozen=True)
class Summary:
    path: Path
    files: int
    bytes: int
    seconds: float
    schema_version: int


def sha256_copy(source: Path, dest: Path | None) -> tuple[int, str]:
    """Size and sha256 of `source`, copying it to `dest` on the way when given."""
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, dest.open("xb") if dest else contextlib.nullcontext() as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    if dest is not None:
        shutil.copystat(source, dest)
    return size, digest.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    """Files under root, sorted, without scratch folders or unfinished uploads."""
    if not root.is_dir():
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(SCRATCH_PREFIX)
        )
        for name in sorted(names):
            yield Path(folder) / name


def _link_or_copy(source: Path, dest: Path) -> tuple[int, str]:
    """Media files are written once and replaced by rename, so a hard link is a safe copy."""
    try:
        os.link(source, dest)
    except OSError:
        return sha256_copy(source, dest)
    return sha256_copy(dest, None)


def _copy_tree(root: Path, into: Path, name: str, link: bool) -> list[dict]:
    entries = []
    for source in _files(root):
        relative = Path(name) / source.relative_to(root)
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            size, digest = _link_or_copy(source, target) if link else sha256_copy(source, target)
        except FileNotFoundError:
            continue  # removed while we walked (a replaced folder, an expired upload)
        entries.append({"path": relative.as_posix(), "size": size, "sha256": digest})
    return entries


def _staging(dest: Path, kind: str) -> Path:
    stage = dest.parent / f".{dest.name}.{kind}-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def backup(settings: Settings, dest: Path, with_media: bool = False) -> Summary:
    """Write a backup of the installation to the new folder `dest`."""
    started = time.monotonic()
    _refuse_postgres(settings, "backup")
    dest = dest.resolve()
    if dest.exists():
        raise BackupError(f"{dest} finnes allerede. Velg en ny mappe for sikkerhetskopien.")
    if not settings.db_path.is_file():
        raise BackupError(f"Fant ingen database i {settings.data_dir}. Sjekk KTL_DATA_DIR.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = _staging(dest, "partial")
    try:
        version = database.snapshot(settings.db_path, stage / DB_NAME)
        files = [_entry(stage, DB_NAME)]
        secret = settings.data_dir / SECRET_NAME
        if secret.is_file():
            size, digest = sha256_copy(secret, stage / SECRET_NAME)
            files.append({"path": SECRET_NAME, "size": size, "sha256": digest})
        files += _copy_tree(settings.transcripts_dir, stage, TRANSCRIPTS, link=False)
        if with_media:
            files += _copy_tree(settings.media_dir, stage, MEDIA, link=True)
        manifest = _manifest(version, with_media, files)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        _fsync_tree(stage)
        stage.rename(dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    total = sum(f["size"] for f in files)
    return Summary(dest, len(files), total, time.monotonic() - started, version)


def _entry(stage: Path, relative: str) -> dict:
    size, digest = sha256_copy(stage / relative, None)
    return {"path": relative, "size": size, "sha256": digest}


def _manifest(version: int, with_media: bool, files: list[dict]) -> dict:
    return {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "schema_version": version,
        "with_media": with_media,
        "files": files,
    }


def _fsync_tree(root: Path) -> None:
    """The backup is on disk before its name says it is complete."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def read_manifest(source: Path) -> dict:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{source} er ikke en sikkerhetskopi fra «ktl backup» (mangler {MANIFEST})."
        )
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        version = int(manifest["schema_version"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(
            f"{path} er skadet og kan ikke leses. Bruk en annen sikkerhetskopi."
        ) from None
    if manifest.get("format") != FORMAT or not isinstance(files, list):
        raise BackupError(f"{path} har et format denne versjonen ikke kjenner.")
    if version > len(database.all_migrations()):
        raise BackupError(
            "Sikkerhetskopien er laget av en nyere versjon av Kunnskap til lunsj. "
            "Oppgrader programmet før du gjenoppretter."
        )
    return manifest


def _safe_relative(path: str) -> Path:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise BackupError(
            f"Manifestet nevner en ugyldig sti: {path!r}. Bruk en annen sikkerhetskopi."
        )
    return relative


def _check_empty(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(
            f"Datamappen {data_dir} er ikke tom. Gjenopprett til en tom eller ny mappe "
            "(KTL_DATA_DIR eller --data-dir), så blir ingenting overskrevet."
        )


def restore(settings: Settings, source: Path) -> Summary:
    """Restore the backup in `source` into the (empty) data folder of `settings`."""
    _refuse_postgres(settings, "restore")
    started = time.monotonic()
    source, data_dir = source.resolve(), settings.data_dir.resolve()
    manifest = read_manifest(source)
    _check_empty(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = _staging(data_dir, "restoring")
    try:
        total = sum(_restore_file(source, stage, entry) for entry in manifest["files"])
        if (stage / SECRET_NAME).is_file():
            (stage / SECRET_NAME).chmod(0o600)
        _check_empty(data_dir)  # nobody wrote there meanwhile
        with contextlib.suppress(FileNotFoundError):
            data_dir.rmdir()
        stage.rename(data_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    settings.ensure_dirs()
    database.init(settings.db_path)  # upgrades a backup made by an older release
    version = database.schema_version(settings.db_path)
    files = len(manifest["files"])
    return Summary(data_dir, files, total, time.monotonic() - started, version)


def _restore_file(source: Path, stage: Path, entry: dict) -> int:
    relative = _safe_relative(str(entry.get("path", "")))
    origin, target = source / relative, stage / relative
    if not origin.is_file():
        raise BackupError(f"{relative} mangler i sikkerhetskopien. Bruk en annen sikkerhetskopi.")
    target.parent.mkdir(parents=True, exist_ok=True)
    size, digest = sha256_copy(origin, target)
    if size != entry.get("size") or digest != entry.get("sha256"):
        raise BackupError(
            f"{relative} stemmer ikke med sjekksummen i manifestet: sikkerhetskopien er "
            "skadet. Ingenting er gjenopprettet; bruk en annen sikkerhetskopi."
        )
    return size
