"""What the access check costs per HLS segment request, side by side in one run.

    .venv/bin/python benchmarks/access.py [--requests 1000] [--segment-kb 500]

Three servers on 127.0.0.1, each over the same segment file: the app (a guest fetching a
public talk's segment; a signed-in viewer fetching an internal talk's segment: session
lookup + talk visibility per request) and a plain Starlette StaticFiles app with no checks.
Prints p50/p95 per request and the app's extra cost. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import talks  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.people import accounts  # noqa: E402
from server.store import db as database  # noqa: E402

STATIC_APP = """
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/media", StaticFiles(directory={directory!r}))])
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def _world(data: Path, segment_kb: int) -> tuple[dict, str]:
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    database.init(settings.db_path)
    with database.session(settings.db_path) as db:
        user = accounts.create_user(db, "seer@kommune.no", "Seer", "viewer")
        ids = {}
        for visibility in ("public", "internal"):
            talk = talks.create(db, talks.TalkInput(title=visibility, visibility=visibility))
            ids[visibility] = talk.id
            folder = settings.paths.vod(talk.id) / "stream_0"
            folder.mkdir(parents=True)
            (folder / "seg_00000.ts").write_bytes(os.urandom(segment_kb * 1024))
        token = accounts.start_session(db, user.id, 1)
    return ids, token


def _time(client: httpx.Client, url: str, n: int, cookies: dict | None = None) -> list[float]:
    for _ in range(20):
        client.get(url, cookies=cookies).raise_for_status()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url, cookies=cookies)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--segment-kb", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        ids, token = _world(data, args.segment_kb)
        app_port, static_port = _port(), _port()
        env = {**os.environ, "KTL_DATA_DIR": str(data), "KTL_EMBEDDED_WORKER": "0"}
        static_app = STATIC_APP.format(directory=str(data / "media"))
        (Path(tmp) / "static_app.py").write_text(static_app)
        servers = [
            subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port",
                              str(app_port)], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([sys.executable, "-m", "uvicorn", "static_app:app", "--port",
                              str(static_port), "--log-level", "warning", "--app-dir", tmp],
                             cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{app_port}/")
            _wait(f"http://127.0.0.1:{static_port}/media/{ids['public']}/vod/stream_0/seg_00000.ts")
            _report(app_port, static_port, ids, token, args.requests)
        finally:
            for server in servers:
                server.terminate()
                server.wait()


def _report(app_port: int, static_port: int, ids: dict, token: str, n: int) -> None:
    segment = "vod/stream_0/seg_00000.ts"
    with httpx.Client() as client:
        rounds = {
            "static files, no check": _time(
                client, f"http://127.0.0.1:{static_port}/media/{ids['public']}/{segment}", n
            ),
            "app, guest, public talk": _time(
                client, f"http://127.0.0.1:{app_port}/media/{ids['public']}/{segment}", n
            ),
            "app, viewer session, internal talk": _time(
                client,
                f"http://127.0.0.1:{app_port}/media/{ids['internal']}/{segment}",
                n,
                {"ktl_session": token},
            ),
        }
    base = statistics.median(rounds["static files, no check"])
    for name, times in rounds.items():
        p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
        print(f"{name:38s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  extra p50 {p50 - base:+.2f} ms")


if __name__ == "__main__":
    main()
