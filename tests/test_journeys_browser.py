"""The journey fixes only a browser shows: questions before destructive actions (the shared
js/confirm.js and live-send.js), the confirmation afterwards, the copy button for the
calendar address, and live questions in Oslo time in a browser set to UTC. Debian's
Chromium driven by Playwright against `ktl serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.catalogue import talks
from server.learning import quizzes
from server.store import db as database
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
from tests.test_browser import _sign_in
from tests.webclient import make_user

pytestmark = [pytest.mark.browser]

ASKED_AT = "2026-01-15T04:12:00+00:00"  # 05:12 in Oslo (CET)


@pytest.fixture
def site(settings, tmp_path: Path):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        doomed = talks.create(db, talks.TalkInput(title="Skal bort"), organiser)
        quizzed = talks.create(db, talks.TalkInput(title="Med quiz"), organiser)
        question = quizzes.QuestionInput(
            kind=quizzes.TRUEFALSE, text="Er dette sant?", correct=(0,)
        )
        quizzes.save_question(db, quizzed, question, organiser)
        talks.create(db, talks.TalkInput(title="Åpent", visibility="public"), organiser)
        with db.conn:
            db.execute(
                "INSERT INTO live_questions (talk_id, user_id, text, created_at) "
                "VALUES (?, ?, 'Når er fristen?', ?)",
                [quizzed.id, organiser.id, ASKED_AT],
            )
    env = {"KTL_EMBEDDED_WORKER": "false", "KTL_LIVE_CAPTIONS": "false"}
    with serve(settings.data_dir, tmp_path / "serve.log", **env) as base:
        yield {"base": base, "organiser": organiser, "doomed": doomed, "quizzed": quizzed}


@pytest.fixture
def page(site):
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="nb-NO", timezone_id="UTC")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site["base"])
        yield context.new_page()
        context.close()
        browser.close()


def test_destructive_actions_ask_first_and_say_what_happened(site, page):
    base, slug = site["base"], site["doomed"].slug
    _sign_in(page, base, site["organiser"].email)
    asked: list[str] = []

    page.goto(f"{base}/talks/{slug}/rediger")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("section.danger-zone button[type=submit]")
    page.wait_for_timeout(500)
    assert asked == ["Slette «Skal bort» for godt? Opptak, transkripsjon og søkeindeks "
                     "slettes, og det kan ikke angres."]  # fmt: skip
    assert page.url == f"{base}/talks/{slug}/rediger", "no: nothing was sent"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("section.danger-zone button[type=submit]")
    page.wait_for_url(base + "/")
    assert "Foredraget «Skal bort» er slettet." in page.inner_text("main")
    page.goto(f"{base}/talks/{slug}")
    assert "Fant ikke foredraget" in page.inner_text("main")

    quiz = f"{base}/talks/{site['quizzed'].slug}/quiz/rediger"
    page.goto(quiz)
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click(".question-actions button.danger")
    page.wait_for_url(quiz + "*")
    assert asked[-1] == "Slette spørsmålet «Er dette sant?»?"
    assert "Spørsmålet «Er dette sant?» er slettet." in page.inner_text("main")


def test_the_calendar_address_is_copied_with_one_click(site, page):
    page.goto(site["base"] + "/program")
    button = page.locator("button[data-copy='feed-1']")
    assert button.is_visible(), "the script shows the copy button"
    button.click()
    page.wait_for_function("document.getElementById('feed-1-status').textContent !== ''")
    assert page.inner_text("#feed-1-status") == "Adressen er kopiert."
    assert page.evaluate("navigator.clipboard.readText()") == site["base"] + "/program.ics"
    webcal = page.get_attribute("a.feed-subscribe", "href")
    assert webcal == site["base"].replace("http://", "webcal://") + "/program.ics"


def test_live_questions_show_oslo_time_in_a_browser_set_to_utc(site, page):
    base = site["base"]
    _sign_in(page, base, site["organiser"].email)
    page.goto(f"{base}/talks/{site['quizzed'].slug}/direkte")
    page.wait_for_selector("#questions li.question button[type=button]", timeout=15_000)
    meta = page.inner_text("#questions li.question .meta")  # written by live-send.js
    assert "15. januar 2026 kl. 05.12" in meta and "04" not in meta.split("kl.")[-1]
