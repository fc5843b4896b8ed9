"""Resumable uploads (tus 1.0) as domain code: an upload store with no HTTP in it.

An upload is a row in the `uploads` table plus `<uploads_dir>/<id>.part`. Bytes are
appended chunk by chunk under an exclusive lock (flock) on the part file, so two requests
never write the same upload, and the row's offset only moves with a conditional UPDATE.
Whatever arrived before a broken connection is kept, so the client can resume from it.

A completed upload is handed over with `take_completed()`; the caller probes the file,
moves it into place (same file system, atomic) and then calls `discard()`, or calls
`terminate()` to leave nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import sqlite_utils
from anyio import to_thread

from server.core.config import Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.core.units import format_size
from server.ops import diskspace
from server.store import write

# Messages are msgids (values filled in); the routes translate them for the request.
GONE = N_("Opplastingen finnes ikke lenger. Velg filen på nytt for å starte en ny opplasting.")
EXPIRED = N_(
    "Opplastingen har stått stille for lenge og er slettet. "
    "Velg filen på nytt for å starte en ny opplasting."
)
TOO_LONG = N_(
    "Det kom mer data enn filstørrelsen som ble oppgitt da opplastingen startet. "
    "Velg filen på nytt for å starte en ny opplasting."
)
BAD_LENGTH = N_("Filstørrelsen mangler eller er ugyldig. Last inn siden på nytt og prøv igjen.")
BUSY = N_(
    "Denne filen lastes allerede opp i en annen forespørsel. "
    "Vent til den er ferdig, eller lukk den andre fanen og prøv igjen."
)
NO_SPACE = N_("Serveren har ikke nok ledig lagringsplass til filen. Kontakt en administrator.")
NOT_COMPLETE = N_("Opplastingen er ikke ferdig ennå. Vent til hele filen er lastet opp.")
TOO_BIG = N_("Filen er større enn grensen på %(limit)s. Velg en mindre fil.")
CONFLICT = N_(
    "Opplastingen var ute av takt med serveren, som har mottatt %(offset)s byte. "
    "Prøv igjen, så fortsetter opplastingen der den stoppet."
)

WRITE_BATCH = 1 << 20  # bytes of a PATCH body gathered before each write to the file
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_FULL_DISK = {errno.ENOSPC, errno.EDQUOT}


class UploadError(UserError):
    """An upload request that cannot be honoured: an HTTP status and a Norwegian message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Upload:
    id: str
    length: int
    offset: int
    metadata: dict[str, str]
    created_at: float
    expires_at: float

    @property
    def complete(self) -> bool:
        return self.offset >= self.length

    def expired(self, now: float | None = None) -> bool:
        return not self.complete and self.expires_at <= _now(now)


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _ttl(settings: Settings) -> float:
    return settings.upload_expiry_hours * 3600.0


def too_big(settings: Settings) -> UploadError:
    limit = format_size(settings.max_upload_bytes)
    return UploadError(413, TOO_BIG % {"limit": limit})


def valid_id(upload_id: str) -> bool:
    return bool(_ID.fullmatch(upload_id))


def part_path(settings: Settings, upload_id: str) -> Path:
    """Where the bytes of an upload live; an id that could escape the folder is refused."""
    if not valid_id(upload_id):
        raise UploadError(404, GONE)
    return settings.uploads_dir / f"{upload_id}.part"


def _from_row(row: sqlite3.Row) -> Upload:
    return Upload(**{**dict(row), "metadata": json.loads(row["metadata"])})


def create(
    db: sqlite_utils.Database,
    settings: Settings,
    length: int,
    metadata: dict[str, str] | None = None,
    now: float | None = None,
) -> Upload:
    """Start an upload of `length` bytes: an empty part file, then its row."""
    if length < 0:
        raise UploadError(400, BAD_LENGTH)
    if length > settings.max_upload_bytes:
        raise too_big(settings)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    if length > shutil.disk_usage(settings.uploads_dir).free:
        raise UploadError(507, NO_SPACE)
    if (low := diskspace.shortage(settings, length)) is not None:
        raise UploadError(507, low)  # KTL_MIN_FREE_DISK_MB: refused before the disk fills
    now = _now(now)
    meta = dict(metadata or {})
    upload = Upload(secrets.token_urlsafe(24), length, 0, meta, now, now + _ttl(settings))
    # The file first: a crash in between leaves an orphan file that expire() removes.
    part_path(settings, upload.id).touch(exist_ok=False)
    with write(db):
        db.execute(
            'INSERT INTO uploads (id, length, "offset", metadata, created_at, expires_at)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            [upload.id, length, 0, json.dumps(meta), now, upload.expires_at],
        )
    return upload


def get(db: sqlite_utils.Database, upload_id: str) -> Upload | None:
    if not valid_id(upload_id):
        return None
    row = db.execute("SELECT * FROM uploads WHERE id = ?", [upload_id]).fetchone()
    return None if row is None else _from_row(row)


def require(db: sqlite_utils.Database, upload_id: str, now: float | None = None) -> Upload:
    """The upload, or UploadError 404 (unknown) / 410 (expired before it was finished)."""
    upload = get(db, upload_id)
    if upload is None:
        raise UploadError(404, GONE)
    if upload.expired(now):
        raise UploadError(410, EXPIRED)
    return upload


@contextlib.contextmanager
def _locked(path: Path, missing_ok: bool = False) -> Iterator[int | None]:
    """An fd of the part file holding its exclusive lock; 423 if someone else holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        if not missing_ok:
            raise UploadError(404, GONE) from None
        fd = None
    if fd is None:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadError(423, BUSY) from None
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _reconcile(db: sqlite_utils.Database, upload_id: str, fd: int) -> int:
    """Make the file and the row agree (after a crash) and return the offset they share."""
    upload = get(db, upload_id)
    if upload is None:
        raise UploadError(404, GONE)
    size = os.fstat(fd).st_size
    if size == upload.offset:
        return size
    agreed = min(size, upload.offset)
    os.ftruncate(fd, agreed)
    with write(db):
        db.execute('UPDATE uploads SET "offset" = ? WHERE id = ?', [agreed, upload_id])
    return agreed


class _PartWriter:
    """Writes a stream at a position, counting exactly what reached the file."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        self.fd, self.start, self.position, self.length = fd, start, start, length
        os.lseek(fd, start, os.SEEK_SET)

    async def receive(self, chunks: AsyncIterable[bytes] | Iterable[bytes]) -> None:
        if not isinstance(chunks, AsyncIterable):
            for chunk in chunks:
                self.write(chunk)
            return
        batch = bytearray()  # written in a thread a batch at a time: no disk I/O on the loop
        try:
            async for chunk in chunks:
                batch += chunk
                if len(batch) >= WRITE_BATCH:
                    await self._flush(batch)
        finally:
            with anyio.CancelScope(shield=True):  # a broken stream keeps what arrived
                await self._flush(batch)

    async def _flush(self, batch: bytearray) -> None:
        if batch:
            data = bytes(batch)
            batch.clear()
            await to_thread.run_sync(self.write, data)

    def write(self, chunk: bytes) -> None:
        if self.position + len(chunk) > self.length:
            self.position = self.start  # refuse the whole request, keep nothing of it
            raise UploadError(413, TOO_LONG)
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as exc:
                if exc.errno in _FULL_DISK:
                    raise UploadError(507, NO_SPACE) from exc
                raise
            view = view[written:]
            self.position += written


def _commit(
    db: sqlite_utils.Database,
    settings: Settings,
    upload_id: str,
    writer: _PartWriter,
    now: float | None,
) -> bool:
    os.ftruncate(writer.fd, writer.position)  # drops a refused or torn tail
    os.fsync(writer.fd)
    with write(db):
        cursor = db.execute(
            'UPDATE uploads SET "offset" = ?, expires_at = ? WHERE id = ? AND "offset" = ?',
            [writer.position, _now(now) + _ttl(settings), upload_id, writer.start],
        )
    return cursor.rowcount == 1


async def append(
    db: sqlite_utils.Database,
    settings: Settings,
    upload: Upload,
    offset: int,
    chunks: AsyncIterable[bytes] | Iterable[bytes],
    now: float | None = None,
) -> int:
    """Write `chunks` at `offset` in constant memory; returns the new offset.

    409 if `offset` is not where the upload stands, 413 past its length, 423 while another
    request writes it, 507 on a full disk. A broken stream keeps what arrived."""
    with _locked(part_path(settings, upload.id)) as fd:
        assert fd is not None
        start = await to_thread.run_sync(_reconcile, db, upload.id, fd)
        if offset != start:
            raise UploadError(409, conflict(start))
        writer = _PartWriter(fd, start, upload.length)
        try:
            await writer.receive(chunks)
        finally:
            with anyio.CancelScope(shield=True):
                saved = await to_thread.run_sync(_commit, db, settings, upload.id, writer, now)
        if not saved:
            raise UploadError(409, conflict(start))
        return writer.position


def conflict(offset: int) -> str:
    return CONFLICT % {"offset": offset}


def discard(db: sqlite_utils.Database, upload_id: str) -> None:
    """Forget an upload's row (after its file was moved into place)."""
    with write(db):
        db.execute("DELETE FROM uploads WHERE id = ?", [upload_id])


def terminate(db: sqlite_utils.Database, settings: Settings, upload_id: str) -> None:
    """Delete an upload, file and row; 404 if unknown, 423 while a request writes it."""
    if get(db, upload_id) is None:
        raise UploadError(404, GONE)
    path = part_path(settings, upload_id)
    with _locked(path, missing_ok=True):
        path.unlink(missing_ok=True)
        discard(db, upload_id)


def take_completed(db: sqlite_utils.Database, settings: Settings, upload_id: str) -> Path:
    """The part file of a finished upload, for the caller to probe and move into place."""
    upload = get(db, upload_id)
    if upload is None:
        raise UploadError(404, GONE)
    if not upload.complete:
        raise UploadError(409, NOT_COMPLETE)
    path = part_path(settings, upload_id)
    if not path.is_file() or path.stat().st_size != upload.length:
        raise UploadError(410, GONE)
    return path


def expire(db: sqlite_utils.Database, settings: Settings, now: float | None = None) -> int:
    """Delete expired unfinished uploads and stale orphan part files; returns how many."""
    now = _now(now)
    rows = db.execute(
        'SELECT id FROM uploads WHERE expires_at <= ? AND "offset" < length', [now]
    ).fetchall()
    removed = 0
    for row in rows:
        with contextlib.suppress(UploadError):  # 423: being written right now; next time
            terminate(db, settings, row["id"])
            removed += 1
    return removed + _remove_orphans(db, settings, now - _ttl(settings))


def _remove_orphans(db: sqlite_utils.Database, settings: Settings, older_than: float) -> int:
    if not settings.uploads_dir.is_dir():
        return 0
    removed = 0
    for path in settings.uploads_dir.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < older_than and get(db, path.stem) is None:
                path.unlink()
                removed += 1
    return removed
