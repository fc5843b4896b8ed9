"""Live broadcasting, measured end to end on 127.0.0.1 in one run.

    .venv/bin/python benchmarks/live.py [--viewers 500] [--seconds 60]
        [--parts load,captions,glass,join] [--join-minutes 30]

Starts the real server (`ktl serve`, live captions on, no pipeline worker) on a fresh data
folder with an organiser and three public talks, then:

- load: an encoder publishes a 640x360 test pattern with a tone over SRT; N simulated
  viewers (asyncio, httpx, one connection pool, a cookie jar each) loop for --seconds:
  fetch the live playlist, fetch each segment not fetched yet (on joining only the newest,
  as hls.js does with liveSyncDurationCount 1), wait until one second after the previous
  playlist fetch. Then the same load against a plain Starlette StaticFiles server of the
  same part folder (ffmpeg's own stream.m3u8 and its segments) while the same publisher
  goes on. Prints requests, errors, p50/p99 per request (send to last byte) and app/static.
- captions: espeak-ng English speech (about 40 s) published in real time (-re) over SRT;
  the events stream (SSE) is read; for each caption, delay = arrival - (publisher start +
  caption end), i.e. how long after the words were spoken (on the publisher's clock) the
  line reached a viewer. The first caption is shown apart: it may include loading Whisper.
- glass: glass-to-glass through the browser path as staff would use it: the organiser's
  Chromium gets a canvas for a camera that draws Date.now() as a 40-block barcode every
  frame (and an oscillator for a microphone), signs in and clicks "Start sending"
  (MediaRecorder over the WebSocket); a second Chromium opens the talk page and clicks
  "Se direkte" (hls.js); the viewer page draws the playing video to a canvas, reads the
  barcode, and compares it with its own Date.now() (same machine, same clock).

- join: the end of a broadcast: --join-minutes (30) of 1-s segments made by ffmpeg's hls
  muxer (640x360) joined into the recording's MP4 as the server does.

Each broadcast is ended after its part, so its captioner stops (live captions do run on
the load run's tone, as they would on a real talk). Not a test: nothing is asserted.
Client, server, encoders and browsers share this machine's cores, so the figures are
upper bounds for a server that has the machine to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import talks  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.store import db as database  # noqa: E402
from tests.factories import LONG_ENGLISH_SPEECH, speech_wav  # noqa: E402
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, free_port, serve  # noqa: E402
from tests.webclient import PASSWORD, make_user  # noqa: E402

PARTS = ("load", "captions", "glass", "join")
STATIC_APP = """
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/", StaticFiles(directory={directory!r}))])
"""


@dataclass
class World:
    data: Path
    email: str
    slugs: dict[str, str]
    ids: dict[str, int]


def _world(data: Path) -> World:
    settings = load_settings({"KTL_DATA_DIR": str(data)})
    settings.ensure_dirs()
    database.init(settings.db_path)
    organiser = make_user(settings, "organiser")
    slugs, ids = {}, {}
    with database.session(settings.db_path) as db:
        for part in PARTS:
            talk = talks.create(
                db,
                talks.TalkInput(title=f"Måling {part}", visibility="public", language="en"),
                organiser,
            )
            slugs[part], ids[part] = talk.slug, talk.id
    return World(data, organiser.email, slugs, ids)


# ---------------------------------------------------------------- the organiser over HTTP


def _csrf(html: str) -> str:
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', html).group(1)


def _login(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = _csrf(client.get("/logg-inn").text)
    client.post("/logg-inn", data={"email": email, "password": PASSWORD, "csrf_token": token})
    return client


def _open_srt(client: httpx.Client, slug: str) -> str:
    page = client.get(f"/talks/{slug}/direkte")
    page.raise_for_status()
    client.post(f"/talks/{slug}/direkte/koder", data={"csrf_token": _csrf(page.text)})
    page = client.get(f"/talks/{slug}/direkte")
    found = re.search(r'id="srt-url">([^<]+)<', page.text)
    if not found:
        raise RuntimeError("the organiser page shows no SRT address")
    return found.group(1).replace("&amp;", "&")


def _end(client: httpx.Client, slug: str) -> None:
    """End the broadcast (stops its captioner; no pipeline worker runs here)."""
    token = _csrf(client.get(f"/talks/{slug}/direkte").text)
    client.post(f"/talks/{slug}/direkte/avslutt", data={"csrf_token": token})


def _publish(url: str, inputs: list[str], seconds: float | None = None) -> subprocess.Popen:
    limit = ["-t", str(seconds)] if seconds else []
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", *inputs, *limit,
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", url],
    )  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_for_segments(url: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).text.count("#EXTINF") >= count:
                return
        time.sleep(0.5)
    raise RuntimeError(f"no live segments at {url} after {timeout:.0f} s")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# ---------------------------------------------------------------- load


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # ms
    errors: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


async def _get(client: httpx.AsyncClient, url: str, load: Load) -> str | None:
    start = time.perf_counter()
    try:
        response = await client.get(url)
        body = response.content
    except httpx.HTTPError as exc:
        load.error(type(exc).__name__)
        return None
    load.latencies.append((time.perf_counter() - start) * 1000)
    if response.status_code != 200:
        load.error(f"HTTP {response.status_code}")
        return None
    return body.decode("latin-1") if url.endswith(".m3u8") else ""


async def _viewer(transport: httpx.AsyncHTTPTransport, playlist: str, stop: float, load: Load):
    client = httpx.AsyncClient(transport=transport, timeout=15)  # own cookies, shared pool
    await asyncio.sleep(random.random())  # viewers arrive spread over a second
    seen: set[str] = set()
    while time.monotonic() < stop:
        started = time.monotonic()
        text = await _get(client, playlist, load)
        if text is not None:
            uris = [line for line in text.splitlines() if line and not line.startswith("#")]
            if not seen and uris:
                seen.update(uris[:-1])
            for uri in uris:
                if uri not in seen and time.monotonic() < stop:
                    seen.add(uri)
                    await _get(client, urljoin(playlist, uri), load)
        await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()))


async def _load_run(playlist: str, viewers: int, seconds: float) -> Load:
    load = Load()
    limits = httpx.Limits(max_connections=viewers + 10, max_keepalive_connections=viewers + 10)
    async with httpx.AsyncHTTPTransport(limits=limits) as transport:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(_viewer(transport, playlist, stop, load) for _ in range(viewers)))
    return load


def _print_load(name: str, load: Load, seconds: float) -> None:
    if not load.latencies:
        print(f"  {name:28s} no successful requests; errors {load.errors} {load.kinds}")
        return
    total = len(load.latencies) + sum(v for k, v in load.kinds.items() if k[:4] != "HTTP")
    print(
        f"  {name:28s} requests {total:7d} ({total / seconds:6.0f}/s)  errors {load.errors:5d}"
        f"  p50 {_pct(load.latencies, 0.5):8.1f} ms  p99 {_pct(load.latencies, 0.99):8.1f} ms"
        + (f"  {load.kinds}" if load.kinds else "")
    )


@contextlib.contextmanager
def _static_server(folder: Path, scratch: Path) -> Iterator[str]:
    port = free_port()
    (scratch / "static_app.py").write_text(STATIC_APP.format(directory=str(folder)))
    log = (scratch / "static.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "static_app:app", "--port", str(port),
         "--app-dir", str(scratch)],  # access log on, as `ktl serve` has it
        cwd=scratch, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_segments(base + "/stream.m3u8", 1, timeout=30)
        yield base
    finally:
        _stop(process)
        log.close()


def bench_load(base: str, world: World, scratch: Path, viewers: int, seconds: float) -> None:
    print(f"\nLoad: {viewers} simulated viewers for {seconds:.0f} s each run, on 127.0.0.1")
    client = _login(base, world.email)
    url = _open_srt(client, world.slugs["load"])
    publisher = _publish(
        url,
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
    )  # fmt: skip
    try:
        playlist = f"{base}/live/{world.slugs['load']}/index.m3u8"
        _wait_for_segments(playlist, 6)
        app = asyncio.run(_load_run(playlist, viewers, seconds))
        folder = world.data / "media" / str(world.ids["load"]) / "live" / "part-0001"
        with _static_server(folder, scratch) as static_base:
            static = asyncio.run(_load_run(static_base + "/stream.m3u8", viewers, seconds))
            capacity = _capacity(playlist, static_base, folder) if shutil.which("wrk") else None
        sizes = [p.stat().st_size for p in folder.glob("seg-*.ts")]
    finally:
        _stop(publisher)
        _end(client, world.slugs["load"])
    print(f"  offered: about {2 * viewers} requests/s (a playlist and a segment per viewer)")
    print(f"  segments: 1 s, mean {statistics.mean(sizes) / 1024:.0f} KiB (640x360 + AAC)")
    _print_load("app (/live/…, talk guard)", app, seconds)
    _print_load("plain StaticFiles, same files", static, seconds)
    if app.latencies and static.latencies:
        for p, label in ((0.5, "p50"), (0.99, "p99")):
            ratio = _pct(app.latencies, p) / _pct(static.latencies, p)
            print(f"  ratio app/static {label}: {ratio:.2f}")
    _print_capacity(capacity)
    print(
        f"  note: the {viewers} viewers run in one Python process on the same "
        f"{os.cpu_count()}-core machine as the server, its ffmpeg, the publisher and live "
        "captions, so the client's own queueing is in both figures."
    )


WRK_SECONDS = 15
WRK_CONNECTIONS = 200


def _wrk(url: str) -> dict[str, str]:
    """Requests/s and latency percentiles from wrk (a C load generator: the client costs
    far less than the server, unlike the Python viewers above)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency", url],
        capture_output=True, text=True, timeout=WRK_SECONDS + 30,
    ).stdout  # fmt: skip
    figures = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out)}
    for p in ("50%", "99%"):
        figures[p] = re.search(rf"^\s+{p}\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    result = {k: m.group(1) if m else "?" for k, m in figures.items()}
    result["errors"] = errors.group(0) if errors else "none"
    return result


def _capacity(playlist: str, static_base: str, folder: Path) -> dict[str, dict]:
    newest = sorted(folder.glob("seg-*.ts"))[-2].name  # complete, and still in the window
    app_segment = urljoin(playlist, f"part-0001/{newest}")
    return {
        "segment, app": _wrk(app_segment),
        "segment, static": _wrk(f"{static_base}/{newest}"),
        "playlist, app": _wrk(playlist),
        "playlist, static": _wrk(f"{static_base}/stream.m3u8"),
    }


def _print_capacity(capacity: dict[str, dict] | None) -> None:
    if capacity is None:
        print("  capacity: wrk is not installed (apt install wrk) - skipped")
        return
    print(f"  capacity with wrk ({WRK_CONNECTIONS} connections, {WRK_SECONDS} s, one URL each):")
    for name, figures in capacity.items():
        print(f"    {name:18s} {figures['rps']:>9s} requests/s  p50 {figures['50%']:>8s}"
              f"  p99 {figures['99%']:>8s}  errors: {figures['errors']}")  # fmt: skip
    for kind in ("segment", "playlist"):
        app, static = capacity[f"{kind}, app"]["rps"], capacity[f"{kind}, static"]["rps"]
        if app != "?" and static != "?":
            print(f"    {kind}: app/static throughput {float(app) / float(static):.2f}")


# ---------------------------------------------------------------- joining the parts


def bench_join(scratch: Path, minutes: float) -> None:
    """How long the end of a broadcast takes: the segments of a talk of this length
    (made by ffmpeg's hls muxer as the live path does, 640x360) joined into the MP4."""
    from server.live.manager import join_segments
    from server.live.playlist import PartReader

    print(f"\nJoining a {minutes:.0f}-minute broadcast into its recording")
    live = scratch / "join"
    part = live / "part-0001"
    part.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(minutes * 60), "-c:v", "libx264", "-preset", "ultrafast",
         "-force_key_frames", "expr:gte(t,n_forced*1)", "-c:a", "aac", "-f", "hls",
         "-hls_time", "1", "-hls_list_size", "0", "-hls_segment_type", "mpegts",
         "-hls_segment_filename", str(part / "seg-%05d.ts"), str(part / "stream.m3u8")],
        check=True,
    )  # fmt: skip
    size = sum(p.stat().st_size for p in part.glob("seg-*.ts"))
    started = time.perf_counter()
    recording = join_segments([part], PartReader(), live)
    seconds = time.perf_counter() - started
    count = len(list(part.glob("seg-*.ts")))
    print(f"  {count} segments, {size / 1e6:.0f} MB → {recording.stat().st_size / 1e6:.0f} MB MP4"
          f" in {seconds:.1f} s")  # fmt: skip
    shutil.rmtree(live, ignore_errors=True)


# ---------------------------------------------------------------- caption delay


def _read_captions(url: str, until: float, arrivals: list[tuple[float, dict]]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        timeout = httpx.Timeout(30, read=max(1.0, until - time.time()))
        with httpx.stream("GET", url, timeout=timeout) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "caption":
                    arrivals.append((time.time(), json.loads(line[5:])))
                if time.time() > until:
                    return


def bench_captions(base: str, world: World, scratch: Path) -> None:
    print("\nLive caption delay (SRT publisher, espeak-ng English, Whisper on the server)")
    wav = speech_wav(scratch / "speech.wav", LONG_ENGLISH_SPEECH)
    probe = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    seconds = float(subprocess.run([*probe, str(wav)], capture_output=True, text=True).stdout)
    client = _login(base, world.email)
    url = _open_srt(client, world.slugs["captions"])
    arrivals: list[tuple[float, dict]] = []
    events = f"{base}/live/{world.slugs['captions']}/hendelser"
    reader = threading.Thread(
        target=_read_captions, args=(events, time.time() + seconds + 30, arrivals), daemon=True
    )
    reader.start()
    time.sleep(1)
    started = time.time()
    publisher = _publish(
        url,
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-i", str(wav),
         "-map", "0:v", "-map", "1:a", "-shortest"],
    )  # fmt: skip
    publisher.wait()
    reader.join()
    _end(client, world.slugs["captions"])
    if not arrivals:
        print("  no caption arrived (is Whisper in the model cache? see the server log)")
        return
    delays = [(at - (started + caption["end"]), caption) for at, caption in arrivals]
    print(f"  speech {seconds:.0f} s; reference: publisher start (ffmpeg -re) + caption end")
    first, rest = delays[0], [d for d, _ in delays[1:]]
    print(f"  captions {len(delays)}; first {first[0]:.1f} s (may include loading Whisper)")
    if rest:
        print(f"  after the first: median {statistics.median(rest):.1f} s, max {max(rest):.1f} s")
    for delay, caption in delays:
        span = f"{caption['start']:5.1f}-{caption['end']:5.1f}"
        print(f"    {delay:5.1f} s  [{span}] {caption['text']}")


# ---------------------------------------------------------------- glass to glass

CAMERA = """
(() => {
  function fake() {
    const canvas = document.createElement("canvas");
    canvas.width = 640; canvas.height = 360;
    const g = canvas.getContext("2d");
    const draw = () => {
      const now = Date.now() % 2 ** 40;
      g.fillStyle = "#808080"; g.fillRect(0, 0, 640, 360);
      for (let i = 0; i < 40; i++) {
        g.fillStyle = Math.floor(now / 2 ** i) % 2 ? "#ffffff" : "#000000";
        g.fillRect((i % 8) * 80 + 6, Math.floor(i / 8) * 72 + 6, 68, 60);
      }
    };
    draw(); setInterval(draw, 5);
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const out = audio.createMediaStreamDestination();
    tone.connect(out); tone.start();
    return new MediaStream([...canvas.captureStream(25).getVideoTracks(),
                            ...out.stream.getAudioTracks()]);
  }
  navigator.mediaDevices.getUserMedia = async () => fake();
})();
"""

READ_BARCODE = """
() => {
  const v = document.getElementById("live-video");
  if (!v || v.readyState < 2 || !v.videoWidth || v.paused) return null;
  const c = window.__bench || (window.__bench = document.createElement("canvas"));
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(v, 0, 0);
  const now = Date.now() % 2 ** 40;
  const w = c.width / 8, h = c.height / 5;
  let stamp = 0;
  for (let i = 0; i < 40; i++) {
    const x = Math.floor((i % 8) * w + w / 2) - 4;
    const y = Math.floor(Math.floor(i / 8) * h + h / 2) - 4;
    const d = g.getImageData(x, y, 8, 8).data;
    let sum = 0;
    for (let k = 0; k < d.length; k += 4) sum += d[k] + d[k + 1] + d[k + 2];
    if (sum / (d.length / 4) / 3 > 128) stamp += 2 ** i;
  }
  const end = v.seekable.length ? v.seekable.end(v.seekable.length - 1) : NaN;
  return { latency: now - stamp, behind: end - v.currentTime };
}
"""


def bench_glass(base: str, world: World, samples: int) -> None:
    print("\nGlass to glass (browser → WebSocket → server → HLS → hls.js in a second browser)")
    from playwright.sync_api import sync_playwright

    slug = world.slugs["glass"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        organiser = browser.new_context(base_url=base)
        organiser.add_init_script(CAMERA)
        sender = organiser.new_page()
        sender.goto("/logg-inn")
        sender.fill("input[name=email]", world.email)
        sender.fill("input[name=password]", PASSWORD)
        sender.locator("input[name=password]").press("Enter")
        sender.wait_for_load_state()
        sender.goto(f"/talks/{slug}/direkte")
        sender.click("#live-start")
        _wait_for_segments(f"{base}/live/{slug}/index.m3u8", 2)
        viewer = browser.new_context(base_url=base).new_page()
        viewer.goto(f"/talks/{slug}")
        viewer.click("#live-join")
        results = _sample_barcode(viewer, samples)
        browser.close()
    _end(_login(base, world.email), slug)
    _print_glass(results, samples)


def _sample_barcode(viewer, samples: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and viewer.evaluate(READ_BARCODE) is None:
        time.sleep(0.5)
    time.sleep(10)  # let hls.js settle at its live position
    results = []
    for _ in range(samples):
        reading = viewer.evaluate(READ_BARCODE)
        if reading is not None:
            results.append(reading)
        time.sleep(0.5)
    return results


def _print_glass(results: list[dict], samples: int) -> None:
    valid = [r["latency"] for r in results if 0 < r["latency"] < 60_000]
    print("  method: Date.now() burnt into the picture as a barcode, read back in the viewer")
    print(f"  samples read {len(valid)} of {samples} ({len(results) - len(valid)} undecodable)")
    if not valid:
        print("  no usable reading: the video did not play or the barcode did not survive")
        return
    print(
        f"  glass to glass: median {statistics.median(valid):.0f} ms, "
        f"min {min(valid):.0f} ms, max {max(valid):.0f} ms"
    )
    behind = [r["behind"] for r in results if r.get("behind") == r.get("behind")]
    if behind:
        print(f"  player's own view: {statistics.median(behind):.2f} s behind the live edge")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--samples", type=int, default=20, help="glass-to-glass readings")
    parser.add_argument("--parts", default=",".join(PARTS), help="any of load,captions,glass,join")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    parser.add_argument("--join-minutes", type=float, default=30, help="length for the join part")
    args = parser.parse_args()
    wanted = [p for p in args.parts.split(",") if p in PARTS]
    scratch = Path(tempfile.mkdtemp(prefix="ktl-live-bench-"))
    world = _world(scratch / "data")
    log = scratch / "server.log"
    env = {
        "KTL_SRT_BIND": "127.0.0.1",
        "KTL_SRT_PORTS": f"{(port := free_port())}-{port + 5}",
        "KTL_EMBEDDED_WORKER": "0",
        "KTL_LIVE_CAPTIONS": os.environ.get("KTL_LIVE_CAPTIONS", "1"),
    }
    try:
        with serve(world.data, log, **env) as base:
            print(f"server {base}, SRT ports {env['KTL_SRT_PORTS']}, log {log}")
            for part in wanted:
                try:
                    if part == "load":
                        bench_load(base, world, scratch, args.viewers, args.seconds)
                    elif part == "captions":
                        bench_captions(base, world, scratch)
                    elif part == "join":
                        bench_join(scratch, args.join_minutes)
                    else:
                        bench_glass(base, world, args.samples)
                except Exception as exc:  # report and go on with the next part
                    print(f"  {part} failed: {type(exc).__name__}: {exc}")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
