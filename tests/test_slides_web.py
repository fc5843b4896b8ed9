"""Slides and chapters through the app as it ships (create_app, its middleware and guard):
the talk page's strip and chapters, thumbnails under the talk's access rule (and nginx's
X-Accel-Redirect), the WebVTT chapters track, chapters in the JSON transcript, the
organiser's chapter editor, and search hits marked «på lysbildet». Real ffmpeg packaging,
scene detection and Tesseract on the generated deck (tests/slidevideo.py)."""

from __future__ import annotations

import contextlib
import re

import pytest
from starlette.testclient import TestClient

from server.catalogue import slides as stored
from server.catalogue import talks
from server.core.config import load_settings
from server.pipeline import jobs
from server.pipeline import slides as pipeline_slides
from server.store import db as database
from server.store import write
from server.web.app import create_app
from tests import slidevideo
from tests.conftest import CHOSEN, ENGINES, need
from tests.webclient import login, make_user, post

pytestmark = pytest.mark.integration
HEADINGS = [slide.heading for _, slide in slidevideo.slides_of(slidevideo.DECK)]


@pytest.fixture(scope="module", params=[e for e in ENGINES if CHOSEN in ("", e)])
def database_engine(request) -> str:
    """The engines of tests/conftest.py, chosen once per module here: the site is built
    once for each engine, not once for each test."""
    return request.param


@pytest.fixture(scope="module")
def site(tmp_path_factory, request, database_engine):
    """One ready talk with slides for the module (packaging and OCR take a while), on each
    engine (on PostgreSQL a fresh migrated database of the module's own); the tests that
    change it (the chapter editor, then the talk's visibility) come last."""
    need("ffmpeg", "tesseract")
    folder = tmp_path_factory.mktemp("slides-web")
    settings = load_settings(env={}, data_dir=folder / "data").replace(embedded_worker=False)
    with contextlib.ExitStack() as stack:
        if database_engine == "postgres":
            server = request.getfixturevalue("postgres_server")
            url = stack.enter_context(server.migrated_database())
            settings = settings.replace(database_url=url)
        settings.ensure_dirs()
        database.init(settings)
        organiser = make_user(settings, "organiser")
        make_user(settings, "viewer", "ansatt@kommune.no")
        deck = slidevideo.make(folder / "deck.mp4")
        yield settings, slidevideo.ready_talk(settings, deck, organiser)


@pytest.fixture
def settings(site):
    return site[0]


@pytest.fixture
def talk(site):
    return site[1]


@pytest.fixture
def client(settings):
    """client(email=None, settings=None): the app under TestClient, signed in as `email`."""
    opened: list[TestClient] = []

    def make(email: str | None = None, changed=None) -> TestClient:
        test_client = TestClient(create_app(changed or settings), follow_redirects=False)
        opened.append(test_client)
        test_client.__enter__()
        if email:
            assert login(test_client, email).status_code == 303
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


def test_the_talk_page_has_the_strip_the_chapters_and_the_track(client, settings, talk):
    page = client().get(f"/talks/{talk.slug}")
    assert page.status_code == 200
    thumbs = re.findall(rf'<img src="/media/{talk.id}/slides/(\d+\.jpg)"', page.text)
    assert thumbs == ["001.jpg", "002.jpg", "003.jpg", "004.jpg"]
    assert 'id="chapter-list"' in page.text and "js/slides.js" in page.text
    for heading in HEADINGS:
        assert f'<span class="title">{heading}</span>' in page.text
    track = f'<track kind="chapters" srclang="nb" label="Kapitler" src="/talks/{talk.slug}/'
    assert track + 'chapters.vtt">' in page.text
    assert "Rediger kapitler" not in page.text, "only the organiser edits"


def test_chapters_track_and_json_transcript(client, settings, talk):
    guest = client()
    vtt = guest.get(f"/talks/{talk.slug}/chapters.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    assert "00:00:20.000 --> 00:00:27.000\nÆrlig talt: økonomi" in vtt.text
    data = guest.get(f"/talks/{talk.slug}/transcript.json").json()
    assert [c["title"] for c in data["chapters"]] == HEADINGS
    assert data["chapters"][2]["start"] == 20.0 and data["chapters"][2]["source"] == "slides"
    assert data["segments"][0]["text"] == "Velkommen til lunsjforedraget."


def test_search_marks_slide_hits_and_jumps_to_the_slide(client, settings, talk):
    guest = client()
    page = guest.get("/sok", params={"q": "servicetorget"})
    assert page.status_code == 200
    assert "på lysbildet" in page.text
    assert f'href="/talks/{talk.slug}?t=27"' in page.text
    data = guest.get("/sok.json", params={"q": "økonomi"}).json()
    assert [(h["kind"], int(h["start"])) for h in data["hits"]] == [("slide", 20)]


def test_a_talk_without_slides_shows_no_strip(client, settings):
    with database.session(settings) as db:
        plain = talks.create(db, talks.TalkInput(title="Uten lysbilder", visibility="public"))
        with write(db):
            talks.set_status(db, plain.id, "ready")
    page = client().get(f"/talks/{plain.slug}")
    assert page.status_code == 200
    assert 'id="slide-strip"' not in page.text and 'kind="chapters"' not in page.text


def test_the_organiser_edits_chapters_and_others_may_not(client, settings, talk):
    url = f"/talks/{talk.slug}/kapitler"
    assert client().get(url).status_code in (303, 401, 403)
    viewer = client("ansatt@kommune.no")
    assert viewer.get(url).status_code == 403
    assert post(viewer, url, {"time": "0:00", "title": "Nei"}).status_code == 403

    owner = client("organiser@kommune.no")
    form = owner.get(url)
    assert form.status_code == 200 and 'value="0:20"' in form.text
    assert "foreslått automatisk" in form.text

    bad = post(owner, url, {"time": ["0:00", "1:5x", "9:00"], "title": ["Start", "A", "Sent"]})
    assert bad.status_code == 422
    assert "Skriv tiden som minutter:sekunder" in bad.text
    assert "Tiden er etter slutten av opptaket." in bad.text

    rows = {"time": ["0:00", "0:08", "0:20", "0:27", "0:15"],
            "title": ["Velkommen", "Søknad", "Økonomi", "Spørsmål", "Filmen"],
            "remove": ["2"]}  # fmt: skip
    saved = post(owner, url, rows)
    assert saved.status_code == 303 and saved.headers["location"] == url + "?lagret=1"
    vtt = owner.get(f"/talks/{talk.slug}/chapters.vtt").text
    titles = re.findall(r"\d\d\.\d{3}\n(.+)", vtt)
    assert titles == ["Velkommen", "Filmen", "Økonomi", "Spørsmål"]
    assert "Rediger kapitler" in owner.get(f"/talks/{talk.slug}").text


def test_the_organiser_sees_how_the_slide_stage_went(client, settings, talk):
    with database.session(settings) as db:
        stored.record_failure(db, talk.id, pipeline_slides.TESSERACT_FAILED)
        job_id = jobs.enqueue(db, talk.id, pipeline_slides.KIND)
        job = jobs.claim(db, "elsewhere:1:", 600)
        jobs.report(db, job, "elsewhere:1:", pipeline_slides.KIND, 0.5)
    owner = client("organiser@kommune.no")
    page = owner.get(f"/talks/{talk.slug}").text
    assert "Leser lysbildene: 50 %" in page
    assert "Tesseract kunne ikke lese" not in page, "while reading, the progress"
    with database.session(settings) as db:
        jobs.finish(db, job_id, "elsewhere:1:")
    page = owner.get(f"/talks/{talk.slug}").text
    assert "Tesseract kunne ikke lese lysbildene" in page and "Leser lysbildene" not in page
    assert "Tesseract" not in client().get(f"/talks/{talk.slug}").text, "organisers only"


def test_thumbnails_follow_the_talks_access_rule_and_nginx_sends_them(client, settings, talk):
    guest = client()
    url = f"/media/{talk.id}/slides/002.jpg"
    thumb = guest.get(url)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8" and thumb.headers["cache-control"].startswith("public")
    for bad in ("009.jpg", ".x.jpg", "001.png", "..%2F..%2Fktl.db"):
        assert guest.get(f"/media/{talk.id}/slides/{bad}").status_code == 404
    with database.session(settings) as db, write(db):
        db.execute("UPDATE talks SET visibility = 'internal' WHERE id = ?", [talk.id])
    assert guest.get(url).status_code in (401, 403, 404, 303)
    assert client("ansatt@kommune.no").get(url).status_code == 200

    accel = client("ansatt@kommune.no", settings.replace(accel_redirect="/_media/")).get(url)
    assert accel.status_code == 200 and accel.content == b""
    assert accel.headers["x-accel-redirect"] == f"/_media/{talk.id}/slides/002.jpg"
