"""Peak memory of a real `ktl serve` while clients post huge bodies at once.

    .venv/bin/python benchmarks/body_limit.py [--clients 8] [--mb 300] [--max-body-bytes N]

A signed-in viewer's clients post `--mb` MB each, at the same time, half to
/talks/{slug}/fremdrift and half to /talks/{slug}/quiz/svar; every other client declares
Content-Length, the others send chunked. Raw sockets, so a client sees the answer as soon
as the server sends it (an HTTP library would first try to send the whole body). Prints
the server's resident memory before, its peak (VmHWM) during the run, each client's
answer, how much it had sent when the answer came, and the time. `--max-body-bytes`
larger than the bodies shows what happens without the limit (mind the memory: the
handlers then read every body whole). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import talks  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.learning import quizzes  # noqa: E402
from server.people import accounts  # noqa: E402
from server.store import db as database  # noqa: E402
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token  # noqa: E402

CHUNK = 1 << 20


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _world(data: Path) -> dict:
    """A viewer with a session, and an internal talk with a recording and a timed quiz."""
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    database.init(settings.db_path)
    with database.session(settings.db_path) as db:
        organiser = accounts.create_user(db, "arr@kommune.no", "Arrangør", "organiser")
        viewer = accounts.create_user(db, "ansatt@kommune.no", "Ansatt", "viewer")
        talk = talks.create(db, talks.TalkInput(title="Grenser", visibility="internal"), organiser)
        with db.conn:
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, created_at) VALUES (?, 'a.mp4', 'a.mp4', 1, 600, 1, '2026-01-01')",
                [talk.id],
            )
            talks.set_status(db, talk.id, "ready")
        question = quizzes.QuestionInput(
            "single", "Hvor mange?", at="0:05", options=("To", "Tre"), correct=(0,)
        )
        quizzes.save_question(db, talk, question, organiser)
        quizzes.save_settings(db, talk, "50", True, True, organiser)
        token = accounts.start_session(db, viewer.id, 1)
    return {"slug": talk.slug, "token": token}


def _memory(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) * 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


def _post(port: int, path: str, headers: dict, total: int, chunked: bool) -> dict:
    """Send headers, then the body in 1 MB pieces until the server answers or closes."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    start, sent, answer = time.monotonic(), 0, b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        piece = b" " * CHUNK
        framed = f"{CHUNK:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        sock.settimeout(0.0)
        while sent < total and not answer:
            try:
                answer = sock.recv(65536)
                break
            except BlockingIOError:
                pass
            except OSError:
                break
            sock.settimeout(30)
            try:
                sock.sendall(framed)
                sent += CHUNK
            except OSError:  # the server closed the connection: read what it said
                break
            sock.settimeout(0.0)
        sock.settimeout(30)
        if chunked and sent >= total and not answer:
            sock.sendall(b"0\r\n\r\n")
        while True:  # the answer says Connection: close; read it to the end
            try:
                more = sock.recv(65536)
            except OSError:
                break
            if not more:
                break
            answer += more
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed"
    body = answer.partition(b"\r\n\r\n")[2][:200].decode("utf-8", "replace")
    return {"path": path, "chunked": chunked, "status": status, "sent_mb": sent / CHUNK,
            "seconds": round(time.monotonic() - start, 2), "body": body}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--max-body-bytes", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world, port = _world(Path(tmp)), _port()
        env = {**os.environ, "KTL_DATA_DIR": tmp, "KTL_EMBEDDED_WORKER": "0",
               "KTL_LIVE_CAPTIONS": "0"}  # fmt: skip
        if args.max_body_bytes:
            env["KTL_MAX_BODY_BYTES"] = str(args.max_body_bytes)
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _run(server, port, Path(tmp), world, args)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _run(server: subprocess.Popen, port: int, data: Path, world: dict, args) -> None:
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    anon = "bench-anon"
    app_secret = (data / "secret.key").read_text().strip().encode()  # made by ktl serve
    headers = {
        "Cookie": f"{ANON_COOKIE}={anon}; {SESSION_COOKIE}={world['token']}",
        "X-CSRF-Token": csrf_token(app_secret, world["token"], anon),
        "Content-Type": "application/json",
    }
    for _ in range(3):  # warm up: a few ordinary requests of each kind
        httpx.post(f"{base}/talks/{world['slug']}/fremdrift", headers=headers,
                   content=json.dumps({"intervals": [[0, 5]], "position": 5}))  # fmt: skip
    before = _memory(server.pid)
    paths = [f"/talks/{world['slug']}/fremdrift", f"/talks/{world['slug']}/quiz/svar"]
    results: list[dict] = [{}] * args.clients
    total = args.mb * CHUNK

    def client(i: int) -> None:
        results[i] = _post(port, paths[i % 2], headers, total, chunked=bool(i // 2 % 2))

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = _memory(server.pid)
    print(f"ktl serve, {args.clients} clients × {args.mb} MB at once "
          f"(KTL_MAX_BODY_BYTES {args.max_body_bytes or 'default'}), "
          f"{time.monotonic() - start:.1f} s")  # fmt: skip
    print(f"  server RSS before: {before['VmRSS'] / 2**20:.0f} MiB, "
          f"peak during the run (VmHWM): {after['VmHWM'] / 2**20:.0f} MiB, "
          f"after: {after['VmRSS'] / 2**20:.0f} MiB")  # fmt: skip
    for result in results:
        kind = "chunked" if result["chunked"] else "Content-Length"
        print(
            f"  {result['path']:<28} {kind:<14} → {result['status']} after "
            f"{result['sent_mb']:.0f} MB sent, {result['seconds']} s: {result['body'][:90]}"
        )


if __name__ == "__main__":
    main()
