"""Captions while a talk is still being transcribed: once the recording is packaged the talk
page shows the player, and the captions route answers with a provisional WebVTT track of
the segments already in the search index (server/catalogue/provisional.py), refreshed by
the page until the finished transcript replaces it."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server.catalogue import search, talks
from server.cli import import_recording
from server.pipeline import jobs
from server.pipeline import worker as worker_module
from server.store import db as database
from server.store import write
from server.transcript.model import Segment
from server.web.app import create_app
from tests import factories
from tests.conftest import need
from tests.webclient import login, make_user

NOTICE = "Tekstingen er foreløpig"
CUE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} --> ", re.M)


def _cues(vtt: str) -> list[str]:
    """The cue texts of a WebVTT file as to_vtt writes it (number, times, text)."""
    blocks = [b.splitlines() for b in vtt.strip().split("\n\n")[1:]]
    return [b[2] for b in blocks if len(b) >= 3 and CUE.match(b[1])]


class _Looking:
    """The real engine; after each segment (a partial batch of its own) it asks the app,
    as a guest, for the captions and the talk page, while the job is still running."""

    def __init__(self, engine, client: TestClient, slug: str) -> None:
        self.engine, self.client, self.slug, self.seen = engine, client, slug, []

    def transcribe(self, audio, language, duration, progress, vocabulary=(), on_segment=None):
        def look(segment: Segment) -> None:
            on_segment(segment)
            captions = self.client.get(f"/talks/{self.slug}/transcript.vtt?inline=1")
            page = self.client.get(f"/talks/{self.slug}").text
            self.seen.append((segment.text, captions, page))

        return self.engine.transcribe(audio, language, duration, progress, vocabulary, look)

    def __getattr__(self, name):
        return getattr(self.engine, name)


@pytest.mark.integration
def test_the_player_shows_captions_of_what_is_transcribed_so_far(
    settings, engine, tmp_path, monkeypatch
):
    need("ffmpeg", "espeak-ng")
    monkeypatch.setattr(worker_module, "PARTIAL_INDEX_SECONDS", 0.0)  # a batch per segment
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.LONG_ENGLISH_SPEECH)
    clip = factories.video(tmp_path / "talk.mp4", audio=speech, seconds=40)
    talk = import_recording(
        settings, clip, talks.TalkInput(title="Byggesak", language="en", visibility="public")
    )
    with TestClient(create_app(settings)) as guest:
        looking = _Looking(engine, guest, talk.slug)
        worker = worker_module.Worker(settings, engine_factory=lambda: looking)
        assert worker.run_once() is True

        assert len(looking.seen) >= 3, "the clip should give several segments"
        texts = []
        for text, captions, page in looking.seen:
            texts.append(text)
            assert captions.status_code == 200
            assert captions.headers["x-captions"] == "provisional"
            assert captions.headers["cache-control"] == "no-store"
            assert _cues(captions.text) == texts, "every segment so far, nothing more"
            assert 'id="video"' in page and "data-provisional" in page and NOTICE in page
        final = guest.get(f"/talks/{talk.slug}/transcript.vtt?inline=1")
        assert "x-captions" not in final.headers
        assert _cues(final.text) == texts, "the finished transcript says the same"
        page = guest.get(f"/talks/{talk.slug}").text
        assert NOTICE not in page and "data-provisional" not in page
        english = guest.get(f"/talks/{talk.slug}", headers={"Accept-Language": "en"})
        assert "still being transcribed" not in english.text


def _transcribing(db, settings, packaged: bool = True, **fields) -> dict:
    """A talk whose job has packaged the recording (or not) and is at the transcribe stage."""
    talk = factories.talk(db, language="nb", **fields)
    with write(db):
        db.execute(
            "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
            "created_at) VALUES (?, 'opptak.mp4', 'original.mp4', 64, 8.0, 1, '2026-01-01')",
            [talk.id],
        )
        talks.set_status(db, talk.id, "processing")
    jobs.enqueue(db, talk.id)
    job = jobs.claim(db, "arbeider", 3600)
    assert job is not None
    if packaged:
        master = settings.paths.master_playlist(talk.id)  # the package's playlist only:
        master.parent.mkdir(parents=True, exist_ok=True)  # these tests read the page
        master.write_text("#EXTM3U\n")
        assert jobs.stage_done(db, job.id, "arbeider", "package")
        jobs.report(db, job, "arbeider", "transcribe", 0.3)
    else:
        jobs.report(db, job, "arbeider", "package", 0.3)
    return talks.get(db, talk.id)


FIRST = [
    Segment(0.5, 3.0, "Velkommen til lunsjforedraget."),
    Segment(3.2, 6.0, "I dag om <vei> & bru."),
]


def test_provisional_captions_follow_the_partial_index(settings, db):
    talk = _transcribing(db, settings)
    with TestClient(create_app(settings)) as guest:
        empty = guest.get(f"/talks/{talk.slug}/transcript.vtt")
        assert empty.status_code == 200 and empty.text.startswith("WEBVTT")
        assert not _cues(empty.text), "nothing transcribed yet"
        search.index_partial(db, talk.id, FIRST, 0, "nb")
        vtt = guest.get(f"/talks/{talk.slug}/transcript.vtt").text
        assert _cues(vtt) == ["Velkommen til lunsjforedraget.", "I dag om &lt;vei> &amp; bru."]
        assert "00:00:03.200 --> 00:00:06.000" in vtt
        page = guest.get(f"/talks/{talk.slug}").text
        assert 'id="video"' in page and "js/provisional.js" in page and NOTICE in page
        assert guest.get(f"/talks/{talk.slug}/status.json").json()["playable"] is True
        assert guest.get(f"/talks/{talk.slug}/transcript.srt").status_code == 404, "only captions"


def test_no_player_before_the_recording_is_packaged(settings, db):
    talk = _transcribing(db, settings, packaged=False)
    with TestClient(create_app(settings)) as guest:
        page = guest.get(f"/talks/{talk.slug}").text
        assert 'id="video"' not in page and NOTICE not in page
        assert "Behandling av opptaket" in page


def test_no_player_while_the_package_is_not_in_the_media_folder(settings, db):
    """The package stage reported done (by a worker elsewhere) but no playlist here: the
    page shows the progress, not a player whose playlist and poster would answer 404."""
    talk = _transcribing(db, settings)
    settings.paths.master_playlist(talk.id).unlink()
    with TestClient(create_app(settings)) as guest:
        page = guest.get(f"/talks/{talk.slug}").text
        assert 'id="video"' not in page and NOTICE not in page and "<track" not in page
        assert "js/provisional.js" not in page and "Behandling av opptaket" in page
        status = guest.get(f"/talks/{talk.slug}/status.json").json()
        assert status["playable"] is False, "js/status.js would reload the page for a player"


def test_captions_waiting_for_review_stay_with_the_editors(settings, db):
    settings = settings.replace(captions_publish="reviewed")
    organiser = make_user(settings, "organiser")
    talk = _transcribing(db, settings, organiser=organiser)
    search.index_partial(db, talk.id, FIRST, 0, "nb")
    with TestClient(create_app(settings)) as client:
        assert client.get(f"/talks/{talk.slug}/transcript.vtt").status_code == 404
        page = client.get(f"/talks/{talk.slug}").text
        assert 'id="video"' in page and NOTICE not in page and "<track" not in page
        login(client, organiser.email)
        vtt = client.get(f"/talks/{talk.slug}/transcript.vtt")
        assert vtt.headers["x-captions"] == "provisional" and len(_cues(vtt.text)) == 2
        assert NOTICE in client.get(f"/talks/{talk.slug}").text


def _cue_count(n: int) -> str:
    return ("() => { const t = document.querySelector('video').textTracks[0]; "
            f"return !!(t && t.cues && t.cues.length === {n}); }}")  # fmt: skip


@pytest.mark.browser
def test_the_track_in_a_browser_grows_while_transcribing(settings, db, tmp_path):
    """Chromium plays the packaged talk; the captions track has the cues indexed so far and
    picks up a new batch without a reload (the worker's partial index written here)."""
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve

    need("ffmpeg")
    talk = _transcribing(db, settings, title="Foreløpig teksting")
    (settings.paths.vod(talk.id) / "stream_0").mkdir(parents=True, exist_ok=True)
    factories.hls_media(db, settings, talk, tmp_path, 8)
    search.index_partial(db, talk.id, FIRST, 0, "nb")
    cues = "() => { const t = document.querySelector('video').textTracks[0]; " \
           "return t && t.cues ? Array.from(t.cues).map(c => c.text) : []; }"  # fmt: skip
    require_chromium()
    log = tmp_path / "serve.log"
    with serve(settings.data_dir, log, KTL_EMBEDDED_WORKER="0") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        page.goto(f"{base}/talks/{talk.slug}")
        assert page.locator("#provisional-captions").is_visible()
        page.wait_for_function(_cue_count(2), timeout=30_000)
        search.index_partial(db, talk.id, [Segment(6.5, 7.5, "Ny del.")], 2, "nb")
        page.wait_for_function(_cue_count(3), timeout=60_000)
        assert page.evaluate(cues)[-1] == "Ny del."
        mode = "() => document.querySelector('video').textTracks[0].mode"
        assert page.evaluate(mode) == "showing", "captions stay on after the refresh"
        assert page.evaluate("() => document.querySelectorAll('video track').length") == 1
        browser.close()
    with database.session(settings) as check:
        assert talks.get(check, talk.id).status == "processing"
