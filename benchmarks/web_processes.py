"""The pages under 200 concurrent clients with 1 and with 2 `ktl serve` processes behind nginx.

    .venv/bin/python benchmarks/web_processes.py [--processes 1,2] [--seconds 10]
                                                 [--connections 200] [--data-dir DIR]

The data folder of benchmarks/pages.py (1,000 talks, 100 with a 30-minute transcript;
built once, or reused from --data-dir). For each count of processes: that many `ktl serve`
processes on the one data folder (the first receives live broadcasts, the others have
KTL_LIVE_INGEST=0; no embedded worker), Debian's nginx with the shipped site in front
(tests/nginxserver.py, 2 nginx workers), and wrk through nginx's HTTPS for every page, as
a guest and signed in: requests/s, p50/p99 and errors. The machine's CPU cores bound what
a second process can add: print them with the figures. Not a test: nothing is asserted.
Needs Debian's nginx, openssl and wrk (bash scripts/install.sh --dev).
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

from benchmarks.pages import World, _pages, _port, _wait, build, reuse, wrk  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from tests import nginxserver  # noqa: E402


def start(data: Path, port: int, ingest: bool, log: Path) -> subprocess.Popen:
    env = {**os.environ, "KTL_DATA_DIR": str(data), "KTL_HOST": "127.0.0.1",
           "KTL_PORT": str(port), "KTL_EMBEDDED_WORKER": "0",
           "KTL_LIVE_INGEST": "1" if ingest else "0", "KTL_TRUSTED_PROXIES": "127.0.0.1",
           "KTL_ACCEL_REDIRECT": "/_media/"}  # fmt: skip
    command = [sys.executable, "-m", "server.cli", "serve"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


@contextlib.contextmanager
def site(data: Path, media: Path, folder: Path, count: int) -> Iterator[str]:
    """`count` processes behind nginx; yields nginx's HTTPS address."""
    ports = [_port() for _ in range(count)]
    processes = [
        start(data, port, n == 0, folder / f"serve-{count}-{n}.log") for n, port in enumerate(ports)
    ]
    try:
        for n, (port, process) in enumerate(zip(ports, processes, strict=True)):
            _wait(f"http://127.0.0.1:{port}/", process, folder / f"serve-{count}-{n}.log")
        nginx = nginxserver.nginx_in_front(
            folder / f"nginx-{count}", ports[0], media, workers=2, more_ports=tuple(ports[1:])
        )
        with nginx as front:
            yield front.https
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def measure(url: str, world: World, args: argparse.Namespace, count: int) -> None:
    roles = [("guest", None), ("signed in", f"ktl_session={world.session}")]
    for page, path in _pages(world):
        for role, cookie in roles:
            wrk(url + path, 20, 2, cookie)  # warm: the first requests fill the caches
            load = wrk(url + path, args.connections, args.seconds, cookie)
            print(f"{count:>9} {page:<24} {role:<9} | {load['rps']:>6.0f} {load['p50']:>6.0f}ms "
                  f"{load['p99']:>6.0f}ms {load['errors']:>6}", flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> None:
    for tool in ("wrk", "nginx", "openssl"):
        if shutil.which(tool) is None and not (
            tool == "nginx" and Path(nginxserver.NGINX).exists()
        ):
            sys.exit(f"{tool} is missing: bash scripts/install.sh --dev")
    folder = Path(tempfile.mkdtemp(prefix="ktl-processes-"))
    data = Path(args.data_dir) if args.data_dir else folder / "data"
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    world = reuse(settings) if settings.db_path.exists() else build(settings)
    print(f"CPU cores: {os.cpu_count()}; {args.connections} clients for {args.seconds} s each, "
          "through nginx (HTTPS, 2 workers)")  # fmt: skip
    print(f"\n{'processes':>9} {'page':<24} {'as':<9} | {'req/s':>6} {'p50':>8} {'p99':>8} "
          f"{'errors':>6}")  # fmt: skip
    try:
        for count in (int(n) for n in args.processes.split(",")):
            with site(data, settings.media_dir, folder, count) as url:
                measure(url, world, args, count)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", default="1,2", help="counts of web processes to run")
    parser.add_argument("--seconds", type=int, default=10, help="wrk's length per page")
    parser.add_argument("--connections", type=int, default=200, help="wrk's clients at once")
    parser.add_argument(
        "--data-dir", help="build the data here, or reuse what an earlier run built"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
