"""Slides: OCR accuracy, slides found against slides shown, and the time the slide stage
adds per 30 minutes of video. Prints figures; not a test.

    .venv/bin/python benchmarks/slides.py            # about 3 minutes on 2 cores

A generated deck (tests/slidevideo.py: drawtext on coloured backgrounds, Norwegian
letters, names of services and laws, a box moving in a corner, a film between slides) is
run through the real stage (ffmpeg scene detection, Tesseract "nor+eng").
- Character error rate: edit distance between each slide's text and what was read, over
  the length of the text (spaces folded), summed over all slides.
- Found/shown: slides the stage found at the right second (within 1 s) against the slides
  in the video; extra finds (the box, the film) and misses are counted separately.
- Time: the scan (one ffmpeg pass) grows with the length of the video, the reading with the
  number of slides; both are measured and scaled to 30 minutes with 30 and 60 slides.
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.pipeline import slides
from tests import slidevideo
from tests.slidevideo import Clip, Slide

DECK = (
    Slide("Kunnskap til lunsj", ("Helse og omsorg", "Våren 2026"), "navy", 6.0),
    Slide(
        "Hva gjør NAV-kontoret?",
        ("Økonomisk sosialhjelp", "Kvalifiseringsprogrammet"),
        "darkgreen",
        6.0,
    ),
    Slide(
        "Plan- og bygningsloven",
        ("Søknad om tillatelse til tiltak", "Byggesaksforskriften"),
        "white",
        6.0,
        "black",
    ),
    Clip(4.0),
    Slide(
        "Ærlige tall fra KOSTRA",
        ("Årsbudsjett og økonomiplan", "Særskilte tilskudd"),
        "maroon",
        6.0,
    ),
    Slide(
        "Brukermedvirkning",
        ("Pårørende og fastlege", "Hjemmetjenesten på kveldstid"),
        "0xf4f1e8",
        6.0,
        "0x222222",
    ),
    Slide(
        "Spørsmål?", ("Skriv til servicetorget", "Øvre Slottsgate 1, Åsgårdstrand"), "0x1d4f5c", 6.0
    ),
)
REPEAT = 4
SMALL = (
    Slide(
        "Tjenester for eldre",
        (
            "Trygghetsalarm og hjemmesykepleie",
            "Dagsenter på Østsiden",
            "Søknad via NAV og Helsenorge",
            "Vedtak etter helse- og omsorgstjenesteloven",
        ),
        "white",
        6.0,
        "0x1b2a33",
        28,
    ),
)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ktl-slides-bench-"))
    try:
        deck = slidevideo.make(folder / "deck.mp4", DECK + SMALL, repeat=REPEAT)
        truth = slidevideo.slides_of((DECK + SMALL) * REPEAT)
        duration = sum(item.seconds for item in DECK + SMALL) * REPEAT
        started, cpu = time.monotonic(), _cpu()
        detection = slides.scan(deck, folder, duration, None)
        scan_seconds, scan_cpu = time.monotonic() - started, _cpu() - cpu
        media = folder / "media"
        media.mkdir()
        work = slides.Progress(media / slides.WORK)
        work.save_detection(detection)
        started, cpu = time.monotonic(), _cpu()
        found, _ = slides.run_stage(deck, media, duration, "nor+eng", lambda share: None)
        read_seconds, read_cpu = time.monotonic() - started, _cpu() - cpu
        report(
            truth, found, detection, duration, (scan_seconds, scan_cpu), (read_seconds, read_cpu)
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cpu() -> float:
    """CPU seconds of this process and its children (ffmpeg, tesseract): unlike the wall
    clock, not stretched by whatever else the machine is doing."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def report(truth, found, detection, duration, scan, read) -> None:
    matched, errors, chars = 0, 0.0, 0
    for at, slide in truth:
        near = [s for s in found if abs(s.at - at) <= 1.0]
        if near:
            matched += 1
            length = len(" ".join(slide.text.split()))
            errors += slidevideo.cer(slide.text, near[0].text) * length
            chars += length
    headings = sum(
        1
        for at, slide in truth
        for s in found
        if abs(s.at - at) <= 1.0 and s.heading == slide.heading
    )
    print(f"video: {duration:.0f} s, 1280x720, {len(truth)} slides shown, a film and a moving box")
    print(f"scene candidates (ffmpeg score > {slides.SCENE_THRESHOLD}): {detection.candidates}")
    print(f"slides found: {len(found)}; at the right second: {matched} of {len(truth)} shown; "
          f"extra: {len(found) - matched}; missed: {len(truth) - matched}")  # fmt: skip
    print(f"OCR character error rate: {100 * errors / max(1, chars):.2f} % over {chars} characters")
    print(f"headings read exactly: {headings} of {matched}")
    for name, (wall, cpu) in (("scan", scan), ("reading", read)):
        print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    for label, index in (("wall", 0), ("CPU", 1)):
        scan_30 = scan[index] * 1800 / duration
        slide = read[index] / max(1, len(found))
        for count in (30, 60):
            print(f"per 30 minutes with {count} slides ({label}): {scan_30 + slide * count:.0f} s "
                  f"(scan {scan_30:.0f} s + reading {slide * count:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
