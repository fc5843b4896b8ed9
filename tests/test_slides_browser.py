"""The slide strip and the chapters in a real browser (headless Debian Chromium through
Playwright, against `ktl serve`): a click or the keyboard jumps the player to the slide or
chapter, the current slide and chapter follow playback, and axe-core finds no WCAG 2.1
A/AA violation on the talk page with slides, the chapter editor, or its error state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import slidevideo
from tests.conftest import need
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
from tests.test_a11y import assert_accessible
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CURRENT = "#{list} li:nth-child({n}) button[aria-current='true']"


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="nb-NO")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.script_errors = errors
        yield page
        context.close()
        browser.close()


def _at(page, seconds: float) -> None:
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('video').currentTime - {seconds}) < 1.5",
        timeout=20_000,
    )


def _current(page, n: int) -> None:
    for name in ("slide-strip", "chapter-list"):
        page.wait_for_selector(CURRENT.format(list=name, n=n), timeout=20_000)
    assert page.locator("#slide-strip button[aria-current='true']").count() == 1


def test_strip_and_chapters_jump_follow_playback_and_pass_axe(settings, page, tmp_path: Path):
    need("ffmpeg", "tesseract")
    deck = slidevideo.make(tmp_path / "deck.mp4")
    organiser = make_user(settings, "organiser")
    talk = slidevideo.ready_talk(settings, deck, organiser)
    with serve(settings.data_dir, tmp_path / "serve.log") as base:
        page.goto(f"{base}/talks/{talk.slug}")
        page.wait_for_function("() => document.getElementById('video').readyState >= 1")
        assert page.locator("#slide-strip img").count() == 4

        page.click("#slide-strip li:nth-child(3) button")  # «Ærlig talt: økonomi» at 0:20
        _at(page, 20)
        _current(page, 3)

        page.focus(
            "#chapter-list li:nth-child(2) button[data-start]"
        )  # by keyboard: «Søknad om tiltak»
        page.keyboard.press("Enter")
        _at(page, 8)
        _current(page, 2)

        page.evaluate("document.getElementById('video').currentTime = 28.5")  # playback moves
        _current(page, 4)
        assert (
            page.locator("#chapter-list button.current[data-start]")
            .inner_text()
            .endswith("Spørsmål og svar")
        )
        page.evaluate("document.getElementById('video').pause()")
        assert_accessible(page, "talk page with slides and chapters")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the strip scrolls
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        page.set_viewport_size({"width": 1280, "height": 800})

        page.goto(base + "/logg-inn")
        page.fill("#email", organiser.email)
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(f"{base}/talks/{talk.slug}")
        assert page.locator("a[href$='/kapitler']").count() == 1
        assert_accessible(page, "talk page with slides, as its organiser")

        page.click("a[href$='/kapitler']")
        page.wait_for_selector("#title-1")
        assert page.input_value("#title-3") == "Ærlig talt: økonomi"
        assert_accessible(page, "chapter editor")
        page.fill("#time-2", "ett minutt")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#chapter-errors")
        assert page.get_attribute("#time-2", "aria-invalid") == "true"
        assert_accessible(page, "chapter editor with an error")
        page.fill("#time-2", "0:09")
        page.fill("#title-2", "Søknad og nabovarsel")
        page.click("main form button[type=submit]")
        page.wait_for_selector("p.notice[role=status]")
        page.goto(f"{base}/talks/{talk.slug}")
        chapter = page.locator("#chapter-list li:nth-child(2) button[data-start]")
        assert chapter.inner_text().replace("\n", " ") == "0:09 Søknad og nabovarsel"
    assert page.script_errors == []
