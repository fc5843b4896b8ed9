"""Accessibility in a real browser: axe-core (WCAG 2.1 A and AA rules) on every page type,
and a keyboard-only walk from the front page to a spoken second of a talk.

Headless Debian Chromium through Playwright against `ktl serve`; the ready talk is a real
HLS rendition made by the real pipeline (ffmpeg + Whisper) from a generated clip.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from server import cli
from server.catalogue import search, talks
from server.core.config import load_settings
from server.learning import quizzes
from server.pipeline.worker import Worker
from server.store import db as database
from server.transcript import model as transcript
from tests import factories
from tests.liveserver import serve
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]}
SEGMENTS = (
    transcript.Segment(0.0, 1.4, "Welcome to the library."),
    transcript.Segment(1.4, 2.2, "We lend electric bicycles."),
    transcript.Segment(2.2, 3.0, "They are charged in the basement."),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory, engine):
    """A data folder with users, a ready talk (real HLS), a processing and a planned talk."""
    root = tmp_path_factory.mktemp("a11y")
    settings = load_settings(env={}, data_dir=root / "data")
    settings = settings.replace(embedded_worker=False, worker_poll_seconds=0.2)
    settings.ensure_dirs()
    database.init(settings.db_path)
    users = {role: make_user(settings, role) for role in ("viewer", "organiser", "admin")}
    clip = factories.video(root / "clip.mp4", seconds=3)
    ready = cli.import_recording(
        settings, clip,
        talks.TalkInput(title="Elsykler på biblioteket", speaker="Ola Nordmann",
                        department="Biblioteket", language="en", visibility="public",
                        description="Hvordan biblioteket låner ut elsykler."),
    )  # fmt: skip
    assert Worker(settings, engine_factory=lambda: engine).run_once()
    with database.session(settings) as db:
        assert talks.get(db, ready.id).status == "ready"
        # Known lines instead of what Whisper heard in a tone: the walk needs exact words.
        folder = settings.transcripts_dir / str(ready.id)
        transcript.write_all(folder, transcript.Transcript(language="en", segments=SEGMENTS))
        search.index_talk(db, ready.id, SEGMENTS, "en")
        question = quizzes.QuestionInput(
            kind="single", text="Where are the bicycles charged?", at="0:02",
            explanation="In the basement.", options=("In the basement", "On the roof"),
            correct=(0,),
        )  # fmt: skip
        quizzes.save_question(db, ready, question, users["admin"])
        quizzes.save_settings(db, ready, "80", True, True, users["admin"])
    processing = cli.import_recording(
        settings, clip, talks.TalkInput(title="Byggesak forklart", visibility="public")
    )
    with database.session(settings) as db:
        planned = talks.create(
            db,
            talks.TalkInput(title="Barnevernet i praksis", starts_at="2030-03-04T11:30",
                            visibility="internal", department="Barnevern"),
            users["organiser"],
        )  # fmt: skip
    return {"settings": settings, "users": users, "ready": ready,
            "processing": processing, "planned": planned}  # fmt: skip


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    settings = site["settings"]
    log = tmp_path_factory.mktemp("a11y-log") / "serve.log"
    with serve(settings.data_dir, log, KTL_EMBEDDED_WORKER="0") as base:
        yield base


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/logg-inn")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


def assert_accessible(page, label: str) -> None:
    violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    "
        + "\n    ".join(f"{n['target']}: {n.get('failureSummary', '')!r}" for n in v["nodes"])
        for v in violations
    )
    assert not violations, f"axe found WCAG 2.1 A/AA violations on {label}:\n{report}"


def visit(page, url: str, label: str, expect_status: int = 200) -> None:
    response = page.goto(url)
    assert response.status == expect_status, f"{label}: HTTP {response.status}"
    assert_accessible(page, label)


def wait_for_player(page) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return v && v.readyState >= 1 && v.textTracks.length > 0; }",
        timeout=30_000,
    )


def test_guest_pages_pass_axe(server, site, page):
    ready = site["ready"]
    visit(page, server + "/", "the front page")
    visit(page, server + "/arkiv", "the archive")
    visit(page, server + "/sok?q=basement", "search results with hits")
    assert page.locator("a.hit").count() >= 1
    visit(page, server + "/sok?q=zxqvw", "search results without hits")
    assert page.locator(".results li").count() == 0
    assert page.locator("main .notice[role=status]").count() == 1, "the no-hit message"
    page.goto(server + f"/talks/{ready.slug}")
    wait_for_player(page)
    assert_accessible(page, "a ready talk with player and transcript")
    visit(page, server + "/logg-inn", "the login page")
    visit(page, server + "/glemt-passord", "forgot password")
    visit(page, server + "/passord/utlopt-lenke", "an expired password link", 410)
    visit(page, server + "/finnes-ikke", "the 404 page", 404)
    page.goto(server + f"/talks/{site['planned'].slug}")  # internal: guests get 404
    assert_accessible(page, "an internal talk asked for by a guest")


def test_english_pages_pass_axe(server, site, browser):
    context = browser.new_context(locale="en-GB", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()
    try:
        visit(page, server + "/", "the front page in English")
        assert page.get_attribute("html", "lang") == "en"
        page.goto(server + f"/talks/{site['ready'].slug}")
        wait_for_player(page)
        assert_accessible(page, "a ready talk in English")
    finally:
        context.close()


def test_organiser_pages_pass_axe(server, site, page):
    sign_in(page, server, "organiser@kommune.no")
    visit(page, server + f"/talks/{site['planned'].slug}", "a planned talk with upload form")
    assert page.locator("#recording-file").count() == 1
    visit(page, server + f"/talks/{site['processing'].slug}", "a talk being processed")
    assert page.locator("section.processing").count() == 1
    visit(page, server + f"/talks/{site['planned'].slug}/direkte", "going live")
    assert page.locator("#live-start").count() == 1
    visit(page, server + f"/talks/{site['planned'].slug}", "a talk about to go live")
    assert page.locator("#live-join").count() == 1
    visit(page, server + "/talks/ny", "the new talk form")
    page.fill("#title", "   ")
    page.fill("#starts_at", "")
    page.click("form.talk-form button[type=submit]")
    page.wait_for_selector(".field-error")
    assert_accessible(page, "the new talk form with validation errors")


def test_admin_pages_pass_axe(server, site, page):
    sign_in(page, server, "admin@kommune.no")
    visit(page, server + "/admin/brukere", "admin: users")
    visit(page, server + f"/admin/brukere/{site['users']['viewer'].id}", "admin: one user")
    visit(page, server + "/admin/logg", "admin: audit log")
    assert page.locator("tbody tr").count() >= 1
    visit(page, server + "/admin/ordliste", "admin: vocabulary")
    slug = site["ready"].slug
    visit(page, server + f"/talks/{slug}/transkripsjon", "the transcript editor")
    visit(page, server + f"/talks/{slug}/transkripsjon/versjoner", "transcript versions")
    visit(page, server + "/program", "the programme")
    planned = site["planned"].slug
    visit(page, server + f"/talks/{planned}/oppmote", "attendance with QR code")
    visit(page, server + f"/talks/{slug}/quiz/rediger", "quiz authoring")
    visit(page, server + f"/talks/{slug}/quiz/forhandsvisning", "quiz preview")
    visit(page, server + f"/talks/{slug}/quiz", "taking the quiz")
    page.click("#quiz-submit")  # nothing answered: the unanswered questions are named
    page.wait_for_selector("#unanswered")
    assert_accessible(page, "quiz: unanswered questions named")
    page.click("#quiz-confirm")
    page.wait_for_selector("#resultat")
    assert_accessible(page, "quiz result")
    visit(page, server + "/mine-moduler", "my modules")
    assert page.locator("table.modules tbody tr").count() >= 1
    visit(page, server + f"/talks/{slug}/resultater", "results of a talk with charts")
    assert page.locator("svg.chart-questions").count() == 1
    visit(page, server + "/rapporter", "reports: departments × talks")
    page.locator("table.report-matrix tbody th a").first.click()
    page.wait_for_selector("table.report-people, main p")
    assert_accessible(page, "reports: one department")


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching selector has focus (a keyboard user's path)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"Tab never reached {selector}")


def test_skip_link_is_visible_on_focus_and_moves_focus(server, page):
    page.goto(server + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip')")
    box = page.locator("a.skip").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 20, "visible on focus"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "innhold"


def test_keyboard_only_search_to_talk_transcript_and_captions(server, site, page):
    page.goto(server + "/")
    _tab_to(page, "#sok-q")
    page.keyboard.type("basement")
    page.keyboard.press("Enter")
    page.wait_for_url("**/sok?q=basement*")
    _tab_to(page, "a.hit")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/talks/{site['ready'].slug}?t=*")
    wait_for_player(page)

    # A transcript line by keyboard: Enter seeks the video to that line's start.
    page.evaluate("document.querySelector('video').pause()")
    _tab_to(page, "#transcript-lines button[data-start='1.4']")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => Math.abs(document.querySelector('video').currentTime - 1.4) < 0.6", timeout=10_000
    )
    page.wait_for_selector("#transcript-lines button[aria-current='true']", timeout=10_000)

    # The captions toggle by keyboard.
    page.evaluate("document.querySelector('video').pause()")
    page.focus("#video")
    _tab_to(page, "#captions-toggle")
    assert page.get_attribute("#captions-toggle", "aria-pressed") == "true"
    page.keyboard.press("Enter")
    assert page.get_attribute("#captions-toggle", "aria-pressed") == "false"
    assert page.evaluate("document.querySelector('video').textTracks[0].mode") == "hidden"
    page.keyboard.press("Space")
    assert page.get_attribute("#captions-toggle", "aria-pressed") == "true"
    assert page.evaluate("document.querySelector('video').textTracks[0].mode") == "showing"
    assert page.console_errors == []


def test_caption_settings_apply_by_keyboard_and_are_remembered(server, site, page):
    url = server + f"/talks/{site['ready'].slug}"
    page.goto(url)
    wait_for_player(page)
    _tab_to(page, "#caption-size")
    page.keyboard.press("ArrowDown")  # normal -> large
    page.focus("#caption-size")
    _tab_to(page, "#caption-colours")
    page.keyboard.press("ArrowDown")  # white on black -> yellow on black
    classes = page.get_attribute("#video", "class")
    assert "cue-size-large" in classes and "cue-colours-yellow" in classes
    page.reload()
    wait_for_player(page)
    classes = page.get_attribute("#video", "class")
    assert "cue-size-large" in classes and "cue-colours-yellow" in classes, "remembered"
    assert page.input_value("#caption-size") == "large"
    assert page.get_attribute("#transcript-lines", "lang") == "en"
    assert page.get_attribute("#video track", "srclang") == "en"
