"""Links to a moment, the embeddable player, personal notes and the English track in a real
browser: Debian's Chromium through Playwright against `ktl serve`, real HLS made by ffmpeg
(a test picture and a tone; no Whisper), axe-core on each new page state."""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path

import pytest

from server.catalogue import search
from server.people import accounts
from server.store import db as database
from server.transcript import model as transcript
from server.transcript import translation
from tests import factories
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, serve
from tests.test_a11y import assert_accessible
from tests.test_access_matrix import _talk
from tests.test_browser import _sign_in
from tests.webclient import make_user

pytestmark = [pytest.mark.browser]
VIDEO = "document.getElementById('video')"
SEGMENTS = (
    transcript.Segment(0.0, 3.0, "Velkommen til foredraget."),
    transcript.Segment(3.0, 6.0, "Her er det viktigste poenget."),
    transcript.Segment(6.0, 12.0, "Takk for at dere hørte på."),
)
WORDS = ("Welcome to the talk.", "Here is the main point.", "Thank you for listening.")
ENGLISH = transcript.Transcript(
    "en", tuple(transcript.Segment(s.start, s.end, t) for s, t in zip(SEGMENTS, WORDS, strict=True))
)


@contextlib.contextmanager
def _host_page(page: dict):
    """Another origin (another port of 127.0.0.1) serving page["html"]: the intranet."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(settings, tmp_path: Path):
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "public", "Del og noter")
        factories.hls_media(db, settings, talk, tmp_path, 12)
        folder = settings.transcripts_dir / str(talk.id)
        transcript.write_all(folder, transcript.Transcript(language="nb", segments=SEGMENTS))
        search.index_talk(db, talk.id, SEGMENTS, "nb")
        translation.store_machine(db, settings, talk.id, ENGLISH, 2.0)
    return {"settings": settings, "talk": talk}


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _page(browser):
    """A fresh context and page; the page's uncaught script errors are kept in page.errors."""
    context = browser.new_context(locale="nb-NO")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return context, page


def test_a_range_link_plays_just_that_part_and_the_panel_makes_links(site, browser, tmp_path):
    talk = site["talk"]
    with serve(site["settings"].data_dir, tmp_path / "serve.log") as base:
        context, page = _page(browser)
        page.goto(f"{base}/talks/{talk.slug}?t=2&til=4")
        page.wait_for_function(f"() => {VIDEO}.currentTime >= 4 && {VIDEO}.paused", timeout=30_000)
        assert page.evaluate(f"{VIDEO}.currentTime") < 5  # stopped at the end of the range
        notice = page.locator("#range-notice")
        notice.wait_for(state="visible")
        assert "Utdraget er slutt" in notice.inner_text()
        page.click("#share > summary")
        # Opening the panel fills «Fra» with the playing time (its toggle event comes a moment
        # after the click; a fill before it would be typed after the time it writes).
        page.wait_for_function("() => document.getElementById('share-from').value === '0:04'")
        page.fill("#share-from", "0:03")
        page.fill("#share-to", "0:07")
        assert page.input_value("#share-link") == f"{base}/talks/{talk.slug}?t=3&til=7"
        page.fill("#share-to", "0:02")
        assert "«Til» må være etter «Fra»" in page.inner_text("#share-error")
        page.fill("#share-to", "")
        page.click("button[data-share-field=share-link]")
        page.wait_for_function("() => document.getElementById('share-link-status').textContent")
        assert_accessible(page, "talk page with the share panel open")
        # The Media Fragments form, as another site may write it.
        page.goto(f"{base}/talks/{talk.slug}#t=1,3")
        page.wait_for_function(f"() => {VIDEO}.currentTime >= 3 && {VIDEO}.paused", timeout=30_000)
        assert page.evaluate(f"{VIDEO}.currentTime") < 4
        # A search hit's link to copy (the English track's hit says so).
        page.goto(f"{base}/sok?q=main+point")
        assert page.locator(".hit-english").first.inner_text() == "English (machine translation)"
        page.locator("button.share-hit").first.click()
        page.wait_for_function("() => document.querySelector('.share-hit-status').textContent")
        assert_accessible(page, "search results with an English hit")
        assert page.errors == [], "the page's scripts ran without an error"
        context.close()


def _frames(base: str, slug: str) -> str:
    return (
        "<!doctype html><html lang='nb'><title>Intranett</title>"
        f"<iframe name='spiller' title='Spiller' width='640' height='400'"
        f" src='{base}/talks/{slug}/embed?t=1&amp;til=3'></iframe>"
        f"<iframe name='side' title='Siden' src='{base}/talks/{slug}'></iframe></html>"
    )


def _refused(frame) -> bool:
    """Chromium shows its own error page in a frame whose page refuses to be framed."""
    return frame.url.startswith("chrome-error://") or not frame.evaluate(
        "() => !!document.querySelector('main')"
    )


def test_the_embed_page_plays_in_a_frame_on_an_allowed_origin_only(site, browser, tmp_path):
    slug = site["talk"].slug
    allowed, other = {"html": ""}, {"html": ""}
    with _host_page(allowed) as intranet, _host_page(other) as elsewhere:
        env = {"KTL_FRAME_ORIGINS": intranet}
        with serve(site["settings"].data_dir, tmp_path / "serve.log", **env) as base:
            allowed["html"] = other["html"] = _frames(base, slug)
            context, page = _page(browser)
            response = page.goto(f"{base}/talks/{slug}/embed")
            policy = response.headers["content-security-policy"]
            assert f"frame-ancestors 'self' {intranet}" in policy
            assert "x-frame-options" not in response.headers
            page.wait_for_function(f"() => {VIDEO}.textTracks.length === 2", timeout=30_000)
            labels = page.evaluate(f"Array.from({VIDEO}.textTracks).map(t => t.label)")
            assert labels == ["Teksting", "English (machine translation)"]
            assert_accessible(page, "embed page")

            page.goto(intranet)  # allowed: the player plays its range and stops
            player = page.frame(name="spiller")
            player.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return v && v.currentTime >= 3 && v.paused; }",
                timeout=30_000,
            )
            assert player.evaluate("document.getElementById('video').currentTime") < 4
            page.wait_for_timeout(500)
            assert _refused(page.frame(name="side"))  # every other page refuses frames

            page.goto(elsewhere)  # not in KTL_FRAME_ORIGINS: the player is refused too
            page.wait_for_timeout(1500)
            assert _refused(page.frame(name="spiller"))
            assert page.errors == [], "the page's scripts ran without an error"
        context.close()


def test_notes_are_written_jumped_to_and_deleted_in_the_browser(site, browser, tmp_path):
    talk = site["talk"]
    with serve(site["settings"].data_dir, tmp_path / "serve.log") as base:
        context, page = _page(browser)
        page.on("dialog", lambda dialog: dialog.accept())
        _sign_in(page, base, "viewer@kommune.no")
        page.goto(f"{base}/talks/{talk.slug}?t=5")
        page.wait_for_function(f"() => {VIDEO}.currentTime >= 5", timeout=30_000)
        page.evaluate(f"{VIDEO}.pause(); null")
        page.fill("#note-text", "S")  # the time becomes the playing time
        assert page.input_value("#note-at") in ("0:05", "0:06", "0:07")
        page.fill("#note-at", "0:08")
        page.fill("#note-text", "Spør om fristen her")
        page.click("#note-form button[type=submit]")
        item = page.locator("#note-list li.note")
        item.wait_for()
        assert "Spør om fristen her" in item.inner_text() and "0:08" in item.inner_text()
        assert page.evaluate(f"{VIDEO}.currentTime") < 8  # the video was not reloaded
        assert_accessible(page, "talk page with a note")
        page.click("#note-list a.note-time")
        page.wait_for_function(f"() => Math.abs({VIDEO}.currentTime - 8) < 1.5", timeout=20_000)
        page.goto(f"{base}/mine-moduler")
        assert "Spør om fristen her" in page.inner_text(".my-notes")
        assert_accessible(page, "Mine moduler with notes")
        page.goto(f"{base}/talks/{talk.slug}")
        page.click("#note-list .note-delete button")
        page.locator("#note-empty").wait_for(state="visible")
        assert page.locator("#note-list li").count() == 0
        assert page.errors == [], "the page's scripts ran without an error"
        context.close()


def test_the_english_track_page_passes_axe(site, browser, tmp_path):
    talk = site["talk"]
    with serve(site["settings"].data_dir, tmp_path / "serve.log") as base:
        context, page = _page(browser)
        _sign_in(page, base, "organiser@kommune.no")
        page.goto(f"{base}/talks/{talk.slug}/engelsk")
        assert page.locator("textarea[name=text]").count() == 3
        assert_accessible(page, "the English track's page")
        page.goto(f"{base}/talks/{talk.slug}?tekst=en")
        page.wait_for_function(f"() => {VIDEO}.textTracks.length === 2", timeout=30_000)
        showing = page.evaluate(
            f"Array.from({VIDEO}.textTracks).filter(t => t.mode === 'showing').map(t => t.language)"
        )
        assert showing == ["en"]
        assert page.input_value("#caption-track") == "en"
        page.click(".transcript-en > summary")
        page.click("#transcript-lines-en li:nth-child(2) button")
        page.wait_for_function(f"() => Math.abs({VIDEO}.currentTime - 3) < 1.5", timeout=20_000)
        assert_accessible(page, "talk page with the English transcript open")
        assert page.errors == [], "the page's scripts ran without an error"
        context.close()


MARKUP = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _answering(answer: dict | None):
    """A Playwright route handler: fulfil with `answer`, or abort (no answer) when None."""
    return lambda route, _request: route.fulfill(**answer) if answer else route.abort()


def test_hostile_notes_and_links_break_nothing_in_the_browser(site, browser, tmp_path):
    """Markup in a note stays text (drawn by js/notes.js and by the server); links with
    times that are no times, backwards or past the end play the talk without a word."""
    talk = site["talk"]
    with serve(site["settings"].data_dir, tmp_path / "serve.log") as base:
        context, page = _page(browser)
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        _sign_in(page, base, "viewer@kommune.no")
        page.goto(f"{base}/talks/{talk.slug}")
        page.fill("#note-text", MARKUP)
        page.fill("#note-at", "0:04")
        page.click("#note-form button[type=submit]")
        page.locator("#note-list li.note").wait_for()
        assert MARKUP in page.inner_text("#note-list .note-text")
        page.reload()
        assert MARKUP in page.inner_text("#note-list .note-text")
        for answer in ({"status": 502, "body": "<html>Bad Gateway</html>"}, None):
            route = f"{base}/talks/{talk.slug}/notater"  # a proxy's error page; no answer
            page.route(route, _answering(answer))
            page.fill("#note-text", "Kommer ikke fram")
            page.click("#note-form button[type=submit]")
            page.wait_for_function("() => document.getElementById('note-error').textContent")
            assert page.inner_text("#note-error") == (
                "Notatet ble ikke lagret. Sjekk nettforbindelsen og prøv igjen."
            )
            page.unroute(route)
        page.goto(f"{base}/mine-moduler")
        assert MARKUP in page.inner_text(".my-notes")
        for query in ("?t=99999&til=abc", "?t=1:2:3:4", "?t=9&til=3", "?t=-4&til=1e400",
                      "?t=11&til=400", "#t=20,5", "#t=abc"):  # fmt: skip
            page.goto(f"{base}/talks/{talk.slug}{query}")
            page.wait_for_function(f"() => {VIDEO}.readyState >= 1", timeout=30_000)
            assert page.locator("#range-notice").is_hidden(), query
            assert page.locator(".error:visible, [role=alert]:visible").count() == 0, query
        assert dialogs == [] and page.errors == [], "no script of a note ran, no script failed"
        context.close()


def test_a_guest_framing_an_internal_talk_is_told_to_sign_in(site, browser, tmp_path):
    settings = site["settings"]
    with database.session(settings) as db:
        organiser = db.execute("SELECT id FROM users WHERE role = 'organiser'").fetchone()[0]
        internal = _talk(db, settings, accounts.get(db, organiser), "internal", "Internt")
    frame = {"html": ""}
    log = tmp_path / "serve.log"
    with (
        _host_page(frame) as intranet,
        serve(settings.data_dir, log, KTL_FRAME_ORIGINS=intranet) as base,
    ):
        frame["html"] = (
            "<!doctype html><html lang='nb'><title>Intranett</title><iframe name='spiller'"
            f" title='Spiller' src='{base}/talks/{internal.slug}/embed'></iframe></html>"
        )
        context, page = _page(browser)
        page.goto(intranet)
        player = page.frame(name="spiller")  # the load event waited for it
        assert not _refused(player)
        assert "må du logge inn for å se det" in player.inner_text("main")
        link = player.locator("a[target=_blank]")
        assert link.get_attribute("href").startswith("/logg-inn?neste=")
        page.goto(f"{base}/talks/{internal.slug}/embed")
        assert_accessible(page, "embed page refused to a guest")
        assert page.errors == []
        context.close()
