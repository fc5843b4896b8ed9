"""Staff (role viewer) watch a talk and answer the question the player asks on the way,
take the quiz, search, sign up for a coming talk and check in with its QR link, and ask
a question during a broadcast."""

from __future__ import annotations

import pytest

from server.store import db as database
from tests.journeys.journey import (
    open_ready_talk_from_front,
    play_with_captions_and_transcript,
    search_and_open_hit,
    watch_live_from_front,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_staff_watch_answer_the_timed_question_and_pass_the_quiz(journeys, combo, site):
    journey = journeys("staff", combo)
    page = journey.page
    journey.sign_in()
    talk = open_ready_talk_from_front(journey)

    page.evaluate("document.querySelector('video#video').play()")
    page.wait_for_selector("#timed-question:not([hidden])")
    assert page.evaluate("document.querySelector('video#video').paused"), "the player waits"
    journey.step(
        "timed question",
        see=[journey.t("Spørsmål underveis")],
        buttons=[journey.t("Svar"), journey.t("Hopp over")],
    )
    page.check("#timed-question .timed-options input[value='0']")
    page.click("#timed-answer")
    page.wait_for_selector("#timed-continue:not([hidden])")
    journey.step("timed answer", see=[journey.t("Riktig!")], buttons=[journey.t("Fortsett")])
    page.click("#timed-continue")
    play_with_captions_and_transcript(journey)

    page.click("a[href$='/quiz']")
    page.wait_for_url(journey.url(f"/talks/{talk.slug}/quiz"))
    locked = journey.t("Besvart underveis i videoen. Svaret ditt står og kan ikke endres.")
    journey.step(
        "quiz form",
        heading=f"{journey.t('Quiz')}: {talk.title}",
        see=[locked],
        buttons=[journey.t("Lever svarene")],
    )
    page.check("fieldset.quiz-question:not(.locked) input[value='0']")
    page.click("#quiz-submit")
    page.wait_for_selector("#resultat")
    journey.step("quiz result", see=[journey.t("Bestått"), journey.t("Riktig")])

    journey.reveal("a[href='/mine-moduler']").click()
    page.wait_for_url(journey.url("/mine-moduler"))
    journey.step("my modules", heading=journey.t("Mine moduler"), see=[talk.title])
    journey.assert_clean()


def test_staff_search_and_land_at_the_second(journeys, combo):
    journey = journeys("staff", combo)
    journey.sign_in()
    search_and_open_hit(journey)
    journey.assert_clean()


def _attended_at(site, user, talk_id: int) -> str:
    with database.session(site.settings.db_path) as db:
        row = db.execute(
            "SELECT at FROM attendance WHERE user_id = ? AND talk_id = ?", [user.id, talk_id]
        ).fetchone()
    assert row is not None, "the check-in was registered"
    return row[0]


def test_staff_sign_up_and_check_in_with_the_qr_link(journeys, combo, site):
    journey = journeys("staff", combo)
    page = journey.page
    coming = site.talk("coming")
    journey.sign_in()
    journey.reveal("a[href='/program']").click()
    page.wait_for_url(journey.url("/program"))
    journey.step("programme", heading=journey.t("Program"), see=[coming.title])
    page.click(f"main a[href='/talks/{coming.slug}']")
    room, live, later = (
        journey.t(m) for m in ("I salen", "Direkte på nett", "Ser opptaket senere")
    )
    journey.step(
        "a coming talk",
        heading=coming.title,
        see=[journey.t("Hvordan vil du følge foredraget?"), journey.when(coming.starts_at)],
        buttons=[room, live, later],
    )
    page.get_by_role("button", name=room, exact=True).click()
    page.wait_for_selector(".signup-choice.chosen")
    journey.step(
        "signed up",
        see=[journey.t("Du er påmeldt: %(mode)s.", mode=room)],
        buttons=[journey.t("Meld meg av")],
    )

    journey.goto(
        site.checkin_path(),
        "check-in",
        heading=journey.t("Innsjekking"),
        buttons=[journey.t("Bekreft at jeg er i salen")],
    )
    page.get_by_role("button", name=journey.t("Bekreft at jeg er i salen")).click()
    page.wait_for_selector("main .notice[role=status]")
    when = journey.when(_attended_at(site, journey.user, coming.id))
    journey.step(
        "checked in", see=[journey.t("Takk! Du er registrert som til stede (%(when)s).", when=when)]
    )
    page.click(f"main a[href='/talks/{coming.slug}']")
    journey.step(
        "the talk after checking in",
        see=[journey.t("Du er registrert som til stede (%(when)s).", when=when)],
    )
    journey.assert_clean()


def test_staff_watch_live_and_ask_a_question(journeys, combo, site):
    journey = journeys("staff", combo)
    page = journey.page
    journey.sign_in()
    watch_live_from_front(journey)
    question = f"Bussrute {combo.id}?"
    site.user_content.add(question)
    page.fill("#question-text", question)
    page.get_by_role("button", name=journey.t("Send spørsmål")).click()
    page.wait_for_function("() => document.getElementById('question-status').textContent !== ''")
    journey.step("question sent", see=[journey.t("Spørsmålet er sendt.")])
    assert page.evaluate("document.getElementById('live-video').currentTime") > 1
    journey.assert_clean()
