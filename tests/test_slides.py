"""Slides found and read: real ffmpeg scene detection and real Tesseract OCR on a generated
slide deck (tests/slidevideo.py: Norwegian letters, a box moving in a corner, a film
between two slides), the stage through the real worker, search hits on slides, chapters."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from server.catalogue import chapters, search, talks
from server.catalogue import slides as stored
from server.cli import import_recording
from server.pipeline import jobs, slides
from server.store import write
from server.transcript import topics
from server.transcript.model import Segment
from tests import slidevideo
from tests.conftest import need

pytestmark = pytest.mark.integration
TRUTH = slidevideo.slides_of(slidevideo.DECK)  # (second, slide): 0, 8, 20, 27


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    need("ffmpeg", "tesseract")
    return slidevideo.make(tmp_path_factory.mktemp("deck") / "deck.mp4")


def test_scene_detection_finds_each_slide_and_no_box_or_film(deck, tmp_path):
    detection = slides.scan(deck, tmp_path, None, None)
    assert [round(c.at) for c in detection.changes] == [round(at) for at, _ in TRUTH]
    film = (16.0, 20.0)
    assert not [c for c in detection.changes if film[0] <= c.grab_at < film[1]]
    assert all(c.grab_at >= c.at for c in detection.changes)
    assert not (tmp_path / "frames.gray").exists(), "the scan's raw frames are removed"


def test_ocr_reads_the_slides_with_norwegian_letters(deck, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    shares: list[float] = []
    found, _ = slides.run_stage(deck, media, 34.0, "nor+eng", shares.append)
    assert len(found) == len(TRUTH)
    for slide, (at, truth) in zip(found, TRUTH, strict=True):
        assert abs(slide.at - at) < 0.6
        assert slide.heading == truth.heading
        assert slidevideo.cer(truth.text, slide.text) < 0.05, (truth.text, slide.text)
        thumb = media / "slides" / slide.thumb
        assert thumb.read_bytes()[:2] == b"\xff\xd8", "a JPEG thumbnail"
    assert shares == sorted(shares) and shares[-1] == 1.0
    assert not (media / slides.WORK).exists(), "the work folder goes when the stage is done"


def test_the_stage_resumes_where_a_dead_worker_stopped(deck, tmp_path):
    """Slides already read (kept in the work folder) are not read again."""
    media = tmp_path / "media"
    work = slides.Progress(media / slides.WORK)
    work.save_detection(slides.scan(deck, work.folder, None, None))
    shutil.copy(Path(slidevideo.__file__).with_name("__init__.py"), work.folder / "001.jpg")
    work.save_slide(slides.Slide(1, 0.0, "Lest før", "Lest før", "001.jpg"))
    found, _ = slides.run_stage(deck, media, 34.0, "nor+eng", lambda share: None)
    assert found[0].text == "Lest før" and found[1].heading == TRUTH[1][1].heading


def test_a_slide_shown_briefly_is_passed_over_and_a_slide_after_a_film_is_not_new():
    rng = np.random.default_rng(7)
    a, b, c = (np.full((90, 160), v, np.uint8) for v in (30, 120, 220))
    b[10:40, 10:100] = 250
    film = [rng.integers(0, 255, (90, 160), dtype=np.uint8) for _ in range(6)]
    frames = np.stack([*[a] * 8, *[b] * 4, *[c] * 8, *film, *[c] * 8])
    times = [i / slides.SCAN_FPS for i in range(len(frames))]
    scores = [0.0] + [
        float(np.abs(frames[i].astype(int) - frames[i - 1]).mean() / 255) for i in range(1, 34)
    ]
    detection = slides.find_changes(frames, times, scores)
    assert [c.at for c in detection.changes] == [0.0, 6.0], "b (2 s) passed over; c once"
    assert detection.candidates >= 4


def test_heading_is_the_tallest_line_the_first_of_equals():
    assert slides.heading_of([("liten", 20), ("Stor", 60), ("Også stor", 58)]) == "Stor"
    assert slides.heading_of([]) == ""


def _process(settings, worker, path: Path, **fields) -> object:
    data = talks.TalkInput(title="Byggesak", language="nb", visibility="public", **fields)
    created = import_recording(settings, path, data)
    assert worker.run_once() is True
    return created


def test_the_stage_through_the_worker_stores_indexes_and_proposes_chapters(
    settings, worker, db, deck
):
    """The talk is ready (watchable) while its slides are still being read."""
    data = talks.TalkInput(title="Byggesak", language="nb", visibility="public")
    talk = import_recording(settings, deck, data)
    running = threading.Thread(target=worker.run_once)
    running.start()
    seen: set[tuple[str | None, str]] = set()
    while running.is_alive():
        job = jobs.latest_for_talk(db, talk.id)
        seen.add((job.stage if job.state == "running" else None, talks.get(db, talk.id).status))
        time.sleep(0.05)
    running.join()
    assert ("slides", "ready") in seen and ("slides", "processing") not in seen
    assert talks.get(db, talk.id).status == "ready"
    job = jobs.latest_for_talk(db, talk.id)
    assert job.state == "done" and job.stages_done == jobs.STAGES
    rows = stored.for_talk(db, talk.id)
    assert [r.heading for r in rows] == [s.heading for _, s in TRUTH]
    scan = stored.scan_of(db, talk.id)
    assert (scan.state, scan.slides) == ("done", 4) and scan.candidates >= 4
    for row in rows:
        assert stored.thumb_path(talks.media_dir(settings, talk.id), row.thumb).is_file()

    results = search.search(db, "økonomi")
    assert [g.talk_id for g in results.groups] == [talk.id]
    hit = results.groups[0].hits[0]
    assert hit.kind == "slide" and round(hit.start) == 20
    assert hit.url == f"/talks/{talk.slug}?t=20" and "<mark>" in hit.snippet_html

    titles = [(round(c.at), c.title, c.source) for c in chapters.for_talk(db, talk.id)]
    assert titles == [(round(at), s.heading, "slides") for at, s in TRUTH]


def test_a_slide_failure_is_recorded_and_the_talk_stays_ready(settings, worker, db, deck):
    """Tesseract with language data that is not installed fails for real."""
    worker.settings = settings.replace(slides_languages="xyz")
    talk = _process(settings, worker, deck)
    assert talks.get(db, talk.id).status == "ready"
    assert jobs.latest_for_talk(db, talk.id).state == "done"
    scan = stored.scan_of(db, talk.id)
    assert scan.state == "failed" and scan.error == slides.TESSERACT_FAILED
    assert stored.for_talk(db, talk.id) == []
    assert not (talks.media_dir(settings, talk.id) / slides.WORK).exists()


def test_slide_hits_follow_the_transcript_rule(settings, db):
    """Where the transcript may not give hits (not reviewed yet), neither may its slides."""
    talk = talks.create(db, talks.TalkInput(title="Plan", language="nb", visibility="public"))
    with write(db):
        talks.set_status(db, talk.id, "ready")
    search.index_slides(db, talk.id, [(1, 12.0, "Reguleringsplan\nHøring i juni")], "nb")
    assert search.search(db, "høring").groups[0].hits[0].kind == "slide"
    closed = search.search(db, "høring", transcripts_allowed=("0", {}))
    assert closed.groups == []


# ---------------------------------------------------------------- chapters


def _seg(start: float, text: str) -> Segment:
    return Segment(start, start + 9.0, text)


def test_topic_shifts_in_a_transcript_become_chapters_titled_by_key_terms():
    school = "Skolen har nye elever. Elevene får lærere og klasserom. Skolen åpner i august."
    roads = "Veiene brøytes om vinteren. Brøyting av veier koster penger. Veiene strøs med sand."
    segments = [_seg(i * 10.0, school) for i in range(24)]
    segments += [_seg(240 + i * 10.0, roads) for i in range(24)]
    found = topics.chapters(segments, "nb", 480.0)
    assert [at for at, _ in found] == [0.0, 240.0]
    assert "skolen" in found[0][1].lower() and "veiene" in found[1][1].lower()
    assert topics.chapters(segments[:3], "nb", 30.0) == []


def test_chapters_from_slides_merge_repeated_headings():
    rows = [stored.SlideRow(1, 0, "", "Innledning", "001.jpg"),
            stored.SlideRow(2, 30, "", "Innledning", "002.jpg"),
            stored.SlideRow(3, 60, "", "", "003.jpg")]  # fmt: skip
    made = chapters.from_slides(rows)
    assert [(c.at, c.title) for c in made] == [(0, "Innledning"), (60, "Lysbilde 3")]


def test_organiser_edits_are_validated_and_kept_from_new_proposals(settings, db):
    talk = talks.create(db, talks.TalkInput(title="Plan", language="nb", visibility="public"))
    with pytest.raises(chapters.ChapterError) as failed:
        chapters.validate([("12:3x", "A"), ("1:00", ""), ("9:00", "Sent")], 300.0)
    assert failed.value.errors == {
        1: chapters.BAD_TIME, 2: chapters.NO_TITLE, 3: chapters.LATE_TIME,
    }  # fmt: skip
    saved = chapters.validate([("2:05", " Økonomi "), ("0", "Start"), ("", "")], 300.0)
    assert [(c.at, c.title) for c in saved] == [(0.0, "Start"), (125.0, "Økonomi")]
    chapters.save(db, talk.id, saved)
    rows = [stored.SlideRow(1, 0, "", "A", "1.jpg"), stored.SlideRow(2, 9, "", "B", "2.jpg")]
    kept = chapters.propose(db, talk.id, rows, [], "nb", 300.0)
    assert [c.title for c in kept] == ["Start", "Økonomi"]
    vtt = chapters.webvtt(kept, 300.0)
    assert vtt.startswith("WEBVTT") and "00:00:00.000 --> 00:02:05.000\nStart" in vtt
    assert "00:02:05.000 --> 00:05:00.000\nØkonomi" in vtt
    assert json.loads(json.dumps(chapters.as_json(kept)))[1]["start"] == 125.0
    assert chapters.parse_time("1:02:03") == 3723 and chapters.parse_time("75:00") == 4500


def test_ktl_slides_reads_the_slides_of_a_talk_that_is_already_ready(
    settings, db, deck, monkeypatch
):
    """A talk processed before the slide stage existed: `ktl slides` queues a job of kind
    "slides", and the worker runs only that stage; the talk stays ready throughout."""
    from server import cli
    from server.pipeline.worker import Worker

    if settings.database_url:  # the command reads its database from the environment
        monkeypatch.setenv("KTL_DATABASE_URL", settings.database_url)

    talk = slidevideo.ready_talk(settings, deck)
    with write(db):
        db.execute("DELETE FROM slides WHERE talk_id = ?", [talk.id])
        db.execute("DELETE FROM chapters WHERE talk_id = ?", [talk.id])
    assert cli.main(["--data-dir", str(settings.data_dir), "slides", talk.slug]) == 0
    job = jobs.latest_for_talk(db, talk.id)
    assert (job.kind, job.state) == (slides.KIND, "queued")
    assert slides.queue(db) == [], "a talk with a job waiting is not queued twice"
    assert Worker(settings).run_once() is True
    job = jobs.latest_for_talk(db, talk.id)
    assert (job.state, job.stages_done) == ("done", (slides.KIND,))
    assert [r.heading for r in stored.for_talk(db, talk.id)] == [s.heading for _, s in TRUTH]
    assert len(chapters.for_talk(db, talk.id)) == 4
    assert talks.get(db, talk.id).status == "ready"
    assert cli.main(["--data-dir", str(settings.data_dir), "slides", "finnes-ikke"]) == 1

    with write(db):  # failed, then «Prøv igjen» (talk_retry): queued again, talk processing
        db.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", [job.id])
        assert jobs.retry(db, job.id)
        talks.set_status(db, talk.id, "processing")
    assert Worker(settings).run_once() is True
    assert talks.get(db, talk.id).status == "ready", "watchable again"


def test_ktl_doctor_says_when_tesseract_cannot_read_the_slides(settings):
    from server.ops import doctor

    assert [f.level for f in doctor.check_slides(settings)] == [doctor.OK]
    missing = list(doctor.check_slides(settings.replace(slides_languages="nor+xyz")))
    assert [f.level for f in missing] == [doctor.WARN] and "tesseract-ocr-xyz" in missing[0].text


def test_the_ffmpeg_argument_builders_for_slides():
    scan = slides.ffargs.slide_scan(Path("/m/o.mp4"), Path("/w/f.gray"), Path("/w/s:1.txt"), 2.0,
                                    (160, 90))  # fmt: skip
    graph = scan[scan.index("-filter_complex") + 1]
    assert "fps=2.0" in graph and "scale=160:90:flags=area" in graph and "format=gray" in graph
    assert "select=gte(scene\\,0)" in graph and "key=lavfi.scene_score" in graph
    assert "file=/w/s\\\\:1.txt" in graph, "the colon in the path is escaped for the filter"
    assert scan[-5:] == ["-f", "rawvideo", "-pix_fmt", "gray", "/w/f.gray"]
    assert scan[scan.index("-progress") : scan.index("-progress") + 2] == ["-progress", "pipe:1"]
    grab = slides.ffargs.slide_grab(
        Path("/m/o.mp4"), 20.25, Path("/w/1.png"), Path("/w/1.jpg"), 320
    )
    assert grab[grab.index("-ss") + 1] == "20.250" and grab.index("-ss") < grab.index("-i")
    assert "scale=320:-2" in grab[grab.index("-filter_complex") + 1]
    assert grab[-1] == "/w/1.jpg" and "/w/1.png" in grab
