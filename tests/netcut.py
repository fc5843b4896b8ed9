"""A TCP proxy that drops connections mid-request, as a flaky network does, for the tests of
resumable uploads (tuspy in test_tus.py, Chromium in test_upload_browser.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of the server: counts the bytes clients send, and
    can stop forwarding after a budget and then drop every connection, as a network does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = 0  # bytes from clients to the server, headers included
        self.cuts = 0
        self.holding = threading.Event()  # set while a cut waits for its ready()
        self._budget: int | None = None
        self._ready: Callable[[], bool] = lambda: True
        self._lock = threading.Lock()
        self._cutting = False
        self._open: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, budget: int, ready: Callable[[], bool]) -> None:
        """Forward `budget` more bytes, then wait until `ready()` and drop all connections."""
        with self._lock:
            self._budget, self._ready = self.sent + budget, ready

    def cut(self) -> None:
        """Drop every open connection now."""
        self._close_all()
        self.cuts += 1

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [client, upstream]
            for source, sink, counted in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, sink, counted))
                thread.daemon = True
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while True:
                size = 64 * 1024
                if counted and self._budget is not None:
                    size = min(size, self._budget - self.sent)
                    if size <= 0:
                        return self._cut()
                data = source.recv(size)
                if not data:
                    break
                if counted:
                    with self._lock:
                        self.sent += len(data)
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # passes on an orderly end (FIN)
        except OSError:  # a reset or a write to a closed peer: reset the other side too
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _cut(self) -> None:
        """The first connection past the budget drops them all; the others just stop."""
        with self._lock:
            if self._cutting:
                return
            self._cutting = True
        self.holding.set()
        deadline = time.monotonic() + 60
        while not self._ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self._budget = None
            self._cutting = False
            self.holding.clear()
        self.cut()

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        self._close_all()
        for thread in self._threads:
            thread.join(timeout=10)


def part_bytes(uploads_dir: Path) -> int:
    """What the server has written to tus part files so far."""
    return sum(path.stat().st_size for path in uploads_dir.glob("*.part"))


def wait_unlocked(part: Path, timeout: float = 10) -> None:
    """Wait until no request holds the upload's part file (server.pipeline.tus locks it with flock
    while a PATCH writes, and commits the offset before letting go)."""
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(part, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            assert time.monotonic() < deadline, f"a request still holds {part.name}"
            time.sleep(0.02)
        finally:
            os.close(fd)
