"""The pages under load: 1,000 talks (100 with a 30-minute transcript) served by `ktl serve`.

    .venv/bin/python benchmarks/pages.py [--seconds 10] [--connections 200] [--requests 100]
                                         [--with-worker] [--data-dir DIR] [--pages archive,...]

Builds a data folder through the store and the domain code (talk rows, transcripts written
and indexed as the worker would, not through the pipeline), starts `ktl serve` on it and,
in the same run, a plain Starlette handler that returns a static string. For the front page,
the archive, a talk page with a transcript, a search and the programme, as a guest and
signed in: sequential p50/p95 (one client, keep-alive), then wrk with --connections
clients for --seconds: requests/s, p50/p99 and errors (socket errors and non-2xx/3xx
answers). With --with-worker the app's own worker transcribes a recording meanwhile
(needs espeak-ng, ffmpeg and the Whisper model). Goals (issue 11): sequential p95 <= 50 ms;
200 clients p99 <= 1 s with 0 errors. Not a test: nothing is asserted, figures are printed.
Needs Debian's wrk (bash scripts/install.sh --dev).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import search, talks  # noqa: E402
from server.core.config import Settings, load_settings  # noqa: E402
from server.people import accounts  # noqa: E402
from server.store import Store  # noqa: E402
from server.transcript import model as transcript  # noqa: E402

TALKS, WITH_TRANSCRIPT, UPCOMING = 1000, 100, 40
TALK_MINUTES = 30
SEARCH_WORD = "barnehage"
DEPARTMENTS = ("Oppvekst", "Helse og omsorg", "Teknisk", "Kultur", "Økonomi", "Plan og bygg")
TOPICS = str.split(
    "kommunen barnehage skole helse omsorg vann avløp vei byggesak plan budsjett innbygger "
    "tjeneste vedtak søknad tilskudd beredskap klima energi bolig eldre ungdom familie "
    "arbeid frivillighet bibliotek kultur idrett samarbeid digital sikkerhet personvern "
    "arkiv økonomi regnskap innkjøp kontrakt rådmann politikk utvalg høring rapport"
)
SMALL = str.split("og i det som er på en for til av med at ikke har vi de om så kan var skal")
SYLLABLES = str.split("ba ne ha ge kom mu ne sko le hel se om sorg tje nes te plan bud sjett")
# Words as speech has them: small words most, then a long tail (rank-weighted, Zipf-like).
VOCABULARY = [*SMALL, *TOPICS] + [
    a + b + c for a in SYLLABLES[:12] for b in SYLLABLES for c in ("", "r", "n", "ne", "t")
]
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
PLAIN_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def hello(request):
    return PlainTextResponse("Kunnskap til lunsj")

app = Starlette(routes=[Route("/", hello)])
"""


@dataclass(frozen=True)
class World:
    talk_slug: str
    session: str  # a signed-in viewer's session token


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _sentence(rng: random.Random) -> str:
    words = rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def _transcript(rng: random.Random) -> transcript.Transcript:
    segments, at = [], 0.0
    while at < TALK_MINUTES * 60:
        text = _sentence(rng)
        length = 0.3 * len(text.split())
        step = length / len(text.split())
        words = tuple(
            transcript.Word(round(at + i * step, 2), round(at + (i + 1) * step, 2), f" {w}")
            for i, w in enumerate(text.split())
        )
        segments.append(transcript.Segment(round(at, 2), round(at + length, 2), text, words))
        at += length + 0.4
    return transcript.Transcript("no", tuple(segments), at, "base")


def _talk_row(n: int, rng: random.Random) -> dict:
    upcoming = n >= TALKS - UPCOMING
    day = time.gmtime(time.time() + (n - (TALKS - UPCOMING) + 1) * 86400 * 3)
    starts = time.strftime("%Y-%m-%dT11:30", day) if upcoming else f"20{10 + n % 15}-03-01T11:30"
    return {
        "slug": f"foredrag-{n:04d}", "title": f"{_sentence(rng)[:60]} ({n})",
        "speaker": f"Foredragsholder {n % 37}", "department": DEPARTMENTS[n % len(DEPARTMENTS)],
        "starts_at": starts, "description": " ".join(_sentence(rng) for _ in range(3)),
        "language": "nb", "visibility": "public" if n % 2 == 0 else "internal",
        "status": "planned" if upcoming else "ready", "created_at": _now(), "updated_at": _now(),
    }  # fmt: skip


def _recording(talk_id: int) -> dict:
    return {
        "talk_id": talk_id, "original_name": "opptak.mp4", "path": "original.mp4",
        "size": 250_000_000, "duration": TALK_MINUTES * 60.0, "has_video": 1,
        "video_codec": "h264", "pix_fmt": "yuv420p", "audio_codec": "aac", "width": 1280,
        "height": 720, "created_at": _now(),
    }  # fmt: skip


def build(settings: Settings) -> World:
    """1,000 talks in one write unit; 100 of them with a transcript on disk and in the index."""
    rng = random.Random(11)
    store = Store(settings.db_path)
    store.init()
    with store.write() as db:
        ids = [db["talks"].insert(_talk_row(n, rng)).last_pk for n in range(TALKS)]
        ready = ids[: TALKS - UPCOMING]
        db["recordings"].insert_all(_recording(i) for i in ready)
        for talk_id in ready:
            search.index_talk_metadata(db, talk_id)
    with_transcript = ready[-2 * WITH_TRANSCRIPT :: 2][:WITH_TRANSCRIPT]  # the newest public
    for talk_id in with_transcript:
        text = _transcript(rng)
        transcript.write_all(talks.transcript_dir(settings, talk_id), text)
        with store.read() as db:
            search.index_talk(db, talk_id, text.segments, "nb")
    with store.read() as db:
        user = accounts.create_user(db, "kari@kommune.no", "Kari", "viewer", "Oppvekst")
        token = accounts.start_session(db, user.id, 24)
        slug = db.execute("SELECT slug FROM talks WHERE id = ?", [with_transcript[-1]]).fetchone()
    store.close()
    return World(slug[0], token)


def reuse(settings: Settings) -> World:
    """A data folder built by an earlier run (--data-dir): a new session for its viewer."""
    store = Store(settings.db_path)
    with store.read() as db:
        user = db.execute("SELECT id FROM users WHERE email = 'kari@kommune.no'").fetchone()
        token = accounts.start_session(db, user[0], 24)
        slug = db.execute(  # a built talk, not one an earlier --with-worker run transcribed
            "SELECT slug FROM talks WHERE id = (SELECT max(talk_id) FROM search_segments "
            "WHERE talk_id IN (SELECT id FROM talks WHERE slug LIKE 'foredrag-%'))"
        ).fetchone()
    store.close()
    return World(slug[0], token)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if process.poll() is not None:
            sys.exit(f"the server stopped:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def serve_app(data: Path, port: int, worker: bool, log: Path) -> subprocess.Popen:
    """`ktl serve` as an operator starts it (its own worker only with --with-worker)."""
    env = {**os.environ, "KTL_DATA_DIR": str(data), "KTL_HOST": "127.0.0.1",
           "KTL_PORT": str(port), "KTL_EMBEDDED_WORKER": "1" if worker else "0"}  # fmt: skip
    command = [sys.executable, "-m", "server.cli", "serve"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def serve_plain(folder: Path, port: int, log: Path) -> subprocess.Popen:
    (folder / "plain_app.py").write_text(PLAIN_APP)
    command = [sys.executable, "-m", "uvicorn", "plain_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, cwd=folder, stdout=log.open("w"), stderr=subprocess.STDOUT)


def sequential(url: str, cookies: dict, requests: int) -> tuple[float, float, int]:
    """p50 and p95 in ms of `requests` one after another, and the page's size in bytes."""
    with httpx.Client(cookies=cookies, timeout=600) as client:
        for _ in range(3):  # the first also waits out what the last wrk run left queued
            client.get(url)
        times, size = [], 0
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")
            size = len(response.content)
    return statistics.median(times), statistics.quantiles(times, n=20)[18], size


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url: str, connections: int, seconds: int, cookie: str | None) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if os.environ.get("KTL_BENCH_RAW"):
        print(out, flush=True)
    pct = {k: _ms(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M)}
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(map(int, sockets.groups())) if sockets else 0
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": pct.get("50", float("nan")), "p99": pct.get("99", float("nan")),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)), "errors": errors,
    }  # fmt: skip


def start_transcription(settings: Settings, folder: Path) -> int:
    """A 10-minute spoken recording imported as an organiser would; the app's worker takes it."""
    from server.cli import import_recording

    speech, audio = folder / "tale.wav", folder / "opptak.m4a"
    text = " ".join(_sentence(random.Random(5)) for _ in range(12))
    subprocess.run(["espeak-ng", "-v", "nb", "-w", str(speech), text], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(speech),
                    "-t", "600", "-c:a", "aac", str(audio)], check=True)  # fmt: skip
    data = talks.TalkInput(title="Benchmark med arbeider", visibility="public")
    talk = import_recording(settings, audio, data)
    return talk.id


def _pages(world: World) -> list[tuple[str, str]]:
    return [
        ("front page", "/"),
        ("archive", "/arkiv"),
        ("talk page (transcript)", f"/talks/{world.talk_slug}"),
        ("search", f"/sok?q={SEARCH_WORD}"),
        ("programme", "/program"),
    ]


def run(args: argparse.Namespace) -> None:
    for tool in ("wrk",) + (("espeak-ng", "ffmpeg") if args.with_worker else ()):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: bash scripts/install.sh --dev")
    folder = Path(tempfile.mkdtemp(prefix="ktl-pages-"))
    data = Path(args.data_dir) if args.data_dir else folder / "data"
    settings = load_settings(env={}, data_dir=data)
    settings.ensure_dirs()
    started = time.perf_counter()
    world = reuse(settings) if settings.db_path.exists() else build(settings)
    print(f"Data: {TALKS} talks ({WITH_TRANSCRIPT} with a {TALK_MINUTES}-minute transcript) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    app_port, plain_port = _port(), _port()
    app = serve_app(data, app_port, args.with_worker, folder / "app.log")
    plain = serve_plain(folder, plain_port, folder / "plain.log")
    try:
        base, plain_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{plain_port}/"
        _wait(base + "/", app, folder / "app.log")
        _wait(plain_url, plain, folder / "plain.log")
        if args.with_worker:
            talk_id = start_transcription(settings, folder)
            print(f"Transcribing talk {talk_id} in the app's worker meanwhile", flush=True)
        measure(base, plain_url, world, args)
        if args.with_worker:
            _report_worker(settings, talk_id)
    finally:
        for process in (app, plain):
            process.terminate()
            process.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _report_worker(settings: Settings, talk_id: int) -> None:
    store = Store(settings.db_path)
    with store.read() as db:
        row = db.execute("SELECT state, stage, progress FROM jobs WHERE talk_id = ? "
                         "ORDER BY id DESC LIMIT 1", [talk_id]).fetchone()  # fmt: skip
    store.close()
    print(f"The worker's job after the run: {tuple(row) if row else None}")


def measure(base: str, plain_url: str, world: World, args: argparse.Namespace) -> None:
    roles = [("guest", {}, None), ("signed in", {"ktl_session": world.session},
             f"ktl_session={world.session}")]  # fmt: skip
    rows = []
    p50, p95, size = sequential(plain_url, {}, args.requests)
    load = wrk(plain_url, args.connections, args.seconds, None)
    rows.append(("plain Starlette handler", "-", p50, p95, size, load))
    _print_row(rows[-1])
    for page, path in _pages(world):
        if args.pages and not any(page.startswith(name) for name in args.pages.split(",")):
            continue
        for role, cookies, cookie in roles:
            p50, p95, size = sequential(base + path, cookies, args.requests)
            load = wrk(base + path, args.connections, args.seconds, cookie)
            rows.append((page, role, p50, p95, size, load))
            _print_row(rows[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


HEADER = False


def _print_row(row: tuple) -> None:
    global HEADER
    if not HEADER:
        HEADER = True
        print(f"\n{'page':<24} {'as':<9} {'seq p50':>8} {'seq p95':>8} {'kB':>6} | "
              f"{'req/s':>6} {'p50':>8} {'p99':>8} {'errors':>6}")  # fmt: skip
    page, role, p50, p95, size, load = row
    under_load = (
        f"{load['rps']:>6.0f} {load['p50']:>6.0f}ms {load['p99']:>6.0f}ms {load['errors']:>6}"
        if load["requests"]
        else "  none answered within the run"
    )
    print(f"{page:<24} {role:<9} {p50:>6.1f}ms {p95:>6.1f}ms {size / 1024:>6.0f} | "
          f"{under_load}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk's length per page")
    parser.add_argument("--connections", type=int, default=200, help="wrk's clients at once")
    parser.add_argument("--requests", type=int, default=100, help="sequential requests per page")
    parser.add_argument("--with-worker", action="store_true", help="transcribe meanwhile")
    parser.add_argument(
        "--data-dir", help="build the data here, or reuse what an earlier run built"
    )
    parser.add_argument(
        "--pages", help="only these pages, by the start of their names: archive,programme"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
