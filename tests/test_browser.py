"""The whole flow in a real browser: headless Debian Chromium driven by Playwright, against
`ktl serve` (with its embedded worker, real ffmpeg and the real Whisper model)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from server.catalogue import search, talks
from server.store import db as database
from server.transcript import model as transcript
from tests import factories
from tests.liveserver import serve
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def server(settings, tmp_path: Path):
    with serve(settings.data_dir, tmp_path / "serve.log", KTL_WORKER_POLL_SECONDS="0.3") as base:
        yield base


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/logg-inn")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


def test_upload_search_and_play_from_the_spoken_second(server, settings, page, tmp_path):
    make_user(settings, "organiser")
    speech = factories.speech_wav(tmp_path / "speech.wav")
    recording = factories.video(tmp_path / "elsykler.mp4", audio=speech, seconds=12)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    _sign_in(page, server, "organiser@kommune.no")
    page.goto(server + "/talks/ny")
    page.fill("#title", "Elsykler på biblioteket")
    page.fill("#speaker", "Ola Nordmann")
    page.fill("#department", "Biblioteket")
    page.select_option("#language", "en")
    page.check("input[name=visibility][value=public]")
    page.click("form.talk-form button[type=submit]")
    page.wait_for_selector("#recording-file")

    page.set_input_files("#recording-file", str(recording))
    page.wait_for_selector("section.processing, video#video", timeout=60_000)
    # The player shows once the recording is packaged, while transcription goes on (with
    # provisional captions); js/status.js reloads the page when the talk is ready, and only
    # then is the transcript shown and the whole of it in search.
    page.wait_for_selector("#transcript-lines", timeout=240_000)
    assert page.query_selector("section.processing") is None, "processing is done"
    page.wait_for_selector("video#video")

    page.fill("#sok-q", "basement")
    page.press("#sok-q", "Enter")
    hit = page.wait_for_selector("a.hit")
    assert "basement" in hit.inner_text().lower()
    start = int(parse_qs(urlparse(hit.get_attribute("href")).query)["t"][0])
    assert start >= 3, "the word is spoken a few seconds in"
    hit.click()

    page.wait_for_function(
        "() => { const v = document.querySelector('video'); "
        "return v && !v.paused && v.readyState >= 3 && v.currentTime > 0; }",
        timeout=30_000,
    )
    first = page.evaluate("document.querySelector('video').currentTime")
    assert start - 0.5 <= first <= start + 3, f"playing from {first}, expected about {start}"
    page.wait_for_timeout(1500)
    state = page.evaluate(
        """() => { const v = document.querySelector('video'); const t = v.textTracks[0];
        return {time: v.currentTime, mode: t && t.mode, cues: t && t.cues ? t.cues.length : 0,
                current: document.querySelector('#transcript-lines .current')?.textContent}; }"""
    )
    assert state["time"] > first, "the video is playing"
    assert state["mode"] == "showing" and state["cues"] > 0, "captions are loaded and shown"
    assert state["current"], "the transcript follows playback"
    assert dialogs == []


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'


def _xss_talk(settings) -> dict:
    """A talk whose every user-editable field, and its transcript, holds script payloads."""
    with database.session(settings) as db:
        admin = make_user(settings, "admin", name=f"Ada {XSS}", department=XSS)
        fields = talks.TalkInput(
            title=f"Bli kjent med XSS {XSS}", speaker=XSS, department=f"IT {XSS}",
            description=f"Om sikkerhet {XSS}", language="nb", visibility="public",
        )  # fmt: skip
        talk = talks.create(db, fields, admin)
        segments = (transcript.Segment(1.0, 3.0, f"sikkerhet {XSS}"),)
        folder = settings.transcripts_dir / str(talk.id)
        transcript.write_all(folder, transcript.Transcript(language="nb", segments=segments))
        search.index_talk(db, talk.id, segments, "nb")
        with db.conn:
            talks.set_status(db, talk.id, "ready")
    return talk


def test_script_in_every_field_renders_as_text(server, settings, page):
    talk = _xss_talk(settings)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, server, "admin@kommune.no")
    pages = ["/", "/arkiv", f"/talks/{talk.slug}", "/sok?q=sikkerhet", "/admin/brukere",
             "/admin/logg"]  # fmt: skip
    for path in pages:
        page.goto(server + path)
        injected = page.evaluate(
            "() => document.querySelectorAll('main img[src=x], main svg[onload], "
            'main script:not([type="application/json"])\').length'  # JSON data is inert
        )
        assert injected == 0, f"markup from user input became elements on {path}"
        assert 'alert("x")' in page.inner_text("main"), f"the payload shows as text on {path}"
    page.goto(server + f"/talks/{talk.slug}/rediger")
    assert page.input_value("#speaker") == XSS, "form fields hold the text as typed"
    assert page.input_value("#description") == f"Om sikkerhet {XSS}"
    assert dialogs == []
