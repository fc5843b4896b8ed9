"""Slides in a recording: where they change and what they say.

Finding them: one ffmpeg pass (server.pipeline.ffargs.slide_scan) shrinks the video to
SCAN_SIZE grey frames at SCAN_FPS and prints ffmpeg's scene score for each. A frame whose
score passes SCENE_THRESHOLD is a candidate. ffmpeg's score is the change from the frame
before *less* the change before that, so steady motion (a film, a speaker) scores low
while a cut scores high; a candidate becomes a slide only when, after it, the picture then
stands still for STILL_SECONDS (a film shown in the talk never does; a speaker moving in a
corner may: under STILL_SHARE of the pixels are allowed to move), and when what stands
still differs from the slide before it (a perceptual diff on the pixels that stood still
in both: under SAME_SHARE changed is the same slide again, for example after a film). A
slide shown for less than MIN_GAP_SECONDS is passed over (the speaker skipped past it).

Reading them: a full-size frame from the still moment, grey, dark backgrounds inverted,
through Tesseract (pytesseract, languages "nor+eng" by default); the heading is the
tallest line (the first of those nearly as tall). A small JPEG of the same moment is the
thumbnail.

Resumable: the detection and each slide read are written to a work folder as they are
done (``Progress``), so a worker that dies halfway starts again where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image, ImageOps

from server.catalogue import chapters
from server.catalogue import slides as stored
from server.core.i18n import N_
from server.pipeline import ffargs, jobs, runner
from server.store.store import write
from server.transcript import model as transcript

SCAN_FPS = 2.0
SCAN_SIZE = (160, 90)
SCENE_THRESHOLD = 0.05
PIXEL_DELTA = 24  # grey levels: a pixel that changes more has moved
STILL_SECONDS = 2.0
STILL_SHARE = 0.06
SAME_SHARE = 0.004
MIN_GAP_SECONDS = 3.0
LIKE_SHARE = 0.03  # one frame (its moving parts not masked) against a still picture
THUMB_WIDTH = 320
MIN_WORD_CONFIDENCE = 30
WORK = ".slides-work"
KIND = "slides"  # the stage, and the job kind that runs only it (`ktl slides`)
SLIDES = "slides"
_WORD = re.compile(r"\w", re.UNICODE)
log = logging.getLogger("ktl.slides")


@dataclass(frozen=True)
class Change:
    at: float  # the second the slide appeared
    grab_at: float  # a second at which it stood still: its picture is taken there


@dataclass(frozen=True)
class Detection:
    changes: tuple[Change, ...]
    candidates: int  # frames whose scene score passed the threshold


@dataclass(frozen=True)
class Slide:
    index: int
    at: float
    text: str
    heading: str
    thumb: str  # the file name in the talk's slides folder


# ---------------------------------------------------------------- finding


def read_scores(path: Path) -> tuple[list[float], list[float]]:
    """Times and scene scores from ffmpeg's metadata=print output."""
    times: list[float] = []
    scores: list[float] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "pts_time:" in line:
            times.append(float(line.rsplit("pts_time:", 1)[1].split()[0]))
            scores.append(0.0)
        elif line.startswith("lavfi.scene_score=") and scores:
            scores[-1] = float(line.split("=", 1)[1])
    return times, scores


def read_frames(path: Path, size: tuple[int, int] = SCAN_SIZE) -> np.ndarray:
    width, height = size
    raw = np.fromfile(path, dtype=np.uint8)
    count = raw.size // (width * height)
    return raw[: count * width * height].reshape(count, height, width)


def _still(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The picture of a window of frames and its mask of pixels that did not move, or None
    when too much moved."""
    spread = frames.max(axis=0).astype(np.int16) - frames.min(axis=0)
    moving = spread > PIXEL_DELTA
    if moving.mean() > STILL_SHARE:
        return None
    return np.median(frames, axis=0).astype(np.int16), ~moving


def _same(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], share=SAME_SHARE
) -> bool:
    both = a[1] & b[1]
    if not both.any():
        return False
    changed = (np.abs(a[0] - b[0]) > PIXEL_DELTA) & both
    return changed.sum() / both.sum() < share


def _appeared(frames: np.ndarray, start: int, first: int, still) -> int:
    """The first frame, back from `first` to the cut at `start`, that already shows the
    still picture: after a film there is no cut, the slide is simply there."""
    while first > start and _same(
        still, (frames[first - 1].astype(np.int16), still[1]), LIKE_SHARE
    ):
        first -= 1
    return first


def find_changes(frames: np.ndarray, times: list[float], scores: list[float]) -> Detection:
    """Where slides appear (see the module doc); frames[i] was taken at times[i]."""
    count = min(len(frames), len(times), len(scores))
    window = max(2, round(STILL_SECONDS * SCAN_FPS))
    cuts = [i for i in range(1, count) if scores[i] > SCENE_THRESHOLD]
    starts = [0, *cuts]
    found: list[tuple[Change, tuple[np.ndarray, np.ndarray]]] = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else count
        for first in range(start, end - window + 1):
            still = _still(frames[first : first + window])
            if still is None:
                continue
            appeared = _appeared(frames, start, first, still)
            change = Change(times[appeared], times[first + window // 2])
            if found and _same(found[-1][1], still):
                break  # the same slide again: it keeps its first time
            if found and change.at - found[-1][0].at < MIN_GAP_SECONDS:
                found.pop()  # the one before was passed over
                if found and _same(found[-1][1], still):
                    break
            found.append((change, still))
            break
    return Detection(tuple(change for change, _ in found), len(cuts))


def scan(source: Path, work: Path, duration: float | None, progress) -> Detection:
    """Run the scan pass and find the changes (see find_changes)."""
    frames, scores = work / "frames.gray", work / "scores.txt"
    args = ffargs.slide_scan(source, frames, scores, SCAN_FPS, SCAN_SIZE)
    runner.run(args, duration, progress)
    times, values = read_scores(scores)
    detection = find_changes(read_frames(frames), times, values)
    frames.unlink(missing_ok=True)
    return detection


# ---------------------------------------------------------------- reading


def _prepared(picture: Path) -> Image.Image:
    """Grey, with dark backgrounds inverted: Tesseract reads dark text on light best."""
    with Image.open(picture) as image:
        grey = ImageOps.grayscale(image)
    if np.asarray(grey).mean() < 128:
        grey = ImageOps.invert(grey)
    return grey


def _lines(data: dict) -> list[tuple[str, int]]:
    """(text, height) of each line Tesseract found, in reading order, without words it was
    unsure of or that hold no letter or digit (a box or a picture read as '|' or '~')."""
    lines: dict[tuple[int, int, int], list[tuple[str, int]]] = {}
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        if not word or not _WORD.search(word) or float(data["conf"][i]) < MIN_WORD_CONFIDENCE:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append((word, int(data["height"][i])))
    return [(" ".join(w for w, _ in words), max(h for _, h in words)) for words in lines.values()]


def heading_of(lines: list[tuple[str, int]]) -> str:
    """The tallest line; the first of those at least 85 % as tall."""
    if not lines:
        return ""
    tallest = max(height for _, height in lines)
    return next(text for text, height in lines if height >= 0.85 * tallest)


def read_slide(picture: Path, languages: str) -> tuple[str, str]:
    """(text, heading) of a slide picture."""
    data = pytesseract.image_to_data(
        _prepared(picture), lang=languages, config="--psm 3", output_type=pytesseract.Output.DICT
    )
    lines = _lines(data)
    return "\n".join(text for text, _ in lines), heading_of(lines)


# ---------------------------------------------------------------- the stage


class Progress:
    """The work folder of a talk's slide stage: the detection and each slide read so far."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _write(self, name: str, value: object) -> None:
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.folder / name)

    def detection(self) -> Detection | None:
        path = self.folder / "changes.json"
        if not path.is_file():
            return None
        value = json.loads(path.read_text(encoding="utf-8"))
        return Detection(tuple(Change(**c) for c in value["changes"]), value["candidates"])

    def save_detection(self, detection: Detection) -> None:
        changes = [asdict(c) for c in detection.changes]
        self._write("changes.json", {"changes": changes, "candidates": detection.candidates})

    def slide(self, index: int) -> Slide | None:
        path = self.folder / f"{index:03d}.json"
        if not path.is_file() or not (self.folder / f"{index:03d}.jpg").is_file():
            return None
        return Slide(**json.loads(path.read_text(encoding="utf-8")))

    def save_slide(self, slide: Slide) -> None:
        self._write(f"{slide.index:03d}.json", asdict(slide))


def run_stage(
    source: Path,
    media_folder: Path,
    duration: float | None,
    languages: str,
    progress: Callable[[float], None],
) -> tuple[list[Slide], Detection]:
    """Find and read the slides of `source`; the thumbnails end up in media_folder/slides
    (replaced as a whole). A quarter of the progress is the scan, the rest the reading."""
    work = Progress(media_folder / WORK)
    detection = work.detection()
    if detection is None:
        detection = scan(source, work.folder, duration, lambda share: progress(share / 4))
        work.save_detection(detection)
    slides = []
    for index, change in enumerate(detection.changes, start=1):
        slide = work.slide(index)
        if slide is None:
            slide = _read_one(source, work.folder, index, change, languages)
            work.save_slide(slide)
        slides.append(slide)
        progress(0.25 + 0.75 * index / len(detection.changes))
    _publish(work.folder, media_folder / SLIDES, slides)
    return slides, detection


def _read_one(source: Path, work: Path, index: int, change: Change, languages: str) -> Slide:
    picture, thumb = work / f"{index:03d}.png", work / f"{index:03d}.jpg"
    runner.run(ffargs.slide_grab(source, change.grab_at, picture, thumb, THUMB_WIDTH))
    text, heading = read_slide(picture, languages)
    picture.unlink(missing_ok=True)
    return Slide(index, round(change.at, 3), text, heading, thumb.name)


def _publish(work: Path, target: Path, slides: list[Slide]) -> None:
    """The thumbnails into place as one folder; the work folder goes."""
    fresh = target.with_name(f".{SLIDES}-new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    for slide in slides:
        os.replace(work / slide.thumb, fresh / slide.thumb)
    old = target.with_name(f".{SLIDES}-old")
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def discard(media_folder: Path) -> None:
    """Forget a half-done slide stage (its work folder)."""
    shutil.rmtree(media_folder / WORK, ignore_errors=True)


# ---------------------------------------------------------------- in the worker


def stage(db, settings, talk, rec, media: Path, transcript_json: Path, progress) -> None:
    """The worker's "slides" stage, after the talk is ready: find and read the slides
    (recordings with video, KTL_SLIDES on), store and index them, and propose chapters.
    A failure is recorded for the organiser (server.catalogue.slides) and chapters are
    still proposed from the transcript; the talk is never failed for it."""
    started = time.monotonic()
    rows: list[stored.SlideRow] = []
    try:
        found, candidates = [], 0
        if rec.has_video and settings.slides:
            source = media / rec.path
            languages = settings.slides_languages
            found, detection = run_stage(source, media, rec.duration, languages, progress)
            candidates = detection.candidates
        rows = [stored.SlideRow(s.index, s.at, s.text, s.heading, s.thumb) for s in found]
        seconds = time.monotonic() - started
        stored.store(db, talk.id, rows, candidates, seconds, talk.language)
    except Exception as exc:  # whatever it was, the talk stays watchable
        log.exception("Foredrag %s: lysbildene kunne ikke leses", talk.id)
        discard(media)
        stored.record_failure(db, talk.id, failure_message(exc))
    segments = transcript.load(transcript_json).segments if transcript_json.is_file() else ()
    chapters.propose(db, talk.id, rows, segments, talk.language, rec.duration)
    progress(1.0)


NO_TESSERACT = N_(
    "Tesseract (tekstgjenkjenning) er ikke installert på serveren. Be IT kjøre "
    "scripts/install.sh, og last opp opptaket på nytt for å få lysbildene."
)
TESSERACT_FAILED = N_(
    "Tesseract kunne ikke lese lysbildene (mangler språkdata for norsk?). "
    "Be IT sjekke KTL_SLIDES_LANGUAGES og installasjonen."
)
NO_PICTURES = N_("Kunne ikke hente bilder av lysbildene fra opptaket.")
UNEXPECTED = N_(
    "Lysbildene kunne ikke leses på grunn av en uventet feil. "
    "Videoen og transkripsjonen er ikke berørt."
)


def failure_message(exc: Exception) -> str:
    """What the organiser reads when the slides could not be read."""
    if isinstance(exc, pytesseract.TesseractNotFoundError):
        return NO_TESSERACT
    if isinstance(exc, pytesseract.TesseractError):
        return TESSERACT_FAILED
    if isinstance(exc, runner.FFmpegError):
        return NO_PICTURES
    return UNEXPECTED


def queue(db, talk_ids: list[int] | None = None) -> list[int]:
    """Queue a "slides" job for ready talks with a recording (those given, or all): talks
    processed before the slide stage existed, or to read them again. A talk that already
    has a job waiting or running is left out. Returns the talks queued."""
    sql = (
        "SELECT t.id FROM talks t JOIN recordings r ON r.talk_id = t.id WHERE t.status = 'ready'"
        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.talk_id = t.id"
        " AND j.state IN ('queued', 'running')) ORDER BY t.id"
    )
    wanted = None if talk_ids is None else set(talk_ids)
    queued = [row[0] for row in db.execute(sql) if wanted is None or row[0] in wanted]
    with write(db):
        for talk_id in queued:
            jobs.enqueue(db, talk_id, KIND)
    return queued
