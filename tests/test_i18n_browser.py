"""The English editor in a real browser (headless Debian Chromium through Playwright, against
`ktl serve`): its title, buttons and every sentence its script writes are English.

The site is written in English (tests.test_i18n._english_site), so any Norwegian word met
comes from the interface: the template, the JSON block of sentences, or js/editor.js.
"""

from __future__ import annotations

import pytest

from server.store import db as database
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
from tests.test_i18n import NORWEGIAN, norwegian_words
from tests.test_i18n import _english_site as english_site
from tests.webclient import PASSWORD

pytestmark = [pytest.mark.browser]


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/logg-inn")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


def _status(page, selector: str, before: str) -> str:
    """The text of a live region once the script has changed it."""
    page.wait_for_function(
        "([sel, old]) => { const t = document.querySelector(sel).textContent.trim(); "
        "return t !== '' && t !== old; }",
        arg=[selector, before],
    )
    return page.inner_text(selector)


def test_the_english_editor_and_its_script_speak_english(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    require_chromium()
    site = english_site(settings)
    with (
        serve(settings.data_dir, tmp_path / "serve.log") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="en-GB").new_page()
        _sign_in(page, base, "organiser@kommune.no")
        page.goto(f"{base}/talks/{site['ready']}/transkripsjon")
        assert page.get_attribute("html", "lang") == "en"
        assert page.title().startswith("Edit the transcript")
        said = [page.title()]

        page.click("#find-next")  # nothing to find
        said.append(_status(page, "#find-status", ""))
        page.fill("#find", "zebra")
        page.click("#find-next")
        said.append(_status(page, "#find-status", said[-1]))
        assert "zebra" in said[-1]
        page.fill("#replace", "bicycles")
        said.append(page.inner_text("#add-vocabulary"))
        page.click("#add-vocabulary")
        said.append(_status(page, "#find-status", said[-2]))
        assert "bicycles" in said[-1]

        last = page.locator("li.seg textarea").last
        last.focus()
        page.locator("li.seg").last.locator("button[data-action=merge]").click()
        said.append(_status(page, "#save-status", ""))
        page.locator("li.seg textarea").first.fill("Welcome to the town library.")
        page.click("#save")
        page.wait_for_selector("#save-status.saved")
        said.append(page.inner_text("#save-status"))

        met = sorted({m.group(0) for text in said for m in NORWEGIAN.finditer(text)})
        assert met == [], f"Norwegian in what the editor said: {said}"
        assert norwegian_words(page.content()) == []
        browser.close()


def test_a_timed_true_or_false_question_speaks_english(settings, tmp_path):
    """js/quiz.js builds the timed question's options; a true/false one takes the page's
    words for them, so an English page shows True and False."""
    from playwright.sync_api import sync_playwright

    from server.learning import quizzes
    from tests.test_quizzes import _hls_talk, _q
    from tests.webclient import make_user

    require_chromium()
    organiser = make_user(settings, "organiser", name="Alex Organiser")
    make_user(settings, "viewer", name="Alex Viewer")
    with database.session(settings) as db:
        talk = _hls_talk(db, settings, organiser, tmp_path)
        question = _q("truefalse", "The video is a test.", correct=[0], at="1", explanation="")
        quizzes.save_question(db, talk, question, organiser)
        quizzes.save_settings(db, talk, "80", True, True, organiser)
    slug = talk.slug
    with (
        serve(settings.data_dir, tmp_path / "serve.log") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="en-GB").new_page()
        _sign_in(page, base, "viewer@kommune.no")
        page.goto(f"{base}/talks/{slug}")
        page.evaluate("document.getElementById('video').play(); null")
        panel = page.wait_for_selector("#timed-question", state="visible", timeout=20_000)
        shown = panel.inner_text()
        assert "True" in shown and "False" in shown
        assert norwegian_words(panel.inner_html()) == [], shown
        browser.close()
