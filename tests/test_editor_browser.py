"""The transcript editor in a real browser: headless Debian Chromium (Playwright) against
`ktl serve`, on a talk packaged to HLS by ffmpeg with a known transcript (no Whisper)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from server.catalogue import search, talks
from server.pipeline.worker import package_args, poster_args
from server.store import db as database
from server.transcript import model as transcript
from server.transcript.model import Segment
from tests import factories, test_browser
from tests.webclient import make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]
server = test_browser.server  # ktl serve on a free port, on the test's data folder


SEGMENTS = (
    Segment(0.0, 2.0, "Velkommen til lunsjforedraget"),
    Segment(2.0, 4.0, "I dag snakker vi om Bjorvatn"),
    Segment(4.0, 6.0, "Takk for at dere kom"),
)


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _ready_talk(settings, organiser, tmp_path: Path) -> dict:
    """A talk with a real HLS rendition (remuxed by ffmpeg, as the worker does) and a
    machine transcript written and indexed directly."""
    source = factories.video(tmp_path / "klipp.mp4", seconds=6)
    with database.session(settings) as db:
        talk = factories.talk(db, organiser, title="Stedsnavn i kommunen", language="nb")
        folder = talks.media_dir(settings, talk.id)
        folder.mkdir(parents=True, exist_ok=True)
        original = folder / "original.mp4"
        original.write_bytes(source.read_bytes())
        rec = {"has_video": 1, "video_codec": "h264", "pix_fmt": "yuv420p",
               "audio_codec": "aac", "duration": 6.0}  # fmt: skip
        _run(package_args(original, folder / "vod", rec))
        _run(poster_args(original, folder / "vod" / "poster.jpg", SimpleNamespace(**rec)))
        with db.conn:
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, video_codec, pix_fmt, audio_codec, created_at) "
                "VALUES (?, 'klipp.mp4', 'original.mp4', ?, 6.0, 1, 'h264', 'yuv420p', 'aac', "
                "'2026-01-01')",
                [talk.id, original.stat().st_size],
            )
            talks.set_status(db, talk.id, "ready")
        machine = transcript.Transcript(language="nb", segments=SEGMENTS, duration=6.0)
        transcript.write_all(talks.transcript_dir(settings, talk.id), machine)
        search.index_talk(db, talk.id, SEGMENTS, "nb")
        return talks.get(db, talk.id)


def _hits(page, base: str, query: str) -> list[str]:
    page.goto(f"{base}/sok?q={query}")
    return [hit.inner_text() for hit in page.query_selector_all("a.hit")]


def _cues(page) -> list[str]:
    page.wait_for_function(
        "() => { const t = document.querySelector('video').textTracks[0];"
        " return t && t.cues && t.cues.length > 0; }",
        timeout=20_000,
    )
    return page.evaluate(
        "() => Array.from(document.querySelector('video').textTracks[0].cues, c => c.text)"
    )


def test_organiser_corrects_a_word_with_the_keyboard(server, settings, page, tmp_path):
    organiser = make_user(settings, "organiser")
    talk = _ready_talk(settings, organiser, tmp_path)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    test_browser._sign_in(page, server, organiser.email)

    page.goto(f"{server}/talks/{talk.slug}")
    page.click(f"a[href='/talks/{talk.slug}/transkripsjon']")
    page.wait_for_url(f"{server}/talks/{talk.slug}/transkripsjon")
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.readyState >= 1; }",
        timeout=20_000,
    )  # the HLS player works on the editor page too

    page.focus("#text-1")
    page.keyboard.press("Alt+ArrowDown")  # next segment
    assert page.evaluate("document.activeElement.id") == "text-2"
    page.keyboard.press("End")
    page.keyboard.press("Control+Shift+ArrowLeft")
    page.keyboard.type("Bjørvatn")
    assert page.input_value("#text-2") == "I dag snakker vi om Bjørvatn"
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-status.saved")
    assert "Lagret som versjon 1" in page.inner_text("#save-status")
    assert page.input_value("#base-version") == "1"
    assert any("Bjørvatn" in cue for cue in _cues(page)), "the editor reloads its captions"

    assert any("Bjørvatn" in hit for hit in _hits(page, server, "Bjørvatn"))
    old_spelling = _hits(page, server, "Bjorvatn")  # only as a near spelling now
    assert page.query_selector_all(".result-group .badge.approximate"), old_spelling
    assert "Lignende treff: bjørvatn (1)" in page.inner_text("p.similar")

    page.goto(f"{server}/talks/{talk.slug}")
    cues = _cues(page)
    assert cues == [s.text for s in SEGMENTS[:1]] + [
        "I dag snakker vi om Bjørvatn",
        SEGMENTS[2].text,
    ]
    assert "Bjørvatn" in page.inner_text("#transcript-lines")
    assert dialogs == []


def test_split_merge_and_replace_all(server, settings, page, tmp_path):
    organiser = make_user(settings, "organiser")
    talk = _ready_talk(settings, organiser, tmp_path)
    test_browser._sign_in(page, server, organiser.email)
    page.goto(f"{server}/talks/{talk.slug}/transkripsjon")

    page.focus("#text-1")
    page.evaluate("document.getElementById('text-1').setSelectionRange(10, 10)")  # "Velkommen |til"
    page.keyboard.press("Alt+Enter")
    assert page.input_value("#text-1") == "Velkommen"
    assert page.input_value("#text-2") == "til lunsjforedraget"
    split_at = float(page.input_value("#segments li:nth-child(2) input[name=start]"))
    assert 0.0 < split_at < 2.0
    page.focus("#text-1")
    page.keyboard.press("Alt+m")  # merge back
    assert page.input_value("#text-1") == "Velkommen til lunsjforedraget"
    assert page.locator("#segments li.seg").count() == 3

    page.fill("#find", "bjorvatn")
    page.fill("#replace", "Bjørvatn")
    page.click("#replace-all")
    assert "Erstattet 1 forekomst" in page.inner_text("#find-status")
    assert "«Bjørvatn»" in page.inner_text("#add-vocabulary")
    page.click("#save")
    page.wait_for_selector("#save-status.saved")
    with database.session(settings) as db:
        assert talks.get(db, talk.id).transcript_version == 1
    saved = transcript.load(settings.paths.transcript_json(talk.id))
    assert [s.text for s in saved.segments][1] == "I dag snakker vi om Bjørvatn"
    assert [s.end for s in saved.segments] == [2.0, 4.0, 6.0]
