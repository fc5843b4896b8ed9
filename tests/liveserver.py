"""`ktl serve` in a subprocess on a free port of 127.0.0.1, and Debian's Chromium, for the
browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # The tests stand in for a person who clicked play or a search hit: let the page play.
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("ktl serve exited early")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("ktl serve did not start")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a child process (SIGTERM; SIGKILL when it has not ended within `timeout`)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def database_env(settings: Settings) -> dict[str, str]:
    """The environment that puts a subprocess (`ktl serve`, `ktl worker`) on the settings'
    data folder and database (KTL_DATABASE_URL when the test runs on PostgreSQL)."""
    env = {"KTL_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["KTL_DATABASE_URL"] = settings.database_url
    return env


@contextlib.contextmanager
def serve(data: Path | Settings, log_path: Path, **env: str) -> Iterator[str]:
    """Run `ktl serve` on a data folder, or on the data folder and database of the test's
    settings (so that it runs on PostgreSQL too); yields the base URL."""
    port = free_port()
    where = database_env(data) if isinstance(data, Settings) else {"KTL_DATA_DIR": str(data)}
    environment = {**os.environ, **where, **env}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base + "/", process)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run bash scripts/install.sh --dev")
