"""A long transcript does not hold up the talk page: the page has its first 60 lines and
fetches the rest (/talks/{key}/transkripsjon/linjer?fra=60) after it is shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.store import db as database
from server.store import write
from server.transcript import model as transcript
from server.web.app import create_app
from tests import factories
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve

LINE = re.compile(r'<button type="button" data-start="([0-9.]+)"')
MORE = re.compile(r'data-more="([^"]+)"')


def _talk(settings, lines: int, state: str = "machine", every: float = 4.0) -> talks.Talk:
    """A public, ready talk with `lines` transcript lines, one every `every` seconds."""
    segments = tuple(
        transcript.Segment(every * i, every * i + every * 0.9, f"Linje {i}.") for i in range(lines)
    )
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Lang tale", visibility="public"))
        with write(db):
            db.execute(
                "UPDATE talks SET status = 'ready', transcript_state = ? WHERE id = ?",
                [state, talk.id],
            )
        transcript.write_all(
            settings.transcripts_dir / str(talk.id),
            transcript.Transcript(language="nb", segments=segments),
        )
        return talks.get(db, talk.id)


@pytest.fixture
def guest(settings):
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def test_the_page_has_the_first_lines_and_the_address_of_the_rest(settings, guest):
    talk = _talk(settings, 150)
    page = guest.get(f"/talks/{talk.slug}").text
    assert [float(s) for s in LINE.findall(page)] == [4.0 * i for i in range(60)]
    (more,) = MORE.findall(page)
    more = more.replace("&amp;", "&")
    assert more == f"/talks/{talk.slug}/transkripsjon/linjer?fra=60&v={talk.transcript_version}"
    rest = guest.get(more)
    assert rest.status_code == 200 and "<html" not in rest.text, "a fragment, not a page"
    assert [float(s) for s in LINE.findall(rest.text)] == [4.0 * i for i in range(60, 150)]
    assert "Linje 149." in rest.text
    assert f'href="/talks/{talk.slug}/transcript.txt?inline=1"' in page, "without JavaScript"


def test_a_short_transcript_is_all_in_the_page(settings, guest):
    talk = _talk(settings, 60)
    page = guest.get(f"/talks/{talk.slug}").text
    assert len(LINE.findall(page)) == 60 and "data-more" not in page
    assert "transcript-more" not in page


def test_the_rest_follows_the_transcript_rule(settings):
    """Captions published after review: a guest gets neither the page's lines nor the rest."""
    talk = _talk(settings, 80)
    app = create_app(settings.replace(captions_publish="reviewed"))
    with TestClient(app, follow_redirects=False) as client:
        assert "data-more" not in client.get(f"/talks/{talk.slug}").text
        hidden = client.get(f"/talks/{talk.slug}/transkripsjon/linjer?fra=60")
        assert hidden.status_code == 404 and "ikke kontrollert" in hidden.text
    reviewed = _talk(settings, 80, state="reviewed")
    with TestClient(app, follow_redirects=False) as client:
        shown = client.get(f"/talks/{reviewed.slug}/transkripsjon/linjer?fra=60")
        assert len(LINE.findall(shown.text)) == 20


@pytest.mark.parametrize("start", ["-1", "en", "1.5"])
def test_a_line_number_that_is_not_one_gets_a_sentence(settings, guest, start):
    talk = _talk(settings, 70)
    response = guest.get(f"/talks/{talk.slug}/transkripsjon/linjer?fra={start}")
    assert response.status_code == 400 and "Linjenummeret må være et helt tall" in response.text


def test_past_the_end_is_an_empty_fragment(settings, guest):
    talk = _talk(settings, 70)
    response = guest.get(f"/talks/{talk.slug}/transkripsjon/linjer?fra=500")
    assert response.status_code == 200 and LINE.findall(response.text) == []


@pytest.mark.browser
def test_the_panel_fills_after_the_page_is_shown_and_its_lines_play(settings, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    require_chromium()
    talk = _talk(settings, 150, every=0.5)  # 75 seconds
    (settings.media_dir / str(talk.id) / "vod" / "stream_0").mkdir(parents=True)
    with database.session(settings) as db:
        with write(db):
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, created_at) VALUES (?, 'a.mp4', 'original.mp4', 1, 80, 1, '2026')",
                [talk.id],
            )
        factories.hls_media(db, settings, talk, tmp_path, 80)
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base}/talks/{talk.slug}")
        page.wait_for_function("document.querySelectorAll('#transcript-lines li').length === 150")
        assert page.get_attribute("#transcript-lines", "aria-busy") is None
        assert page.is_hidden("#transcript-more"), "the note about the first lines goes"
        texts = page.locator("#transcript-lines .text").all_inner_texts()
        assert texts == [f"Linje {i}." for i in range(150)], "in order, each once"
        page.locator("#transcript-lines button").nth(120).click()  # a fetched line, at 60 s
        page.wait_for_function("Math.abs(document.getElementById('video').currentTime - 60) < 1")
        current = "#transcript-lines li:nth-child(121) button[aria-current='true']"
        page.wait_for_selector(current, timeout=10_000)  # a fetched line follows playback too
        assert page.locator("#transcript-lines button[aria-current='true']").count() == 1
        browser.close()
