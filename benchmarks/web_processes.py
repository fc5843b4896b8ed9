"""The pages under 200 concurrent clients with 1 and with 2 `ktl serve` processes behind
nginx, side by side, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/web_processes.py [--engine sqlite,postgres] [--processes 1,2]
                                                 [--seconds 10] [--connections 200]
                                                 [--data-dir DIR] [--keep]

The data folder of benchmarks/pages.py (1,000 talks, 100 with a 30-minute transcript;
built once on SQLite, or reused from --data-dir). On PostgreSQL the same database is
copied by `ktl migrate-to-postgres` into a throwaway cluster (tests/pgserver.py: Debian's
PostgreSQL, fsync off) and the processes get KTL_DATABASE_URL; media and transcripts stay
in the data folder, which every process shares. For each engine and each count of
processes: that many `ktl serve` processes (the first receives live broadcasts, the others
have KTL_LIVE_INGEST=0; no embedded worker), Debian's nginx with the shipped site in front
(tests/nginxserver.py, 2 nginx workers), and wrk through nginx's HTTPS for every page, as a
guest and signed in: requests/s, p50/p95/p99 (wrk's own latency histogram, read by a Lua
`done` hook) and errors (socket errors, timeouts, answers other than 2xx/3xx). The counts
of processes are printed side by side per engine. The machine's CPU cores and its load
bound what a second process can add: both are printed with the figures. Not a test:
nothing is asserted. Needs Debian's nginx, openssl, wrk and postgresql
(bash scripts/install.sh --dev).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pages import World, _pages, _port, _wait, build, reuse  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from tests import nginxserver  # noqa: E402

ENGINES = ("sqlite", "postgres")
# wrk's `done` hook: requests, run length (µs), errors of every kind, p50/p95/p99 (µs).
PERCENTILES_LUA = """
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("KTL %d %d %d %d %d %d\\n", summary.requests, summary.duration,
        e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def start(data: Path, port: int, ingest: bool, log: Path, env: dict[str, str]) -> subprocess.Popen:
    environment = {**os.environ, **env, "KTL_DATA_DIR": str(data), "KTL_HOST": "127.0.0.1",
                   "KTL_PORT": str(port), "KTL_EMBEDDED_WORKER": "0",
                   "KTL_LIVE_INGEST": "1" if ingest else "0", "KTL_TRUSTED_PROXIES": "127.0.0.1",
                   "KTL_ACCEL_REDIRECT": "/_media/"}  # fmt: skip
    command = [sys.executable, "-m", "server.cli", "serve"]
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


@contextlib.contextmanager
def site(data: Path, media: Path, folder: Path, count: int, env: dict[str, str]) -> Iterator[str]:
    """`count` processes behind nginx; yields nginx's HTTPS address."""
    ports = [_port() for _ in range(count)]
    logs = [folder / f"serve-{count}-{n}.log" for n in range(count)]
    processes = [start(data, port, n == 0, logs[n], env) for n, port in enumerate(ports)]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):
            _wait(f"http://127.0.0.1:{port}/", process, log)
        nginx = nginxserver.nginx_in_front(
            folder / f"nginx-{count}", ports[0], media, workers=2, more_ports=tuple(ports[1:])
        )
        with nginx as front:
            yield front.https
    finally:
        for process in processes:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL for a process still busy 30 s later (a stuck request)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"  ktl serve (pid {process.pid}) did not stop within 30 s: killed", flush=True)
        process.kill()
        process.wait()


def wrk(url: str, connections: int, seconds: int, cookie: str | None, script: Path) -> dict:
    """One wrk run: req/s, p50/p95/p99 in ms, errors."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(script)]  # fmt: skip
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("KTL "))
    requests, duration, errors, p50, p95, p99 = (int(n) for n in line.split()[1:])
    return {"rps": requests / (duration / 1e6), "p50": p50 / 1000, "p95": p95 / 1000,
            "p99": p99 / 1000, "errors": errors, "requests": requests}  # fmt: skip


def _cell(load: dict) -> str:
    if not load["requests"]:
        return f"{'none answered':>34}"
    return (f"{load['rps']:>6.0f} {load['p50']:>6.0f} {load['p95']:>6.0f} {load['p99']:>6.0f} "
            f"{load['errors']:>6}")  # fmt: skip


def measure(url: str, world: World, args: argparse.Namespace, script: Path) -> dict:
    """(page, role) -> wrk's figures, each page warmed first (the caches fill)."""
    roles = [("guest", None), ("signed in", f"ktl_session={world.session}")]
    found = {}
    for page, path in _pages(world):
        for role, cookie in roles:
            wrk(url + path, 20, 2, cookie, script)
            found[page, role] = wrk(url + path, args.connections, args.seconds, cookie, script)
            print(f"  {page:<24} {role:<9} {_cell(found[page, role])}", flush=True)
    return found


def table(engine: str, counts: list[int], figures: dict[int, dict]) -> None:
    """The counts of processes side by side, one row a page and role; times in ms."""
    head = "".join(f" | {f'{n} process' + ('es' if n > 1 else ''):^34}" for n in counts)
    sub = "".join(f" | {'req/s':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6}" for _ in counts)
    print(f"\n{engine:<24} {'':<9}{head}")
    print(f"{'page':<24} {'as':<9}{sub}")
    for key in figures[counts[0]]:
        cells = "".join(f" | {_cell(figures[n][key])}" for n in counts)
        print(f"{key[0]:<24} {key[1]:<9}{cells}", flush=True)


@contextlib.contextmanager
def engine_env(engine: str, data: Path) -> Iterator[dict[str, str]]:
    """The processes' extra settings for `engine`: on PostgreSQL, a throwaway cluster
    holding a copy of the data folder's SQLite database (`ktl migrate-to-postgres`)."""
    if engine == "sqlite":
        yield {}
        return
    from tests.pgserver import PgServer

    with PgServer() as server:
        url = server.create_database("ktl_benchmark")
        copied = subprocess.run(
            [sys.executable, "-m", "server.cli", "--data-dir", str(data), "migrate-to-postgres",
             url], cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if copied.returncode != 0:
            sys.exit(f"ktl migrate-to-postgres failed:\n{copied.stderr}")
        print(copied.stdout.strip().splitlines()[-1], flush=True)
        yield {"KTL_DATABASE_URL": url}


def run(args: argparse.Namespace) -> None:
    for tool in ("wrk", "nginx", "openssl"):
        if shutil.which(tool) is None and not (
            tool == "nginx" and Path(nginxserver.NGINX).exists()
        ):
            sys.exit(f"{tool} is missing: bash scripts/install.sh --dev")
    engines = args.engine.split(",")
    if unknown := set(engines) - set(ENGINES):
        sys.exit(f"--engine: {', '.join(sorted(unknown))}? choose among {', '.join(ENGINES)}")
    counts = [int(n) for n in args.processes.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="ktl-processes-"))
    script = folder / "percentiles.lua"
    script.write_text(PERCENTILES_LUA)
    data = Path(args.data_dir) if args.data_dir else folder / "data"
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    world = reuse(settings) if settings.db_path.exists() else build(settings)
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"CPU cores: {os.cpu_count()}, load average {load} at the start; {args.connections} "
          f"clients for {args.seconds} s a page, through nginx (HTTPS, 2 workers)")  # fmt: skip
    try:
        for engine in engines:
            figures = {}
            with engine_env(engine, data) as env:
                for count in counts:
                    print(f"{engine}, {count} process(es):", flush=True)
                    with site(data, settings.media_dir, folder, count, env) as url:
                        figures[count] = measure(url, world, args, script)
            table(engine, counts, figures)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--processes", default="1,2", help="counts of web processes to compare")
    parser.add_argument("--seconds", type=int, default=10, help="wrk's length per page")
    parser.add_argument("--connections", type=int, default=200, help="wrk's clients at once")
    parser.add_argument(
        "--data-dir", help="build the data here, or reuse what an earlier run built"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
