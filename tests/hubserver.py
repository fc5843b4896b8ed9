"""A local HTTP server that speaks the model hub's file URLs, for `ktl model install NAME`.

Stands in for https://huggingface.co, which tests may not reach (nothing from the internet
in tests). It serves a folder as the repository REPO at commit COMMIT the way the hub does:
``HEAD /{repo}/resolve/{revision}/{file}`` answers with ``X-Repo-Commit`` and, for a large
(LFS) file, a 302 to a content URL with ``X-Linked-Etag`` (its sha256) and
``X-Linked-Size``; a small file answers 200 with its git blob sha1 as ``ETag``. GET
follows the same paths and honours ``Range: bytes=N-`` (206). Faults on demand:
``drop_after`` cuts the connection once, after that many bytes of a file's first GET;
``corrupt`` serves that file with one byte changed while advertising the true checksum.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_MIN = 10 * 1024 * 1024  # files at least this big are "LFS" files


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


@dataclass
class Hub:
    repo: str
    files: dict[str, bytes]  # path in the repository → content
    drop_after: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Range

    def served(self, name: str) -> bytes:
        data = self.files[name]
        if name in self.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        return data


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    prefix = f"/{hub.repo}/resolve/"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
            if self.path.startswith("/cdn/"):
                return self._content(self.path.removeprefix("/cdn/"), body)
            if not self.path.startswith(prefix):
                return self._status(404)
            _revision, _, name = self.path.removeprefix(prefix).partition("/")
            if name not in hub.files:
                return self._status(404)
            data = hub.files[name]
            if len(data) >= LFS_MIN:
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{_git_sha1(data)}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(hub.served(name))
            return None

        def _content(self, name: str, body: bool) -> None:
            if name not in hub.files:
                return self._status(404)
            data = hub.served(name)
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[6:-1])
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if not body:
                return None
            cut = hub.drop_after.pop(name, None) if self.command == "GET" else None
            if cut is not None:  # a dropped connection: half the promised bytes, then close
                self.wfile.write(data[start : start + cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            self.wfile.write(data[start:])
            return None

        def _status(self, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class HubServer:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def repo_from_folder(folder: Path, layout: dict[str, str]) -> dict[str, bytes]:
    """Repository files (path in repo → bytes) from a model folder: layout maps repo path →
    file name in the folder."""
    return {remote: (folder / local).read_bytes() for remote, local in layout.items()}
