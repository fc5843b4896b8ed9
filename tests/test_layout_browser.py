"""Layout in a real browser: the main pages as a signed-in admin and as a guest, on a desktop
(1366×768) and a phone (390×844). A page fails on horizontal overflow, a header that wraps
(desktop) or is taller than a closed phone header, and any console error. Screenshots of
every page are kept under the test's tmp_path (layout/<role>-<width>-<page>.png).

Headless Debian Chromium through Playwright against `ktl serve`; the ready talk is a real HLS
rendition made by the real pipeline (ffmpeg + Whisper) from a generated clip; the live talk
has a broadcast that is on air (no encoder sends: it waits for one in its grace period)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import cli
from server.catalogue import programme, search, talks
from server.core.config import load_settings
from server.learning import progress
from server.live import broadcasts
from server.pipeline.worker import Worker
from server.store import db as database
from server.transcript import model as transcript
from tests import factories
from tests.liveserver import serve
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# One row of the header measures 56-60 px in Chromium (brand, links, search box, buttons);
# two rows measure over 100 px. A closed phone header is one row: brand, search, menu.
HEADER_MAX = 70
SEGMENTS = (
    transcript.Segment(0.0, 1.4, "Welcome to the library in the town hall basement."),
    transcript.Segment(1.4, 2.2, "We lend electric bicycles to every employee."),
    transcript.Segment(2.2, 3.0, "They are charged in the basement overnight."),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory, engine):
    """Users, a ready talk with watch progress, a planned talk with sign-ups, a live talk."""
    root = tmp_path_factory.mktemp("layout")
    settings = load_settings(env={}, data_dir=root / "data")
    settings = settings.replace(embedded_worker=False, worker_poll_seconds=0.2)
    settings.ensure_dirs()
    database.init(settings.db_path)
    admin = make_user(settings, "admin", name="Kari Nordmann-Halvorsen")
    organiser = make_user(settings, "organiser", name="Ola Nordmann")
    ready = cli.import_recording(
        settings, factories.video(root / "clip.mp4", seconds=3),
        talks.TalkInput(title="Elsykler på biblioteket: utlån, lading og vedlikehold",
                        speaker="Ola Nordmann", department="Kultur og bibliotek",
                        language="en", visibility="public", starts_at="2025-03-04T11:30",
                        description="Hvordan biblioteket låner ut elsykler til alle ansatte."),
    )  # fmt: skip
    assert Worker(settings, engine_factory=lambda: engine).run_once()
    with database.session(settings) as db:
        assert talks.get(db, ready.id).status == "ready"
        folder = settings.transcripts_dir / str(ready.id)
        transcript.write_all(folder, transcript.Transcript(language="en", segments=SEGMENTS))
        search.index_talk(db, ready.id, SEGMENTS, "en")
        progress.record(db, admin.id, ready.id, {"intervals": [[0, 1.5]], "position": 1.5})
        planned = talks.create(
            db,
            talks.TalkInput(title="Barnevernet i praksis: hva skjer etter en bekymringsmelding?",
                            starts_at="2030-03-04T11:30", visibility="internal",
                            department="Barnevern", room="Kommunestyresalen"),
            organiser,
        )  # fmt: skip
        programme.sign_up(db, admin, planned, "room", "2029-01-01T10:00")
        on_air = talks.create(
            db,
            talks.TalkInput(title="Direkte fra rådhuset", visibility="public",
                            starts_at="2030-01-01T11:30", department="Kommunikasjon"),
            organiser,
        )  # fmt: skip
        broadcasts.ensure(db, on_air)
        broadcasts.set_state(db, on_air.id, broadcasts.LIVE)
    return {"settings": settings, "admin": admin, "ready": ready, "planned": planned,
            "live": on_air}  # fmt: skip


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    log = tmp_path_factory.mktemp("layout-log") / "serve.log"
    env = {"KTL_EMBEDDED_WORKER": "0", "KTL_LIVE_GRACE_SECONDS": "3600"}
    with serve(site["settings"].data_dir, log, **env) as base:
        yield base


def _pages(site: dict, role: str) -> dict[str, str]:
    ready, planned, live = site["ready"].slug, site["planned"].slug, site["live"].slug
    pages = {
        "front": "/",
        "archive": "/arkiv",
        "talk": f"/talks/{ready}",
        "live": f"/talks/{live}",
        "search": "/sok?q=bicycles",
        "programme": "/program",
    }
    if role == "admin":
        pages |= {
            "modules": "/mine-moduler",
            "attendance": f"/talks/{planned}/oppmote",
            "users": "/admin/brukere",
            "audit": "/admin/logg",
            "reports": "/rapporter",
        }
    return pages


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/logg-inn")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


MEASURE = """() => {
  const header = document.querySelector('.site-header').getBoundingClientRect();
  const video = document.getElementById('live-video');
  return {
    overflow: document.scrollingElement.scrollWidth - window.innerWidth,
    header: Math.round(header.height),
    liveVideoBottom: video ? Math.round(video.getBoundingClientRect().bottom) : null,
    wide: [...document.querySelectorAll('body *')].filter(e => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > window.innerWidth + 1;
    }).slice(0, 3).map(e => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`),
  };
}"""


def _check_pages(browser, server: str, site: dict, role: str, viewport: dict, shots: Path):
    context = browser.new_context(locale="nb-NO", viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if role == "admin":
        _sign_in(page, server, site["admin"].email)
    problems: list[str] = []
    for name, path in _pages(site, role).items():
        response = page.goto(server + path)
        label = f"{role} {viewport['width']}px {name} ({path})"
        if response.status != 200:
            problems.append(f"{label}: HTTP {response.status}")
        page.wait_for_load_state("networkidle") if name != "live" else page.wait_for_timeout(500)
        page.screenshot(path=shots / f"{role}-{viewport['width']}-{name}.png", full_page=True)
        found = page.evaluate(MEASURE)
        if found["overflow"] > 0:
            problems.append(f"{label}: {found['overflow']} px too wide: {found['wide']}")
        if found["header"] > HEADER_MAX:
            problems.append(f"{label}: the header is {found['header']} px tall")
        if found["liveVideoBottom"] is not None and found["liveVideoBottom"] > viewport["height"]:
            problems.append(f"{label}: the live player ends at {found['liveVideoBottom']} px")
        problems += [f"{label}: console: {e}" for e in errors]
        errors.clear()
    context.close()
    return problems


@pytest.mark.parametrize("role", ["admin", "guest"])
def test_main_pages_fit_a_desktop_and_a_phone(server, site, browser, role, tmp_path):
    shots = tmp_path / "layout"
    shots.mkdir()
    problems = []
    for viewport in (DESKTOP, PHONE):
        problems += _check_pages(browser, server, site, role, viewport, shots)
    assert not problems, f"screenshots in {shots}:\n" + "\n".join(problems)


@pytest.mark.parametrize("script", [True, False], ids=["fullscreen", "without-javascript"])
def test_the_qr_code_fills_a_projector(server, site, browser, script, tmp_path):
    """'Vis QR-koden på storskjerm' at the top of the attendance page: the QR code, the talk's
    title and the check-in address fill the screen (Fullscreen API) or, without JavaScript,
    the window; the QR code is in view, large."""
    context = browser.new_context(locale="nb-NO", viewport=DESKTOP, java_script_enabled=script)
    page = context.new_page()
    _sign_in(page, server, site["admin"].email)
    page.goto(f"{server}/talks/{site['planned'].slug}/oppmote")
    link = page.locator("#projector-open").bounding_box()
    assert link["y"] + link["height"] <= DESKTOP["height"], "the button is in view"
    page.click("#projector-open")
    page.wait_for_selector("#storskjerm img", state="visible")
    if script:
        page.wait_for_function("() => document.fullscreenElement?.id === 'storskjerm'")
    page.screenshot(path=tmp_path / "projector.png")
    qr = page.locator("#storskjerm img").bounding_box()
    assert qr["height"] >= 0.6 * DESKTOP["height"] and qr["y"] + qr["height"] <= DESKTOP["height"]
    shown = page.inner_text("#storskjerm")
    assert site["planned"].title in shown and "/innsjekk/" in shown
    page.click(".projector-close")
    page.wait_for_selector("#storskjerm", state="hidden")
    context.close()


def test_the_phone_menu_opens_and_closes_and_works_without_javascript(server, site, browser):
    """A phone: the closed header is one row; 'Meny' opens the navigation and the search box,
    Escape closes it again. Without JavaScript there is no button and the links are there."""
    context = browser.new_context(locale="nb-NO", viewport=PHONE)
    page = context.new_page()
    _sign_in(page, server, site["admin"].email)
    assert page.is_hidden("nav a[href='/program']") and page.is_hidden("#sok-q")
    page.click(".menu-toggle")
    assert page.get_attribute(".menu-toggle", "aria-expanded") == "true"
    assert page.is_visible("nav a[href='/program']") and page.is_visible("#sok-q")
    page.click("summary:has-text('Administrasjon')")
    assert page.is_visible("a[href='/admin/brukere']")
    page.focus("#sok-q")
    page.keyboard.press("Escape")
    assert page.is_hidden("#sok-q") and page.evaluate("document.activeElement.className") == (
        "menu-toggle"
    )
    page.click(".menu-toggle")
    page.fill("#sok-q", "bicycles")
    page.press("#sok-q", "Enter")
    page.wait_for_selector("a.hit")
    assert page.locator(".site-header").bounding_box()["height"] <= HEADER_MAX
    assert page.locator("input[type=search]").count() == 1, "one search box on the search page"
    context.close()

    plain = browser.new_context(locale="nb-NO", viewport=PHONE, java_script_enabled=False)
    page = plain.new_page()
    page.goto(server + "/")
    assert page.is_hidden(".menu-toggle")
    for link in ("/program", "/arkiv", "/logg-inn"):
        assert page.is_visible(f".site-header a[href='{link}']"), link
    assert page.is_visible("#sok-q")
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    plain.close()


def test_archive_filters_apply_on_change(server, site, browser):
    page = browser.new_context(locale="nb-NO", viewport=DESKTOP).new_page()
    page.goto(server + "/arkiv")
    assert page.is_hidden("form.filters button"), "no button to press with JavaScript"
    page.select_option("select[name=department]", "Kultur og bibliotek")
    page.wait_for_url("**/arkiv?year=&department=Kultur+og+bibliotek")
    assert page.evaluate("document.activeElement.name") == "department", "focus stays"
    page.select_option("select[name=year]", "2025")
    page.wait_for_url("**/arkiv?year=2025&department=Kultur+og+bibliotek")
    assert site["ready"].title in page.inner_text("main")
    page.context.close()
