"""The live viewer's page in Chromium at 1366×768 and 390×844, with a real SRT encoder (ffmpeg)
sending to `ktl serve`: from "Direkte nå" the player comes first with its controls in view,
captions wrap inside the video, questions go while the talk is on air; the organiser's
"Avslutt sendingen" asks first; after the end the page shows only the recording's state, the
question form is closed with a sentence and the server refuses a question; the front page
never lists the talk under "Kommende foredrag"."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.live import broadcasts
from server.store import db as database
from server.web.app import create_app
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, serve
from tests.test_live import _open_encoder, _publish, _sign_in, _wait
from tests.webclient import PASSWORD, make_user

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
OVER = "Sendingen er over; spørsmål kan ikke sendes nå."
# One caption line longer than any the live captioner makes, with a word too long for a phone.
LONG_CAPTION = ("Barnevernstjenesten samarbeider med helsestasjonen, skolehelsetjenesten og "
                "barnehagene om tidlig innsats; vi bruker ordet kommunehelsetjenestelovgivningen "
                "ofte når vi forklarer hvem som har ansvaret.")  # fmt: skip
# The real captioner needs Whisper on live audio (tests/test_live.py covers it); this test
# puts a long line where live-watch.js puts captions, to check where the layout lets it go.
PUT_CAPTION = """(text) => {
  const line = document.createElement('p');
  line.textContent = text;
  document.getElementById('live-captions').appendChild(line);
}"""
INSIDE = """() => {  // the caption box clips (overflow: hidden): what is drawn is inside it
  const video = document.getElementById('live-video').getBoundingClientRect();
  const box = document.getElementById('live-captions').getBoundingClientRect();
  const shown = [...document.querySelectorAll('#live-captions p')].filter(p => p.offsetParent);
  const within = (r) => r.left >= video.left && r.right <= video.right;
  return shown.length > 0 && within(box) && box.top >= video.top && box.bottom <= video.bottom
    && shown.every(p => within(p.getBoundingClientRect()));
}"""

# Before the page reloads itself after the end: what it showed once the end began (kept in
# sessionStorage, which outlives the reload).
WATCH_THE_END = """() => {
  const check = () => {
    const fields = document.getElementById('question-fields');
    const closed = document.getElementById('question-closed');
    if (!fields.disabled || closed.hidden) return;
    sessionStorage.setItem('live-end', JSON.stringify({text: closed.textContent,
      player: document.getElementById('live-player').hidden,
      badge: document.getElementById('live-badge').hidden}));
  };
  new MutationObserver(check).observe(document.getElementById('live'),
    {attributes: true, subtree: true, childList: true, characterData: true});
}"""


def _sign_in_page(page, base: str, email: str) -> None:
    page.goto(base + "/logg-inn")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


def _upcoming_titles(base: str) -> str:
    front = httpx.get(base + "/", timeout=10).text
    return front.split('id="kommende"', 1)[1].split("</section>", 1)[0]


@pytest.mark.browser
@pytest.mark.integration
def test_watching_live_and_the_end_on_a_desktop_and_a_phone(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    require_chromium()
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(
            title="Direkte fra rådhuset", visibility="public", starts_at="2030-01-01T11:30",
            description="Budsjettet forklart.", department="Økonomi"), organiser)  # fmt: skip
    slug = talk.slug
    env = {"KTL_SRT_BIND": "127.0.0.1", "KTL_SRT_PORTS": str(free_port()),
           "KTL_LIVE_CAPTIONS": "false", "KTL_EMBEDDED_WORKER": "0"}  # fmt: skip
    with serve(settings.data_dir, tmp_path / "serve.log", **env) as base, sync_playwright() as pw:
        client, token = _sign_in(base, organiser.email)
        assert "Direkte fra rådhuset" in _upcoming_titles(base), "planned, not yet on air"
        publisher = _publish(_open_encoder(client, token, slug), 120)
        state = lambda: _broadcast_state(settings, talk.id)  # noqa: E731
        _wait(lambda: state() == "live", 30, "the broadcast to go live")
        assert "Direkte fra rådhuset" not in _upcoming_titles(base), "on air is not upcoming"

        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        viewers = {}
        for name, viewport in VIEWPORTS.items():
            page = browser.new_context(viewport=viewport, locale="nb-NO").new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
            _sign_in_page(page, base, "viewer@kommune.no")
            page.click("a.live-link")  # "Direkte nå" on the front page
            page.wait_for_function(  # the click may not have left the front page yet
                "() => document.getElementById('live-video')?.currentTime > 1", timeout=30_000
            )
            _player_comes_first(page, viewport, name)
            page.evaluate(PUT_CAPTION, LONG_CAPTION)
            page.evaluate(PUT_CAPTION, LONG_CAPTION.upper())
            page.screenshot(path=tmp_path / f"live-{name}.png")
            assert page.evaluate(INSIDE), f"{name}: captions wrap inside the video"
            viewers[name] = (page, errors)

        page = viewers["phone"][0]
        page.fill("#question-text", "Gjelder dette også skolene?")
        page.click("#question-form button[type=submit]")
        page.wait_for_function(
            "() => document.getElementById('question-status').textContent"
            " === 'Spørsmålet er sendt.'"
        )

        sender = browser.new_context(viewport=VIEWPORTS["desktop"], locale="nb-NO").new_page()
        _sign_in_page(sender, base, organiser.email)
        sender.goto(f"{base}/talks/{slug}/direkte")
        asked: list[str] = []
        sender.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        sender.click("#end-broadcast")
        sender.wait_for_timeout(1000)
        assert asked and "Avslutte sendingen nå?" in asked[0], "it asks before ending"
        assert state() == "live", "answering Cancel keeps the broadcast on air"
        for page, _ in viewers.values():
            page.evaluate(WATCH_THE_END)
        sender.once("dialog", lambda d: d.accept())
        sender.click("#end-broadcast")
        sender.wait_for_url(re.compile(rf"/talks/{slug}(\?.*)?$"), timeout=60_000)

        for name, (page, errors) in viewers.items():
            page.wait_for_selector("section.processing", timeout=30_000)  # reloaded by itself
            seen = page.evaluate("JSON.parse(sessionStorage.getItem('live-end') || 'null')")
            assert seen == {"text": OVER, "player": True, "badge": True}, f"{name}: {seen}"
            shown = page.inner_text("main")
            assert "Direkte nå" not in shown and "Direktesending" not in shown, name
            assert (
                page.query_selector("#live") is None and page.query_selector("#live-video") is None
            )
            page.screenshot(path=tmp_path / f"ended-{name}.png")
            assert errors == [], f"{name}: {errors}"
        publisher.kill()
        publisher.communicate()

        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        refused = client.post(f"/talks/{slug}/sporsmal", json={"text": "Sent?"}, headers=headers)
        assert refused.status_code == 409 and refused.json()["error"]
        assert "Direkte fra rådhuset" not in _upcoming_titles(base), "ended is not upcoming"
        client.close()
        browser.close()


def test_the_question_form_says_when_questions_are_taken(settings):
    """The page as the server renders it before, during and at the end of a broadcast
    (`ending`: the parts are being joined): the form is open only while on air."""
    from tests.webclient import login

    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Spør oss", visibility="public"), organiser)
        broadcasts.ensure(db, talk)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        login(client, viewer.email)
        for state, form_open, player, sentence in (
            ("idle", False, True, "Du kan stille spørsmål når sendingen har startet."),
            ("live", True, True, None),
            ("interrupted", True, True, None),
            ("ending", False, False, OVER),
        ):
            with database.session(settings) as db:
                broadcasts.set_state(db, talk.id, state)
            page = client.get(f"/talks/{talk.slug}").text
            fields = re.search(r'<fieldset class="question-fields"[^>]*>', page).group(0)
            assert ("disabled" not in fields) == form_open, state
            assert ('id="live-player" hidden' not in page) == player, state
            closed = re.search(r'<p id="question-closed"[^>]*>([^<]*)<', page)
            assert ("hidden" in closed.group(0)) == (sentence is None), state
            if sentence:
                assert closed.group(1) == sentence, state


def _broadcast_state(settings, talk_id: int) -> str | None:
    with database.session(settings) as db:
        row = broadcasts.get(db, talk_id)
    return row.state if row else None


def _player_comes_first(page, viewport: dict, name: str) -> None:
    video = page.locator("#live-video").bounding_box()
    assert video["y"] + video["height"] <= viewport["height"], f"{name}: controls in view"
    for later in ("#pamelding", ".meta"):
        box = page.locator(later).first.bounding_box()
        assert box is None or box["y"] > video["y"], f"{name}: the player comes before {later}"
