"""1,000 live viewers through nginx, and on-demand media and a page, measured with wrk.

    .venv/bin/python benchmarks/live_viewers.py [--viewers 1000] [--seconds 10]

Needs Debian's nginx and wrk (apt install nginx wrk). Starts, on a fresh data folder with
a public talk on air (a live part of 1-second segments of 250 kB, as ffmpeg writes them)
and a processed talk (a 3.2 MB on-demand segment):
- `ktl serve` with KTL_ACCEL_REDIRECT=/_media/ behind nginx with deploy/nginx/kunnskap.conf
  (TLS, the app decides, nginx sends the file from its internal location);
- plain nginx serving the same files with no app in the path (TLS, same certificate);
- a second `ktl serve` without KTL_ACCEL_REDIRECT, for the app sending bytes itself.
Then wrk (2 threads, benchmarks/live_viewers.lua) runs each phase for --seconds:
- live, paced: --viewers connections, each asking about once a second (the live
  playlist, one of the 3 newest segments, or both in turn at twice the rate: what hls.js
  does with 1-second segments); p50/p99 per request type, app+nginx beside plain nginx;
- live, capacity: the same viewers asking as fast as they can; throughput ratio;
- on-demand: 200 connections for the 3.2 MB segment (app alone, nginx with X-Accel,
  plain nginx) and a talk page (app alone, through nginx).
Errors are socket errors plus answers that are not 2xx/3xx. Client, nginx and app share
this machine's cores, so the figures are lower bounds for a server that has them alone.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import talks  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.live import ffargs  # noqa: E402
from server.people import accounts  # noqa: E402
from server.store import db as database  # noqa: E402
from tests import nginxserver  # noqa: E402
from tests.liveserver import free_port, serve  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "live_viewers.lua"
LIVE_SEGMENTS = 30
LIVE_SEGMENT_BYTES = 250_000  # one second at 2 Mbit/s
VOD_SEGMENT_BYTES = 3_200_000


@dataclass
class Result:
    name: str
    rps: float
    p50: float
    p99: float
    requests: int
    errors: int


def _world(data: Path) -> tuple[dict, dict]:
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    database.init(settings.db_path)
    with database.session(settings.db_path) as db:
        owner = accounts.create_user(db, "arr@kommune.no", "Arr", "organiser", password="x" * 12)
        live = talks.create(db, talks.TalkInput(title="Direkte", visibility="public"), owner)
        vod = talks.create(db, talks.TalkInput(title="Opptak", visibility="public"), owner)
        talks.set_status(db, vod["id"], "ready")
    part = settings.media_dir / str(live["id"]) / "live" / "part-0001"
    part.mkdir(parents=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
    for n in range(LIVE_SEGMENTS):
        (part / f"seg-{n:05d}.ts").write_bytes(os.urandom(LIVE_SEGMENT_BYTES))
        lines += ["#EXTINF:1.000000,", f"seg-{n:05d}.ts"]
    (part / ffargs.PLAYLIST).write_text("\n".join(lines) + "\n")
    stream = settings.media_dir / str(vod["id"]) / "vod" / "stream_0"
    stream.mkdir(parents=True)
    (stream / "seg_00000.ts").write_bytes(os.urandom(VOD_SEGMENT_BYTES))
    return settings, {"live": live, "vod": vod}


def _plain_server(port: int, folder: Path, media: Path) -> str:
    return f"""server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {folder}/cert.pem;
        ssl_certificate_key {folder}/key.pem;
        ssl_session_cache shared:plain_tls:10m;
        location /m/ {{ alias {media.resolve()}/; sendfile on; tcp_nopush on; }}
    }}"""


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(name: str, base: str, paths: list[str], connections: int, seconds: int,
        pace_ms: int = 0) -> Result:  # fmt: skip
    env = {**os.environ, "KTL_PATHS": ",".join(paths), "KTL_PACE_MS": str(pace_ms)}
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
            "-s", str(SCRIPT), base + paths[0]]  # fmt: skip
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    if os.environ.get("KTL_BENCH_RAW"):
        print(out, flush=True)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    percentiles = {k: _seconds(v) * 1000 for k, v in percentiles.items()}  # none: no answer
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (sum(map(int, sockets.groups())) if sockets else 0) + int(
        non_2xx.group(1) if non_2xx else 0
    )
    result = Result(
        name, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        percentiles.get("50", float("nan")), percentiles.get("99", float("nan")),
        int(re.search(r"(\d+) requests in", out).group(1)), errors,
    )  # fmt: skip
    print(f"  {name:<46} {result.rps:>9.0f} req/s  p50 {result.p50:>7.1f} ms  "
          f"p99 {result.p99:>7.1f} ms  {result.requests:>8} requests  {errors} errors",
          flush=True)  # fmt: skip
    return result


def _newest(front: str, slug: str) -> tuple[str, list[str]]:
    playlist = f"/live/{slug}/index.m3u8"
    text = httpx.get(front + playlist, verify=False).text
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    return playlist, [f"/live/{slug}/{name}" for name in names[-3:]]


def run(viewers: int, seconds: int) -> None:
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ktl-viewers-")))
        settings, world = _world(folder / "data")
        env = {"KTL_EMBEDDED_WORKER": "0", "KTL_LIVE_CAPTIONS": "0"}
        accel = {**env, "KTL_ACCEL_REDIRECT": "/_media/", "KTL_TRUSTED_PROXIES": "127.0.0.1"}
        behind = stack.enter_context(serve(settings.data_dir, folder / "serve.log", **accel))
        direct = stack.enter_context(serve(settings.data_dir, folder / "direct.log", **env))
        plain_port, nginx_dir = free_port(), folder / "nginx"
        extra = _plain_server(plain_port, nginx_dir, settings.media_dir)
        upstream = urlsplit(behind).port
        front = stack.enter_context(
            nginxserver.nginx_in_front(nginx_dir, upstream, settings.media_dir, 2, extra)
        )
        plain = f"https://127.0.0.1:{plain_port}"
        live, vod = world["live"], world["vod"]
        playlist, newest = _newest(front.https, live["slug"])
        folder_url = f"/m/{live['id']}/live/part-0001"
        plain_playlist = f"{folder_url}/{ffargs.PLAYLIST}"
        plain_newest = [f"{folder_url}/{p.rsplit('/', 1)[1]}" for p in newest]
        app_viewer, plain_viewer = [playlist, newest[-1]], [plain_playlist, plain_newest[-1]]
        print(f"live: {viewers} viewers, {seconds} s per phase, 1-s segments of "
              f"{LIVE_SEGMENT_BYTES // 1000} kB; wrk -t2, TLS", flush=True)  # fmt: skip
        results = {}
        for key, name, base, paths, pace in [
            ("pl", "playlist, paced 1/s: nginx + app", front.https, [playlist], 1000),
            ("pl0", "playlist, paced 1/s: plain nginx (file)", plain, [plain_playlist], 1000),
            ("seg", "segment, paced 1/s: nginx X-Accel", front.https, newest, 1000),
            ("seg0", "segment, paced 1/s: plain nginx", plain, plain_newest, 1000),
            ("mix", "viewer (both, 2/s): nginx + app", front.https, app_viewer, 500),
            ("mix0", "viewer (both, 2/s): plain nginx", plain, plain_viewer, 500),
            ("cap", "capacity (both, flat out): nginx + app", front.https, app_viewer, 0),
            ("cap0", "capacity (both, flat out): plain nginx", plain, plain_viewer, 0),
        ]:  # fmt: skip
            results[key] = wrk(name, base, paths, viewers, seconds, pace)
        ratio = results["cap"].rps / results["cap0"].rps
        print(f"  capacity through the app: {ratio:.0%} of plain nginx", flush=True)
        segment = f"/media/{vod['id']}/vod/stream_0/seg_00000.ts"
        plain_segment = f"/m/{vod['id']}/vod/stream_0/seg_00000.ts"
        page = f"/talks/{vod['slug']}"
        print(f"on-demand: 200 connections, a {VOD_SEGMENT_BYTES / 1e6:.1f} MB segment; a page",
              flush=True)  # fmt: skip
        for key, name, base, paths in [
            ("vapp", "segment: app alone (http)", direct, [segment]),
            ("vacc", "segment: nginx X-Accel (https)", front.https, [segment]),
            ("vplain", "segment: plain nginx (https)", plain, [plain_segment]),
            ("papp", "talk page: app alone (http)", direct, [page]),
            ("pngx", "talk page: through nginx (https)", front.https, [page]),
        ]:  # fmt: skip
            results[key] = wrk(name, base, paths, 200, seconds)
        for key in ("vapp", "vacc"):
            share = results[key].rps / results["vplain"].rps
            print(f"  {results[key].name}: {share:.0%} of plain nginx", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt install nginx wrk")
    nginxserver.nginx_binary()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    run(args.viewers, args.seconds)


if __name__ == "__main__":
    main()
