"""1,000 live viewers through nginx, and on-demand media and a page, measured with wrk.

    .venv/bin/python benchmarks/live_viewers.py [--viewers 1000] [--seconds 15] [--skip-vod]

Needs Debian's nginx and wrk (apt install nginx wrk). On a fresh data folder: a public talk
on air and an internal one, whose live parts get a new 1-second segment of 250 kB every
second (as ffmpeg writes them: the segment, then the part's playlist), and a processed talk
(a 3.2 MB on-demand segment). It starts:
- `ktl serve` with KTL_ACCEL_REDIRECT=/_media/ behind nginx with deploy/nginx/kunnskap.conf
  (TLS; nginx asks the app whether the viewer may watch, keeps the answer, then sends the
  live segments itself and the playlist from a one-second cache);
- plain nginx serving the same files with no app in the path (TLS, same certificate);
- a second `ktl serve` without KTL_ACCEL_REDIRECT, for the app sending bytes itself.
While the live phases run, --events viewers (default: as many as --viewers) keep the talk
page's event stream open through nginx, as the page does (that is where viewers are
counted). Then wrk (2 threads, benchmarks/live_viewers.lua) runs each phase for --seconds,
through nginx + app and against plain nginx, one after the other:
- live, paced: --viewers connections each asking about once a second for the playlist, or
  for the newest segment, or both in turn at twice the rate (what hls.js does with 1-second
  segments); p50/p99 per request type;
- live, capacity: the same viewers asking as fast as they can; throughput ratio;
- the viewer and capacity phases again for an internal talk (a second broadcast), each
  request with the session of one of --viewers signed-in viewers: nginx asks the app
  about each session every ten seconds;
- on-demand (unless --skip-vod): 200 connections for the 3.2 MB segment (app alone, nginx
  with X-Accel, plain nginx) and a talk page (app alone, through nginx).
Errors are socket errors plus answers that are not 2xx/3xx. "app req/s" is how many
requests reached the app during the phase (its access log). Client, nginx and app share
this machine's cores, so the figures are lower bounds for a server that has them alone.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import talks  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.live import broadcasts, ffargs  # noqa: E402
from server.people import accounts  # noqa: E402
from server.store import db as database  # noqa: E402
from tests import nginxserver  # noqa: E402
from tests.liveserver import free_port, serve  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "live_viewers.lua"
LIVE_SEGMENT_BYTES = 250_000  # one second at 2 Mbit/s
HEAD_START = 8  # segments already written when the viewers come
VOD_SEGMENT_BYTES = 3_200_000


@dataclass
class Result:
    name: str
    rps: float
    p50: float
    p99: float
    requests: int
    errors: int
    app_rps: float = 0.0


class Broadcast(threading.Thread):
    """Writes a segment every second into the live part, then the part's playlist (a new
    file renamed into place, as ffmpeg's temp_file flag does). Segment n is due at t0 + n."""

    def __init__(self, part: Path, t0: int) -> None:
        super().__init__(daemon=True)
        self.part, self.stop = part, threading.Event()
        self.t0 = t0
        self.written = 0
        for _ in range(HEAD_START):
            self._write()

    def _write(self) -> None:
        name = f"seg-{self.written:05d}.ts"
        (self.part / name).write_bytes(os.urandom(LIVE_SEGMENT_BYTES))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1",
                 "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
        for n in range(self.written + 1):
            lines += ["#EXTINF:1.000000,", f"seg-{n:05d}.ts"]
        temporary = self.part / (ffargs.PLAYLIST + ".tmp")
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(self.part / ffargs.PLAYLIST)
        self.written += 1

    def run(self) -> None:
        while not self.stop.wait(max(0.0, self.t0 + self.written - time.time())):
            self._write()


def _world(data: Path, viewers: int) -> tuple[object, dict]:
    """The talks, their live parts, and a session for each signed-in viewer."""
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    database.init(settings.db_path)
    with database.session(settings.db_path) as db:
        owner = accounts.create_user(db, "arr@kommune.no", "Arr", "organiser", password="x" * 12)
        live = talks.create(db, talks.TalkInput(title="Direkte", visibility="public"), owner)
        broadcasts.ensure(db, live)  # planned, its broadcast idle: pages listen for events
        staff = talks.create(db, talks.TalkInput(title="Internt", visibility="internal"), owner)
        viewer = accounts.create_user(db, "ansatt@kommune.no", "Ansatt", "viewer",
                                      password="x" * 12)  # fmt: skip
        sessions = [accounts.start_session(db, viewer.id, 2) for _ in range(viewers)]
        vod = talks.create(db, talks.TalkInput(title="Opptak", visibility="public"), owner)
        talks.set_status(db, vod.id, "ready")
    parts = [settings.paths.live(talk.id) / "part-0001" for talk in (live, staff)]
    for part in parts:
        part.mkdir(parents=True)
    (data / "sessions.txt").write_text("\n".join(sessions) + "\n")
    stream = settings.paths.vod(vod.id) / "stream_0"
    stream.mkdir(parents=True)
    (stream / "seg_00000.ts").write_bytes(os.urandom(VOD_SEGMENT_BYTES))
    world = {"live": live, "staff": staff, "vod": vod, "parts": parts,
             "sessions": data / "sessions.txt"}  # fmt: skip
    return settings, world


class EventStreams(threading.Thread):
    """`count` talk pages listening to the broadcast's events through nginx (?ser=1: they
    watch), held open until stopped."""

    def __init__(self, url: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url, self.count = url, count
        self.open, self.failed = 0, 0
        self.ready, self.stop = threading.Event(), threading.Event()

    async def _listen(self, client: httpx.AsyncClient) -> None:
        try:
            anon = {"Cookie": f"ktl_anon={secrets.token_urlsafe(12)}"}  # a browser each
            async with client.stream("GET", self.url, headers=anon) as response:
                self.open += 1
                async for _ in response.aiter_lines():
                    if self.stop.is_set():
                        return
        except (httpx.HTTPError, asyncio.CancelledError):
            self.failed += 1

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.count + 10)
        async with httpx.AsyncClient(verify=False, timeout=None, limits=limits) as client:
            tasks = []
            for n in range(self.count):
                tasks.append(asyncio.create_task(self._listen(client)))
                if n % 50 == 49:
                    await asyncio.sleep(0.05)  # arriving over a few seconds
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.open + self.failed < self.count:
                await asyncio.sleep(0.1)
            self.ready.set()
            while not self.stop.is_set():
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> None:
        asyncio.run(self._main())
        self.ready.set()


def _plain_server(port: int, folder: Path, media: Path) -> str:
    """The same files with no app in the path: under /m/ sent as the site sends live
    segments (sendfile, tcp_nopush), under /v/ as it sends the on-demand media the app
    allowed."""
    return f"""server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {folder}/cert.pem;
        ssl_certificate_key {folder}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:plain_tls:10m;
        location /m/ {{
            alias {media.resolve()}/;
            sendfile on;
            tcp_nopush on;
        }}
        location /v/ {{  # as the site's /_media/, for the on-demand segment
            alias {media.resolve()}/;
            sendfile on;
            tcp_nopush on;
            aio threads;
            output_buffers 2 1m;
        }}
    }}"""


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _app_requests(log: Path) -> int:
    with log.open(errors="replace") as handle:
        return sum(1 for line in handle if "ktl.access" in line)


def wrk(name: str, url: str, connections: int, seconds: int, log: Path | None = None,
        **env: str) -> Result:  # fmt: skip
    """wrk with benchmarks/live_viewers.lua (env: its KTL_* settings), or a plain URL."""
    environment = {**os.environ, **env}
    script = ["-s", str(SCRIPT)] if env else []
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
            *script, url]  # fmt: skip
    before = _app_requests(log) if log else 0
    out = subprocess.run(args, env=environment, capture_output=True, text=True, check=True)
    out = out.stdout
    if os.environ.get("KTL_BENCH_RAW"):
        print(out, flush=True)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    percentiles = {k: _seconds(v) * 1000 for k, v in percentiles.items()}  # none: no answer
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (sum(map(int, sockets.groups())) if sockets else 0) + int(
        non_2xx.group(1) if non_2xx else 0
    )
    app = (_app_requests(log) - before) / seconds if log else 0.0
    result = Result(
        name, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        percentiles.get("50", float("nan")), percentiles.get("99", float("nan")),
        int(re.search(r"(\d+) requests in", out).group(1)), errors, app,
    )  # fmt: skip
    reached = f"  app {app:>6.0f} req/s" if log else ""
    print(f"  {name:<42} {result.rps:>7.0f} req/s  p50 {result.p50:>7.1f} ms  "
          f"p99 {result.p99:>7.1f} ms  {result.requests:>7} req  {errors} errors{reached}",
          flush=True)  # fmt: skip
    return result


LIVE_PHASES = [  # key, name, KTL_MODE, KTL_PACE_MS
    ("pl", "playlist, 1/s per viewer", "playlist", 1000),
    ("seg", "newest segment, 1/s per viewer", "segment", 1000),
    ("mix", "viewer: both in turn, 2/s", "viewer", 500),
    ("cap", "capacity: both in turn, flat out", "viewer", 0),
]


def live_phases(front: str, plain: str, world: dict, broadcast: Broadcast, viewers: int,
                seconds: int, log: Path) -> dict[str, Result]:  # fmt: skip
    live = world["live"]
    site = {"KTL_PLAYLIST": f"/live/{live.slug}/index.m3u8",
            "KTL_SEGMENTS": f"/live/{live.slug}/part-0001/"}  # fmt: skip
    folder = f"/m/{live.id}/live/part-0001/"
    bare = {"KTL_PLAYLIST": folder + ffargs.PLAYLIST, "KTL_SEGMENTS": folder}
    # A broadcast has had viewers before these come: nginx's cache holds the playlist.
    httpx.get(front + site["KTL_PLAYLIST"], verify=False).raise_for_status()
    results = {}
    for key, name, mode, pace in LIVE_PHASES:
        common = {"KTL_MODE": mode, "KTL_PACE_MS": str(pace), "KTL_T0": str(broadcast.t0)}
        results[key] = wrk(f"{name}: nginx + app", front + site["KTL_PLAYLIST"], viewers,
                           seconds, log, **site, **common)  # fmt: skip
        results[key + "0"] = wrk(f"{name}: plain nginx", plain + bare["KTL_PLAYLIST"],
                                 viewers, seconds, None, **bare, **common)  # fmt: skip
    staff = world["staff"]
    member = {"KTL_PLAYLIST": f"/live/{staff.slug}/index.m3u8",
              "KTL_SEGMENTS": f"/live/{staff.slug}/part-0001/",
              "KTL_COOKIES": str(world["sessions"])}  # fmt: skip
    first = world["sessions"].read_text().split()[0]
    httpx.get(front + member["KTL_PLAYLIST"], verify=False, cookies={"ktl_session": first})
    for key, name, mode, pace in LIVE_PHASES[2:]:
        common = {"KTL_MODE": mode, "KTL_PACE_MS": str(pace), "KTL_T0": str(broadcast.t0)}
        results["i" + key] = wrk(f"{name}: internal, signed in", front + member["KTL_PLAYLIST"],
                                 viewers, seconds, log, **member, **common)  # fmt: skip
    for key in ("mix", "cap", "imix", "icap"):
        share = results[key].rps / results[key.lstrip("i") + "0"].rps
        print(f"  {results[key].name}: {share:.0%} of plain nginx's requests/s", flush=True)
    return results


def vod_phases(direct: str, front: str, plain: str, world: dict, seconds: int) -> None:
    vod = world["vod"]
    segment = f"/media/{vod.id}/vod/stream_0/seg_00000.ts"
    plain_segment = f"/v/{vod.id}/vod/stream_0/seg_00000.ts"
    page = f"/talks/{vod.slug}"
    print(f"on-demand: 200 connections, a {VOD_SEGMENT_BYTES / 1e6:.1f} MB segment; a page",
          flush=True)  # fmt: skip
    results = {}
    for key, name, url in [
        ("vapp", "segment: app alone (http)", direct + segment),
        ("vacc", "segment: nginx X-Accel (https)", front + segment),
        ("vplain", "segment: plain nginx (https)", plain + plain_segment),
        ("papp", "talk page: app alone (http)", direct + page),
        ("pngx", "talk page: through nginx (https)", front + page),
    ]:  # fmt: skip
        results[key] = wrk(name, url, 200, seconds)
    for key in ("vapp", "vacc"):
        share = results[key].rps / results["vplain"].rps
        print(f"  {results[key].name}: {share:.0%} of plain nginx", flush=True)


def _viewer_count(front: str, world: dict) -> int:
    """What the organiser's page is told (its event stream does not count itself)."""
    url = f"{front}/live/{world['live'].slug}/hendelser"
    with httpx.stream("GET", url, verify=False, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                return json.loads(line[6:])["viewers"]
    return -1


def run(viewers: int, seconds: int, events: int, skip_vod: bool) -> None:
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ktl-viewers-")))
        settings, world = _world(folder / "data", viewers)
        t0 = math.floor(time.time()) - HEAD_START
        for part in world["parts"]:
            broadcast = Broadcast(part, t0)
            broadcast.start()
            stack.callback(broadcast.stop.set)
        env = {"KTL_EMBEDDED_WORKER": "0", "KTL_LIVE_CAPTIONS": "0"}
        accel = {**env, "KTL_ACCEL_REDIRECT": "/_media/", "KTL_TRUSTED_PROXIES": "127.0.0.1"}
        log = folder / "serve.log"
        behind = stack.enter_context(serve(settings.data_dir, log, **accel))
        direct = stack.enter_context(serve(settings.data_dir, folder / "direct.log", **env))
        plain_port, nginx_dir = free_port(), folder / "nginx"
        extra = _plain_server(plain_port, nginx_dir, settings.media_dir)
        upstream = urlsplit(behind).port
        nginx = nginxserver.nginx_in_front(nginx_dir, upstream, settings.media_dir, 2, extra)
        front = stack.enter_context(nginx).https
        plain = f"https://127.0.0.1:{plain_port}"
        if events:
            pages = EventStreams(f"{front}/live/{world['live'].slug}/hendelser?ser=1", events)
            pages.start()
            stack.callback(pages.stop.set)
            pages.ready.wait(90)
            print(f"event streams open through nginx: {pages.open} of {events} "
                  f"({pages.failed} failed); the app counts {_viewer_count(front, world)} "
                  "viewers", flush=True)  # fmt: skip
        segment_kb = LIVE_SEGMENT_BYTES // 1000
        print(f"live: {viewers} viewers, {seconds} s per phase, a 1-s segment of "
              f"{segment_kb} kB every second; wrk -t2, TLS", flush=True)  # fmt: skip
        live_phases(front, plain, world, broadcast, viewers, seconds, log)
        if events:
            print(f"event streams still open: {pages.open - pages.failed} of {events}; "
                  f"the app counts {_viewer_count(front, world)} viewers", flush=True)  # fmt: skip
            pages.stop.set()
        if not skip_vod:
            vod_phases(direct, front, plain, world, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="talk pages holding the event stream (default: --viewers)",
    )
    parser.add_argument("--skip-vod", action="store_true", help="only the live phases")
    args = parser.parse_args()
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt install nginx wrk")
    nginxserver.nginx_binary()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    events = args.viewers if args.events is None else args.events
    run(args.viewers, args.seconds, events, args.skip_vod)


if __name__ == "__main__":
    main()
