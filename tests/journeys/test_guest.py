"""A guest (a partner or a politician without an account) finds and watches public talks,
searches, follows a broadcast, and is sent to sign in for what needs an account."""

from __future__ import annotations

import pytest

from tests.journeys.journey import (
    open_ready_talk_from_front,
    play_with_captions_and_transcript,
    search_and_open_hit,
    watch_live_from_front,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_guest_finds_watches_and_searches_a_talk(journeys, combo, site):
    journey = journeys("guest", combo)
    talk = open_ready_talk_from_front(journey)
    assert site.talks["internal"].title not in journey.page.inner_text("body")
    play_with_captions_and_transcript(journey)
    journey.step("quiz needs an account", links=[journey.t("Logg inn for å ta quizen")])
    search_and_open_hit(journey)
    journey.goto("/arkiv", "archive", heading=journey.t("Arkiv"), see=[talk.title])
    journey.page.select_option("form.filters select[name=year]", "2026")  # applies at once
    journey.page.wait_for_url("**/arkiv?*year=2026*")
    journey.step("archive of a year", heading=journey.t("Arkiv"), see=[talk.title])
    journey.assert_clean()


def test_a_guest_is_sent_to_sign_in_to_sign_up_check_in_or_ask(journeys, combo, site):
    journey = journeys("guest", combo)
    coming = site.talk("coming")
    journey.goto("/program", "programme", heading=journey.t("Program"), see=[coming.title])
    journey.page.click(f"main a[href='/talks/{coming.slug}']")
    journey.page.wait_for_url(journey.url(f"/talks/{coming.slug}"))
    journey.step(
        "a coming talk",
        heading=coming.title,
        see=[
            journey.t("Påmelding"),
            journey.t("Vil du melde deg på?"),
            journey.when(coming.starts_at),
            f"{journey.t('Rom')}: {coming.room}",
        ],
        links=[journey.t("Logg inn")],
    )
    journey.goto(
        site.checkin_path(),
        "check-in scanned while signed out",
        heading=journey.t("Logg inn for å sjekke inn"),
        see=[coming.title],
    )
    live = watch_live_from_front(journey)
    journey.step(
        "live without an account",
        heading=live.title,
        links=[journey.t("Logg inn for å stille spørsmål")],
    )
    journey.assert_clean()
