"""The English editor in a real browser (headless Debian Chromium through Playwright, against
`ktl serve`): its title, buttons and every sentence its script writes are English.

The site is written in English (tests.test_i18n._english_site), so any Norwegian word met
comes from the interface: the template, the JSON block of sentences, or js/editor.js.
"""

from __future__ import annotations

import pytest

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
