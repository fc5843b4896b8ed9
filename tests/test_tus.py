"""tus 1.0 resumable uploads: the store in server.pipeline.tus and the protocol in
server.web.views.tus.

Protocol tests run the real tuspy client (and raw httpx requests) against the app as
`ktl serve` builds it (create_app: auth, CSRF and the access guard) under uvicorn in a thread
on 127.0.0.1, as a signed-in organiser; the store is tested directly on a real SQLite file.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import io
import os
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
import sqlite_utils
import uvicorn
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed

from server.core.config import Settings, load_settings
from server.pipeline import tus
from server.store import db
from server.web.app import create_app
from server.web.views import tus as tus_routes
from tests.netcut import CuttingProxy, part_bytes, wait_unlocked
from tests.webclient import PASSWORD, make_user

MB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


@dataclass
class Server:
    url: str
    settings: Settings
    headers: dict[str, str]  # the signed-in organiser's session cookie and CSRF token
    owner: str  # the organiser's user id, as uploads record it

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def endpoint(self) -> str:
        return f"{self.url}/uploads/"

    def http(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client as the organiser, or with the given headers (e.g. {} for a guest)."""
        chosen = self.headers if headers is None else headers
        return httpx.Client(base_url=self.url, timeout=30, headers=chosen)

    def tus(self, endpoint: str | None = None) -> tus_client.TusClient:
        return tus_client.TusClient(endpoint or self.endpoint, headers=self.headers)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings (SQLite or PostgreSQL) with room for uploads of 300 MB."""
    return settings.replace(max_upload_bytes=300 * MB)


@pytest.fixture
def conn(settings: Settings) -> Iterator[sqlite_utils.Database]:
    with db.session(settings) as database:
        yield database


def sign_in(base: str, settings: Settings, role: str, email: str) -> tuple[dict[str, str], str]:
    """Headers that make a request come from a new signed-in user (session cookie and CSRF
    token), and the user's id."""
    user = make_user(settings, role, email)
    with httpx.Client(base_url=base, timeout=30) as http:
        token = _CSRF_META.search(http.get("/logg-inn").text).group(1)
        form = {"email": email, "password": PASSWORD, "csrf_token": token}
        assert http.post("/logg-inn", data=form).status_code == 303
        token = _CSRF_META.search(http.get("/logg-inn").text).group(1)  # the session's own
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    assert "ktl_session=" in cookie
    return {"Cookie": cookie, "X-CSRF-Token": token}, str(user.id)


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[str]:
    """create_app(settings) under uvicorn, lifespan included, as `ktl serve` runs it."""
    config = uvicorn.Config(
        create_app(settings), lifespan="on", log_config=None, log_level="warning"
    )
    uvicorn_server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not uvicorn_server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    with running(settings) as base:
        headers, owner = sign_in(base, settings, "organiser", "organiser@kommune.no")
        yield Server(base, settings, headers, owner)


@pytest.fixture
def proxy(server: Server) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(server.port)
    yield proxy
    proxy.close()


class CountingStream(io.BytesIO):
    """The file as tuspy reads it, counting the bytes it reads (and so sends)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def sha256(data: bytes | Path) -> str:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with data.open("rb") as fh:
        while block := fh.read(MB):
            digest.update(block)
    return digest.hexdigest()


def create(http: httpx.Client, length: int, **headers: str) -> str:
    response = http.post("/uploads/", headers={**TUS, "Upload-Length": str(length), **headers})
    assert response.status_code == 201, response.text
    return response.headers["location"]


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def row_count(conn: sqlite_utils.Database) -> int:
    return conn.execute("SELECT count(*) FROM uploads").fetchone()[0]


# --- protocol, through tuspy and httpx ----------------------------------------------------


def test_options_describes_the_server(server: Server) -> None:
    with server.http() as http:
        response = http.options("/uploads/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
    }
    assert response.headers["tus-max-size"] == str(300 * MB)


def test_tuspy_uploads_a_file_in_small_chunks(server: Server, conn) -> None:
    data = os.urandom(3 * MB + 123)
    uploader = server.tus().uploader(
        file_stream=io.BytesIO(data), chunk_size=256 * 1024, metadata={"filename": "møte å.mp4"}
    )
    uploader.upload()
    assert uploader.url.startswith(server.endpoint)  # Location is absolute
    path = tus.take_completed(conn, server.settings, upload_id(uploader.url))
    assert sha256(path) == sha256(data)
    stored = tus.get(conn, upload_id(uploader.url)).metadata
    assert stored == {"filename": "møte å.mp4", tus_routes.OWNER_KEY: server.owner}
    with server.http() as http:
        head = http.head(uploader.url, headers=TUS)
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert head.headers["cache-control"] == "no-store"
    assert tus_routes.parse_metadata(head.headers["upload-metadata"]) == {"filename": "møte å.mp4"}


def test_resume_continues_from_the_server_offset(server: Server, conn) -> None:
    data = os.urandom(2 * MB + 7)
    client = server.tus()
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=128 * 1024)
    first.upload(stop_at=MB)
    second = client.uploader(file_stream=io.BytesIO(data), url=first.url, chunk_size=200_000)
    assert second.offset == MB  # asked the server with HEAD
    second.upload()
    assert sha256(tus.take_completed(conn, server.settings, upload_id(first.url))) == sha256(data)


def resting_offset(server: Server, url: str) -> int:
    """The upload's offset once no request holds it (the cut request has been committed)."""
    wait_unlocked(tus.part_path(server.settings, upload_id(url)))
    with server.http() as http:
        head = http.head(url, headers=TUS)
    assert head.status_code == 200, head.text
    return int(head.headers["upload-offset"])


def test_tuspy_resumes_after_the_connection_is_cut(server: Server, proxy, conn) -> None:
    data = os.urandom(8 * MB + 5)
    endpoint = f"{proxy.url}/uploads/"
    # One PATCH for the whole file; the network drops once the server has written 1 MB.
    proxy.cut_after(3 * MB, ready=lambda: part_bytes(server.settings.uploads_dir) >= MB)
    first = server.tus(endpoint).uploader(file_stream=io.BytesIO(data))
    with pytest.raises(TusUploadFailed):
        first.upload()
    offset = resting_offset(server, first.url)
    assert MB <= offset < 3 * MB, "the server kept what arrived before the cut"

    proxy.sent = 0
    stream = CountingStream(data)
    second = server.tus(endpoint).uploader(file_stream=stream, url=first.url, chunk_size=MB)
    assert second.offset == offset  # from HEAD through the whole app
    second.upload()
    assert stream.read_bytes == len(data) - offset, "only the missing bytes were sent"
    headers_only = proxy.sent - (len(data) - offset)
    assert 0 < headers_only < 16 * 1024, f"{proxy.sent} bytes on the wire for the rest"
    print(f"\ntuspy: cut at {offset} of {len(data)}; the resumed run read {stream.read_bytes} "
          f"bytes of the file and sent {proxy.sent} on the wire")  # fmt: skip
    path = tus.take_completed(conn, server.settings, upload_id(first.url))
    assert sha256(path) == sha256(data)
    assert list(server.settings.uploads_dir.iterdir()) == [path], "exactly one file"
    assert row_count(conn) == 1


def test_another_person_s_upload_is_not_found(server: Server, conn) -> None:
    with server.http() as http:
        url = create(http, 100)
        assert http.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"a" * 10)
    other, _ = sign_in(server.url, server.settings, "organiser", "annen@kommune.no")
    attempts = [
        ("HEAD", TUS, b""),
        ("PATCH", {**OCTETS, "Upload-Offset": "10"}, b"b" * 10),
        ("DELETE", TUS, b""),
        ("POST", {**OCTETS, "Upload-Offset": "10", "X-HTTP-Method-Override": "PATCH"}, b"b"),
    ]
    with server.http(other) as http:
        for method, headers, body in attempts:
            response = http.request(method, url, headers=headers, content=body)
            assert response.status_code == 404, method
            assert method == "HEAD" or response.text == tus.GONE
    assert tus.get(conn, upload_id(url)).offset == 10
    assert tus.part_path(server.settings, upload_id(url)).read_bytes() == b"a" * 10


def test_uploads_need_an_organiser_session_and_the_csrf_token(server: Server, conn) -> None:
    with server.http() as http:
        url = create(http, 100)
    staff, _ = sign_in(server.url, server.settings, "viewer", "ansatt@kommune.no")
    patch = {**OCTETS, "Upload-Offset": "0"}
    with server.http({}) as guest:
        assert guest.head(url, headers=TUS).status_code == 401  # the guard: sign in first
        refused = guest.patch(url, headers=patch, content=b"x")
        assert refused.status_code == 403 and "Last siden på nytt" in refused.text  # no token
    with server.http(staff) as http:
        refused = http.head(url, headers=TUS)
        assert refused.status_code == 403 and "upload-offset" not in refused.headers
        assert http.post("/uploads/", headers={**TUS, "Upload-Length": "1"}).status_code == 403
    without_token = {"Cookie": server.headers["Cookie"]}
    with server.http(without_token) as http:
        assert http.patch(url, headers=patch, content=b"x").status_code == 403
    cross_site = {**server.headers, "Origin": "https://evil.example"}
    with server.http(cross_site) as http:
        assert http.patch(url, headers=patch, content=b"x").status_code == 403
    assert tus.get(conn, upload_id(url)).offset == 0 and row_count(conn) == 1


def test_broken_connection_keeps_what_arrived(server: Server, conn) -> None:
    data = os.urandom(100_000)
    with server.http() as http:
        url = create(http, len(data))
        host, port = server.url.removeprefix("http://").split(":")
        request = (
            f"PATCH /uploads/{upload_id(url)} HTTP/1.1\r\nHost: {host}\r\n"
            "Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Cookie: {server.headers['Cookie']}\r\n"
            f"X-CSRF-Token: {server.headers['X-CSRF-Token']}\r\n"
            f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(request + data[:40_000])
            time.sleep(0.5)
        deadline = time.monotonic() + 5
        while (offset := int(http.head(url, headers=TUS).headers["upload-offset"])) != 40_000:
            assert time.monotonic() < deadline, f"offset stayed at {offset}"
            time.sleep(0.05)
        rest = http.patch(url, headers={**OCTETS, "Upload-Offset": "40000"}, content=data[40_000:])
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(data))
    assert sha256(tus.take_completed(conn, server.settings, upload_id(url))) == sha256(data)


def test_termination_removes_file_and_row(server: Server, conn) -> None:
    with server.http() as http:
        url = create(http, 1000)
        http.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"x" * 10)
        part = tus.part_path(server.settings, upload_id(url))
        assert part.stat().st_size == 10
        assert http.delete(url, headers=TUS).status_code == 204
        assert not part.exists() and row_count(conn) == 0
        assert http.head(url, headers=TUS).status_code == 404
        assert http.delete(url, headers=TUS).status_code == 404


def test_expired_upload_is_gone_and_expire_removes_it(server: Server, conn) -> None:
    with server.http() as http:
        url = create(http, 1000)
        created = http.head(url, headers=TUS).headers["upload-expires"]
        assert created.endswith(" GMT") and email.utils.parsedate_to_datetime(created)
        conn.execute("UPDATE uploads SET expires_at = 0 WHERE id = ?", [upload_id(url)])
        assert http.head(url, headers=TUS).status_code == 410
        response = http.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"x")
        assert response.status_code == 410 and "Velg filen på nytt" in response.text
        assert tus.expire(conn, server.settings) == 1
        assert not tus.part_path(server.settings, upload_id(url)).exists()
        assert row_count(conn) == 0
        assert http.head(url, headers=TUS).status_code == 404


def test_offset_mismatch_is_409(server: Server) -> None:
    with server.http() as http:
        url = create(http, 100)
        http.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"a" * 10)
        response = http.patch(url, headers={**OCTETS, "Upload-Offset": "5"}, content=b"b" * 10)
        assert response.status_code == 409 and "10 byte" in response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["connection"] == "close", "stop sending a refused body"
        assert http.head(url, headers=TUS).headers["upload-offset"] == "10"


@pytest.mark.parametrize("version", [None, "0.2.2"])
def test_wrong_tus_resumable_is_412(server: Server, version: str | None) -> None:
    headers = {"Upload-Length": "10"} | ({"Tus-Resumable": version} if version else {})
    with server.http() as http:
        response = http.post("/uploads/", headers=headers)
    assert response.status_code == 412
    assert response.headers["tus-version"] == "1.0.0"


def test_patch_needs_offset_octet_stream(server: Server) -> None:
    with server.http() as http:
        url = create(http, 10)
        headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"}
        response = http.patch(url, headers=headers, content=b"x")
    assert response.status_code == 415


def test_too_large_is_413(server: Server) -> None:
    with server.http() as http:
        response = http.post("/uploads/", headers={**TUS, "Upload-Length": str(301 * MB)})
        assert response.status_code == 413
        assert response.text == "Filen er større enn grensen på 300 MB. Velg en mindre fil."
        url = create(http, 10)
        past = http.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"x" * 11)
        assert past.status_code == 413
        assert http.head(url, headers=TUS).headers["upload-offset"] == "0"


def test_method_override_and_bad_requests(server: Server) -> None:
    with server.http() as http:
        url = create(http, 4, **{"Upload-Metadata": "filename aGVp,is_confidential"})
        override = {**OCTETS, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}
        response = http.post(url, headers=override, content=b"abcd")
        assert response.status_code == 204 and response.headers["upload-offset"] == "4"
        assert http.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}).is_success
        assert http.post(url, headers=TUS).status_code == 405
        assert http.head("/uploads/not..a..valid..id..at..all", headers=TUS).status_code == 404
        bad_meta = {**TUS, "Upload-Length": "1", "Upload-Metadata": "name ***"}
        assert http.post("/uploads/", headers=bad_meta).status_code == 400
        assert http.post("/uploads/", headers=TUS).status_code == 400  # no Upload-Length


def test_empty_file(server: Server, conn) -> None:
    uploader = server.tus().uploader(file_stream=io.BytesIO(b""))
    uploader.upload()
    assert tus.take_completed(conn, server.settings, upload_id(uploader.url)).stat().st_size == 0


def test_large_upload_in_constant_memory(server: Server, conn, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(MB))
    tracemalloc.start()
    try:
        with source.open("rb") as stream:  # the first half with tuspy in 8 MB requests
            uploader = server.tus().uploader(file_stream=stream, chunk_size=8 * MB)
            uploader.upload(stop_at=100 * MB)
        chunked_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        one_request = stream_patch(server, uploader.url, source, 100 * MB)  # the rest at once
        streamed_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert one_request.status_code == 204, one_request.text
    # Client and server together, in this process: far below the 200 MB file.
    assert chunked_peak < 48 * MB, f"peak {chunked_peak / MB:.0f} MB"
    assert streamed_peak < 16 * MB, f"peak {streamed_peak / MB:.0f} MB for a 100 MB request"
    path = tus.take_completed(conn, server.settings, upload_id(uploader.url))
    assert sha256(path) == sha256(source)


def stream_patch(server: Server, url: str, source: Path, offset: int) -> httpx.Response:
    def body() -> Iterator[bytes]:
        with source.open("rb") as fh:
            fh.seek(offset)
            while block := fh.read(256 * 1024):
                yield block

    headers = {
        **OCTETS,
        "Upload-Offset": str(offset),
        "Content-Length": str(source.stat().st_size - offset),
    }
    with server.http() as http:
        return http.patch(url, headers=headers, content=body())


# --- the store, without HTTP --------------------------------------------------------------


def test_ids_cannot_escape_the_folder(settings: Settings, conn) -> None:
    for bad in ("../../ktl", "a/b", "", "x" * 100, "ab.cdefghijklmnopq"):
        with pytest.raises(tus.UploadError) as caught:
            tus.part_path(settings, bad)
        assert caught.value.status == 404
        assert tus.get(conn, bad) is None


def test_append_accepts_sync_chunks_and_refuses_past_length(settings: Settings, conn) -> None:
    upload = tus.create(conn, settings, 10, {"filename": "a.mp4"})
    assert anyio.run(tus.append, conn, settings, upload, 0, [b"abc", b"", b"de"]) == 5
    with pytest.raises(tus.UploadError) as caught:
        anyio.run(tus.append, conn, settings, upload, 5, [b"fgh", b"ijklmn"])
    assert caught.value.status == 413
    assert tus.part_path(settings, upload.id).read_bytes() == b"abcde"
    assert tus.get(conn, upload.id).offset == 5
    with pytest.raises(tus.UploadError) as caught:
        tus.take_completed(conn, settings, upload.id)
    assert caught.value.status == 409


def test_append_reconciles_file_and_row_after_a_crash(settings: Settings, conn) -> None:
    upload = tus.create(conn, settings, 10)
    anyio.run(tus.append, conn, settings, upload, 0, [b"abc"])
    with tus.part_path(settings, upload.id).open("ab") as fh:
        fh.write(b"junk")  # written, never recorded
    assert anyio.run(tus.append, conn, settings, upload, 3, [b"defghij"]) == 10
    path = tus.take_completed(conn, settings, upload.id)
    assert path.read_bytes() == b"abcdefghij"
    tus.discard(conn, upload.id)
    assert tus.get(conn, upload.id) is None


def test_two_writers_never_write_the_same_upload(settings: Settings, conn) -> None:
    upload = tus.create(conn, settings, 20)

    async def scenario() -> None:
        started, release = anyio.Event(), anyio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"a" * 10
            started.set()
            await release.wait()
            yield b"b" * 10

        async with anyio.create_task_group() as group:
            group.start_soon(tus.append, conn, settings, upload, 0, slow())
            await started.wait()
            for attempt in (
                tus.append(conn, settings, upload, 0, [b"x" * 10]),
                anyio.to_thread.run_sync(tus.terminate, conn, settings, upload.id),
            ):
                with pytest.raises(tus.UploadError) as caught:
                    await attempt
                assert caught.value.status == 423
            release.set()

    anyio.run(scenario)
    assert tus.take_completed(conn, settings, upload.id).read_bytes() == b"a" * 10 + b"b" * 10


def test_expire_keeps_live_and_finished_uploads(settings: Settings, conn) -> None:
    now = time.time()
    finished = tus.create(conn, settings, 0, now=now - 10 * 86400)
    live = tus.create(conn, settings, 5, now=now)
    stale = tus.create(conn, settings, 5, now=now - 10 * 86400)
    old_orphan = settings.uploads_dir / "orphanorphanorphan.part"
    new_orphan = settings.uploads_dir / "youngyoungyoungyoung.part"
    old_orphan.touch()
    new_orphan.touch()
    os.utime(old_orphan, (now - 10 * 86400, now - 10 * 86400))
    assert tus.expire(conn, settings, now) == 2
    assert tus.get(conn, stale.id) is None and not tus.part_path(settings, stale.id).exists()
    assert tus.get(conn, live.id) and tus.get(conn, finished.id)
    assert not old_orphan.exists() and new_orphan.exists()


def test_sizes_read_like_norwegian() -> None:
    assert tus.format_size(50 * 1024**3) == "50 GB"
    assert tus.format_size(1536 * 1024) == "1,5 MB"
    assert tus.format_size(300) == "300 byte"
    settings = load_settings(env={}, max_upload_bytes=50 * 1024**3)
    assert tus.too_big(settings).message.startswith("Filen er større enn grensen på 50 GB.")
