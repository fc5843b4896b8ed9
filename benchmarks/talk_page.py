"""The talk page of a 30-minute talk: bytes of its HTML, time to first paint in Chromium, and
when the whole transcript is in the panel.

    .venv/bin/python benchmarks/talk_page.py [--minutes 30] [--rounds 7]

Runs `ktl serve` on a fresh data folder with one public, ready talk whose transcript has a
line every 4.5 s (a 30-minute talk: 400 lines). Run it on two commits to compare. Not a test:
it prints figures; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.catalogue import talks
from server.core.config import load_settings
from server.store import db as database
from server.store import write
from server.transcript import model as transcript
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, serve

WORDS = [
    "kommunen",
    "barnehagen",
    "søknaden",
    "vedtaket",
    "innbyggerne",
    "tjenesten",
    "avdelingen",
    "budsjettet",
    "planen",
    "saken",
    "skolen",
    "helsestasjonen",
    "biblioteket",
    "brannvesenet",
    "vannverket",
    "veien",
]


def line(n: int) -> str:
    """A sentence of 12 to 16 words, like one transcript segment."""
    words = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(12 + n % 5)]
    return " ".join(words).capitalize() + "."


def make_talk(data_dir: Path, minutes: float) -> tuple[str, int]:
    settings = load_settings(env={}, data_dir=data_dir)
    settings.ensure_dirs()
    database.init(settings.db_path)
    seconds = minutes * 60
    count = int(seconds / 4.5)
    segments = tuple(transcript.Segment(i * 4.5, i * 4.5 + 4.4, line(i)) for i in range(count))
    with database.session(settings.db_path) as db:
        talk = talks.create(db, talks.TalkInput(title="Lang tale", visibility="public"))
        with write(db):
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, created_at) VALUES (?, 'a.mp4', 'original.mp4', 1, ?, 1, '2026')",
                [talk.id, seconds],
            )
            db.execute("UPDATE talks SET status = 'ready' WHERE id = ?", [talk.id])
    transcript.write_all(
        settings.transcripts_dir / str(talk.id),
        transcript.Transcript(language="nb", segments=segments),
    )
    return talk.slug, count


def html_figures(url: str, rounds: int) -> tuple[int, float]:
    times, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            size = len(response.read())
        times.append((time.perf_counter() - started) * 1000)
    return size, statistics.median(times)


LOAD = "performance.timing.loadEventEnd - performance.timing.navigationStart"
PAINT = """() => {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return paint ? paint.startTime : null;
}"""


# A phone on a middling mobile connection (Chromium's "Fast 3G"-like figures).
SLOW = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
        "uploadThroughput": 750_000 / 8}  # fmt: skip


def browser_figures(url: str, count: int, rounds: int, slow: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    paints, complete, loads = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(rounds):
            page = browser.new_page(bypass_csp=True)  # wait_for_function evaluates
            if slow:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", SLOW)
            started = time.perf_counter()
            page.goto(url, wait_until="load")
            loads.append(page.evaluate(LOAD))
            page.wait_for_function(
                f"() => document.querySelectorAll('#transcript-lines li').length >= {count}"
            )
            complete.append((time.perf_counter() - started) * 1000)
            paints.append(page.evaluate(PAINT))
            page.close()
        browser.close()
    return {
        "first_contentful_paint_ms": statistics.median(paints),
        "load_event_ms": statistics.median(loads),
        "whole_transcript_in_panel_ms": statistics.median(complete),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
        cwd=Path(__file__).parent,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        slug, count = make_talk(data, args.minutes)
        with serve(data, Path(tmp) / "serve.log") as base:
            url = f"{base}/talks/{slug}"
            size, html_ms = html_figures(url, args.rounds)
            fast = browser_figures(url, count, args.rounds)
            slow = browser_figures(url, count, args.rounds, slow=True)
    print(f"commit {commit}: talk page of a {args.minutes:g}-minute talk, {count} transcript lines")
    print(f"  HTML {size / 1024:.1f} KiB, served in {html_ms:.1f} ms (median of {args.rounds})")
    for name, figures in (("local", fast), ("1.6 Mbit/s, 150 ms", slow)):
        print(f"  {name}: first contentful paint {figures['first_contentful_paint_ms']:.0f} ms, "
              f"load event {figures['load_event_ms']:.0f} ms, whole transcript in the panel "
              f"{figures['whole_transcript_in_panel_ms']:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
