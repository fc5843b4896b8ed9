"""An organiser creates a talk (and deletes one, asked first), uploads a recording through
the page and follows it through the real pipeline, corrects the transcript, publishes the
talk, checks attendance, results and the quiz, follows a broadcast's questions, and goes
live from the browser and ends the broadcast (asked first)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest

from server.catalogue.records import Talk
from server.pipeline import jobs
from server.pipeline.worker import STAGE_LABELS
from tests.journeys.journey import FIRST, PLAYER_READY, WINTER, Journey, on_air

pytestmark = [pytest.mark.browser, pytest.mark.integration]
UPLOADED = "Solcellene"
CORRECTED = "Welcome to the lunch talk about solar panels."
GAVE_UP = (  # server.pipeline.worker.give_up_message
    "Behandlingen stoppet %(times)s ganger under «%(stage)s» uten å komme videre, "
    "så arbeideren har gitt opp. Trykk «Prøv igjen»; stopper den igjen, kan opptaket være "
    "skadet eller serveren ha for lite minne. Kontakt IT."
)


def _new_talk(journey: Journey, title: str, visibility: str, language: str = "nb") -> None:
    page = journey.page
    journey.reveal("a[href='/talks/ny']").click()
    page.wait_for_url(journey.url("/talks/ny"))
    journey.step(
        "new talk form",
        heading=journey.t("Nytt foredrag"),
        buttons=[journey.t("Lagre og gå videre til opptaket")],
    )
    journey.site.user_content.add(title)
    page.fill("#title", title)
    page.fill("#speaker", "Ola Nordmann")
    page.fill("#department", "Kultur")
    page.select_option("#language", language)
    page.check(f"input[name=visibility][value={visibility}]")
    page.click("form.talk-form button[type=submit]")
    page.wait_for_selector("#recording-file")
    journey.step(
        "talk created",
        heading=title,
        see=[journey.t("Foredraget er lagret."), journey.t("Last opp opptaket")],
    )


def test_an_organiser_creates_a_talk_and_deletes_it_when_asked_first(journeys, combo):
    journey = journeys("organiser", combo)
    page = journey.page
    journey.sign_in()
    title = f"Solkraft {combo.id}"
    _new_talk(journey, title, "internal")
    page.get_by_role("link", name=journey.t("Rediger foredraget")).click()
    journey.step(
        "edit form",
        heading=journey.t("Rediger foredraget"),
        buttons=[journey.t("Slett foredraget for godt")],
    )
    question = journey.t(
        "Slette «%(title)s» for godt? Opptak, transkripsjon og søkeindeks "
        "slettes, og det kan ikke angres.",
        title=title,
    )
    journey.dismiss_next_dialog()
    page.get_by_role("button", name=journey.t("Slett foredraget for godt")).click()
    page.wait_for_timeout(300)
    assert journey.dialogs == [question] and page.url.endswith("/rediger"), "no: nothing sent"
    journey.accept_next_dialog()
    page.get_by_role("button", name=journey.t("Slett foredraget for godt")).click()
    page.wait_for_url(journey.url("/"))
    journey.step("talk deleted", see=[journey.t("Foredraget «%(title)s» er slettet.", title=title)])
    journey.assert_clean()


@pytest.fixture(scope="module")
def uploaded(site, browser, tmp_path_factory) -> dict:
    """The expensive journey, once (bokmål, 1366 px): a new draft talk, a recording
    uploaded on its page (tus), processing followed on the page, the transcript corrected
    and marked as checked, and the talk made public. The other combinations check the
    pages it leaves behind (test_the_uploaded_talks_pages)."""
    journey = Journey.open(site, browser, "organiser", FIRST)
    try:
        _upload_journey(journey, tmp_path_factory.mktemp("upload"))
        journey.assert_clean()
    finally:
        journey.context.close()
    return next(t for t in _talks(site) if t.title == UPLOADED)


def _talks(site) -> list[Talk]:
    from server.store import db as database

    with database.session(site.settings.db_path) as db:
        return [Talk.from_row(row) for row in db.execute("SELECT * FROM talks")]


def _upload_journey(journey: Journey, scratch) -> None:
    page = journey.page
    journey.sign_in()
    _new_talk(journey, UPLOADED, "draft", language="en")
    recording = scratch / "solceller.mp4"
    shutil.copy(journey.site.recording, recording)
    page.set_input_files("#recording-file", str(recording))
    page.wait_for_selector("section.processing, video#video", timeout=60_000)
    if page.locator("section.processing").count():
        journey.step("processing", see=[journey.t("Behandling av opptaket")])
    # The player shows once packaged (provisional captions while Whisper works); the page
    # reloads itself when the talk is ready, and only then holds the transcript.
    page.wait_for_selector("#transcript-lines", timeout=240_000)
    assert page.query_selector("section.processing") is None, "processing is done"
    page.wait_for_selector("video#video")
    page.wait_for_function(PLAYER_READY)
    journey.step(
        "processed",
        heading=UPLOADED,
        see=[journey.t("Transkripsjonen er maskinlaget og ikke kontrollert")],
    )

    page.get_by_role("link", name=journey.t("Rediger transkripsjonen")).click()
    heading = f"{journey.t('Rediger transkripsjonen')}: {UPLOADED}"
    journey.step("transcript editor", heading=heading, buttons=[journey.t("Lagre ny versjon")])
    journey.site.user_content.add(CORRECTED)
    before = page.inner_text("#current-version")
    page.fill("#text-1", CORRECTED)
    page.click("#save")
    journey.wait(
        f"() => document.getElementById('current-version').textContent !== '{before}'",
        "a new version of the transcript",
    )
    journey.step("transcript saved", heading=heading)
    page.get_by_role("button", name=journey.t("Merk som kontrollert")).click()
    page.wait_for_selector(".badge.transcript-state-reviewed")
    journey.step("transcript checked", buttons=[journey.t("Sett tilbake til maskinlaget")])

    page.get_by_role("link", name=journey.t("Til foredraget")).click()
    page.get_by_role("link", name=journey.t("Rediger foredraget")).click()
    page.check("input[name=visibility][value=public]")
    page.get_by_role("button", name=journey.t("Lagre endringene")).click()
    page.wait_for_selector("main .flash")
    journey.step(
        "published",
        heading=UPLOADED,
        see=[
            journey.t("Endringene er lagret."),
            journey.t("Åpen for alle, også uten innlogging"),
            journey.t("Transkripsjonen er kontrollert"),
        ],
    )


def test_an_organiser_uploads_corrects_and_publishes(uploaded, site):
    assert uploaded.visibility == "public" and uploaded.transcript_state == "reviewed"
    text = (site.settings.transcripts_dir / str(uploaded.id) / "transcript.txt").read_text()
    assert CORRECTED in text, "the correction is in the transcript and its captions"


def test_the_uploaded_talks_pages(journeys, combo, uploaded):
    journey = journeys("organiser", combo)
    slug = uploaded.slug
    journey.sign_in()
    journey.goto(
        f"/talks/{slug}",
        "uploaded talk",
        heading=UPLOADED,
        see=[journey.t("Transkripsjonen er kontrollert")],
    )
    journey.page.wait_for_function(PLAYER_READY)
    journey.goto(
        f"/talks/{slug}/transkripsjon",
        "its transcript editor",
        heading=f"{journey.t('Rediger transkripsjonen')}: {UPLOADED}",
    )
    journey.goto(
        f"/talks/{slug}/transkripsjon/versjoner",
        "its transcript versions",
        heading=f"{journey.t('Versjoner av transkripsjonen')}: {UPLOADED}",
    )
    journey.goto(f"/talks/{slug}/rediger", "its edit form", heading=journey.t("Rediger foredraget"))
    journey.assert_clean()


def test_an_organiser_checks_attendance_results_the_quiz_and_a_failed_recording(
    journeys, combo, site
):
    journey = journeys("organiser", combo)
    page = journey.page
    coming, ready = site.talk("coming"), site.talk("ready")
    journey.sign_in()
    journey.goto(
        f"/talks/{coming.slug}",
        "coming talk as its organiser",
        heading=coming.title,
        see=[journey.t("Påmeldte (for lunsjbestillingen)")],
    )
    page.get_by_role("link", name=journey.t("Oppmøte og QR-kode for innsjekking")).click()
    start = datetime.fromisoformat(coming.starts_at)
    window = journey.t(
        "Innsjekkingen med QR-koden teller fra %(opens)s til %(closes)s.",
        opens=journey.when(start - timedelta(minutes=30)),
        closes=journey.when(start + timedelta(minutes=60)),
    )
    journey.step("attendance", heading=journey.t("Oppmøte"), see=[window])
    page.get_by_role("link", name=journey.t("Vis QR-koden på storskjerm")).click()
    journey.wait(
        "() => (document.fullscreenElement || {}).id === 'storskjerm'"
        " || location.hash === '#storskjerm'",
        "the QR code on the big screen",
    )
    journey.step("QR code on the big screen", links=[journey.t("Lukk storskjermen")])
    qr = page.locator("#storskjerm img").bounding_box()
    screen = page.evaluate("[window.innerWidth, window.innerHeight]")
    assert qr and qr["x"] >= 0 and qr["y"] >= 0, f"{journey.label}: the QR code at {qr}"
    assert qr["x"] + qr["width"] <= screen[0] and qr["y"] + qr["height"] <= screen[1], (
        f"{journey.label}: the whole QR code is on the {screen} screen: {qr}"
    )
    page.get_by_role("link", name=journey.t("Lukk storskjermen")).click()
    journey.wait("() => !document.fullscreenElement", "the big screen to close")

    journey.goto(f"/talks/{ready.slug}", "ready talk as its organiser", heading=ready.title)
    page.get_by_role("link", name=journey.t("Resultater"), exact=True).click()
    journey.step("results", heading=journey.t("Resultater"), see=[journey.t("Opptaket")])
    page.get_by_role("link", name=ready.title).first.click()
    page.get_by_role("link", name=journey.t("Rediger quizen")).click()
    journey.step(
        "quiz editor",
        heading=f"{journey.t('Quiz')}: {ready.title}",
        buttons=[journey.t("Lagre innstillingene")],
    )
    failed = site.talk("failed")
    stopped = journey.t(
        GAVE_UP, times=jobs.MAX_ATTEMPTS, stage=journey.t(STAGE_LABELS["transcribe"])
    )
    journey.goto(
        f"/talks/{failed.slug}",
        "a recording the worker gave up on",
        heading=failed.title,
        see=[journey.t("Behandling av opptaket"), stopped],
        buttons=[journey.t("Prøv igjen")],
    )
    journey.assert_clean()


def test_an_organiser_follows_the_questions_of_a_broadcast(journeys, combo, site):
    journey = journeys("organiser", combo)
    page = journey.page
    talk = on_air(site)
    journey.sign_in()
    journey.goto(f"/talks/{talk.slug}", "broadcast talk as its organiser", heading=talk.title)
    page.click("#go-live")
    asked = "Hvor går bussen?"  # stored at WINTER (tests/journeys/journey.py)
    encoder = journey.t(
        "En koder sender nå. Vil du sende fra nettleseren i stedet, stopper du koderen og "
        "laster siden på nytt."
    )
    journey.step(
        "live page",
        heading=journey.t("Send direkte"),
        see=[journey.t("DIREKTE"), asked, journey.when(WINTER), encoder],
        buttons=[journey.t("Avslutt sendingen og lag opptaket")],
    )
    assert page.is_disabled("#live-start"), "the server refuses a browser while an encoder sends"
    page.wait_for_selector("#questions li.question button[type=button]")  # live-send.js's list
    journey.step("questions refreshed", see=[asked, journey.when(WINTER)])
    journey.assert_clean()


def test_an_organiser_goes_live_from_the_browser_and_ends_when_asked_first(journeys, site):
    journey = journeys("organiser", FIRST)
    page = journey.page
    talk = site.talk("sender")
    journey.sign_in()
    journey.goto(
        f"/talks/{talk.slug}/direkte",
        "before sending",
        heading=journey.t("Send direkte"),
        buttons=[journey.t("Start sending")],
    )
    page.click("#live-start")
    page.wait_for_selector("#live-state.state-live", timeout=30_000)
    journey.step("sending", see=[journey.t("DIREKTE")], buttons=[journey.t("Avslutt sending")])
    journey.dismiss_next_dialog()
    page.click("#live-stop")
    page.wait_for_timeout(300)
    question = journey.t(
        "Avslutte sendingen nå? Seerne mister sendingen, og opptaket blir "
        "laget av det som er sendt."
    )
    assert journey.dialogs == [question] and page.locator("#live-state.state-live").count()
    journey.accept_next_dialog()
    page.click("#live-stop")
    page.wait_for_url(journey.url(f"/talks/{talk.slug}?melding=sending-avsluttet"))
    journey.step(
        "broadcast ended",
        heading=talk.title,
        see=[
            journey.t(
                "Sendingen er avsluttet. Opptaket blir behandlet og kommer på foredragssiden."
            )
        ],
    )
    journey.assert_clean()
