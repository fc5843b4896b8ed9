"""The English caption track: the real Whisper translate task through the worker, and the
track's page, review state, versions, downloads and search through the app as it ships."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from server.pipeline.translate import translate_options
from server.pipeline.worker import Worker
from server.store import db as database
from server.store import write
from server.transcript import translation
from server.transcript.model import Segment, Transcript
from server.web.app import create_app
from tests import factories
from tests.conftest import need
from tests.test_access_matrix import _talk
from tests.webclient import login, make_user, post

NORWEGIAN = "Velkommen til lunsjforedraget. Takk for at dere hørte på."
ENGLISH = Transcript(
    "en",
    (Segment(0.0, 2.5, "Welcome to the lunch talk."),
     Segment(2.5, 4.8, "Thank you for listening.")),
    model="whisper-base",
)  # fmt: skip


def test_the_translate_task_decodes_like_transcription_but_sequentially(settings):
    options = translate_options(settings.replace(whisper_batch_size=8), "nb")
    assert options["task"] == "translate" and options["language"] == "no"
    assert options["word_timestamps"] is False and options["vad_filter"] is True
    assert "batch_size" not in options and "no_repeat_ngram_size" not in options


@pytest.fixture
def site(settings):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "public", "Lunsj på norsk")
    return {"settings": settings, "talk": talk, "organiser": organiser}


def _organiser(app):
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    login(client, "organiser@kommune.no")
    return client


@pytest.mark.integration
def test_real_whisper_translates_norwegian_speech_into_an_english_track(site, engine, tmp_path):
    need("ffmpeg", "espeak-ng")
    settings, talk = site["settings"], site["talk"]
    speech = factories.speech_wav(tmp_path / "tale.wav", NORWEGIAN, voice="nb")
    factories.audio_only(settings.media_dir / str(talk.id) / "original.mp4", speech)
    app = create_app(settings)
    organiser = _organiser(app)
    try:
        chosen = post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "1"})
        assert chosen.status_code == 303
        with database.session(settings) as db:
            assert translation.get(db, talk.id).state == "waiting"
        assert Worker(settings, engine_factory=lambda: engine).run_once()
        with database.session(settings) as db:
            state = translation.get(db, talk.id)
        assert state.state == "done" and state.review == "machine" and state.seconds > 0
        vtt = (translation.folder(settings, talk.id) / "transcript.vtt").read_text()
        assert re.search(r"\bwelcome\b", vtt, re.IGNORECASE), vtt  # "Velkommen til ..."
        with TestClient(app) as guest:
            page = guest.get(f"/talks/{talk.slug}").text
            assert 'srclang="en" label="English (machine translation)"' in page
            assert guest.get(f"/talks/{talk.slug}/en/transcript.srt").status_code == 200
            found = guest.get("/sok?q=welcome").text
            assert "English (machine translation)</span>" in found
            assert f"/talks/{talk.slug}?t=0&amp;tekst=en" in found
        assert "Klar" in organiser.get(f"/talks/{talk.slug}/engelsk").text
    finally:
        organiser.__exit__(None, None, None)


def test_a_failed_translation_is_recorded_and_the_talk_stays_ready(site, engine):
    need("ffmpeg")
    settings, talk = site["settings"], site["talk"]  # its original is 64 zero bytes
    app = create_app(settings)
    organiser = _organiser(app)
    try:
        post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "1"})
        assert Worker(settings, engine_factory=lambda: engine).run_once()
        with database.session(settings) as db:
            state = translation.get(db, talk.id)
            status = db.execute("SELECT status FROM talks WHERE id = ?", [talk.id]).fetchone()[0]
        assert state.state == "failed" and "Kunne ikke lage engelsk teksting" in state.error
        assert status == "ready"
        page = organiser.get(f"/talks/{talk.slug}/engelsk").text
        assert "Kunne ikke lage engelsk teksting" in page
        assert "Lag den engelske tekstingen på nytt" in page
    finally:
        organiser.__exit__(None, None, None)


def _with_english(site) -> None:
    settings, talk = site["settings"], site["talk"]
    with database.session(settings) as db:
        translation.store_machine(db, settings, talk.id, ENGLISH, 1.5)


def test_edit_review_and_restore_the_english_text(site):
    _with_english(site)
    settings, talk = site["settings"], site["talk"]
    app = create_app(settings)
    organiser = _organiser(app)
    url = f"/talks/{talk.slug}/engelsk"
    try:
        texts = ["Welcome to the lunch seminar.", "Thank you for listening."]
        saved = post(organiser, url, {"base_version": "0", "text": texts, "note": "seminar"})
        assert saved.status_code == 303 and saved.headers["location"] == f"{url}?lagret=1"
        stale = post(organiser, url, {"base_version": "0", "text": texts})
        assert stale.status_code == 409 and "endret av noen andre" in stale.text
        empty = post(organiser, url, {"base_version": "1", "text": ["x", "  "]})
        assert empty.status_code == 422 and "Linje 2 er tom" in empty.text
        assert "seminar" in (translation.folder(settings, talk.id) / "transcript.txt").read_text()
        with TestClient(app) as guest:
            assert "/talks/lunsj-pa-norsk" in guest.get("/sok?q=seminar").text
        reviewed = post(organiser, f"{url}/kontroll", {"state": "reviewed"})
        assert reviewed.status_code == 303
        restored = post(organiser, f"{url}/versjoner/0", {"base_version": "1"})
        assert restored.status_code == 303
        with database.session(settings) as db:
            state = translation.get(db, talk.id)
            history = translation.versions(db, talk.id)
        assert (state.version, state.review) == (2, "reviewed")
        assert [v.version for v in history] == [2, 1, 0] and history[0].current
        vtt = (translation.folder(settings, talk.id) / "transcript.vtt").read_text()
        assert "Welcome to the lunch talk." in vtt
    finally:
        organiser.__exit__(None, None, None)


def test_the_english_track_waits_for_review_when_captions_do(site):
    _with_english(site)
    settings, talk = site["settings"], site["talk"]
    app = create_app(settings.replace(captions_publish="reviewed"))
    organiser = _organiser(app)
    try:
        with TestClient(app) as guest:
            assert 'srclang="en"' not in guest.get(f"/talks/{talk.slug}").text
            assert guest.get(f"/talks/{talk.slug}/en/transcript.vtt").status_code == 404
            assert "lunsj-pa-norsk" not in guest.get("/sok?q=welcome").text
            assert 'srclang="en"' in organiser.get(f"/talks/{talk.slug}").text
            post(organiser, f"/talks/{talk.slug}/engelsk/kontroll", {"state": "reviewed"})
            assert guest.get(f"/talks/{talk.slug}/en/transcript.vtt").status_code == 200
            assert "English (machine translation)</span>" in guest.get("/sok?q=welcome").text
    finally:
        organiser.__exit__(None, None, None)


def test_only_the_talks_organiser_manages_the_english_track(site, settings):
    _with_english(site)
    talk = site["talk"]
    make_user(settings, "viewer")
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as viewer:
        login(viewer, "viewer@kommune.no")
        assert viewer.get(f"/talks/{talk.slug}/engelsk").status_code == 403
        refused = post(viewer, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "0"})
        assert refused.status_code == 403
        assert viewer.get(f"/talks/{talk.slug}/en/transcript.txt").status_code == 200
        assert viewer.get(f"/talks/{talk.slug}/en/transcript.exe").status_code == 404
        no_csrf = viewer.post(f"/talks/{talk.slug}/engelsk/kontroll", data={"state": "reviewed"})
        assert no_csrf.status_code == 403


def test_the_site_default_turns_the_track_on_for_talks_that_have_not_chosen(site):
    settings, talk = site["settings"], site["talk"]
    with database.session(settings) as db:
        state = translation.get(db, talk.id)
        assert not translation.wanted(settings, talk, state)
        assert translation.wanted(settings.replace(english_captions=True), talk, state)
        translation.set_wanted(db, talk, False, None)
        off = translation.get(db, talk.id)
    assert not translation.wanted(settings.replace(english_captions=True), talk, off)


@pytest.mark.integration
def test_a_new_recording_gets_its_english_track_after_it_is_watchable(settings, engine, tmp_path):
    """KTL_ENGLISH_CAPTIONS on: the process job's last stage translates; the talk was ready
    before it (the stage comes after the talk is watchable) and stays ready."""
    from server.catalogue import talks
    from server.cli import import_recording
    from server.pipeline import jobs

    need("ffmpeg", "espeak-ng")
    on = settings.replace(english_captions=True)
    speech = factories.speech_wav(tmp_path / "tale.wav", NORWEGIAN, voice="nb")
    clip = factories.video(tmp_path / "klipp.mp4", speech, seconds=5, size="320x180")
    data = talks.TalkInput(title="Norsk med engelsk", language="nb", visibility="public")
    talk = import_recording(on, clip, data)
    assert Worker(on, engine_factory=lambda: engine).run_once()
    with database.session(on) as db:
        job = jobs.latest_for_talk(db, talk.id)
        assert job.state == "done" and job.stages_done == jobs.STAGES
        assert jobs.STAGES.index("translate") > jobs.STAGES.index("index")
        assert "translate" in jobs.AFTER_READY
        assert talks.get(db, talk.id).status == "ready"
        state = translation.get(db, talk.id)
    assert state.state == "done" and state.seconds > 0
    english = translation.load(on, talk.id)
    assert english.language == "en" and english.segments and english.meta["task"] == "translate"


def test_ktl_reindex_rebuilds_the_english_rows(site):
    from server.catalogue import search

    _with_english(site)
    settings, talk = site["settings"], site["talk"]
    with database.session(settings) as db:
        with write(db):
            db.execute("DELETE FROM search_translations")
        assert not search.search(db, "welcome").groups
        search.reindex_all(db, settings.transcripts_dir)
        hits = [hit for group in search.search(db, "welcome").groups for hit in group.hits]
    assert [(hit.kind, hit.url) for hit in hits] == [
        ("english", f"/talks/{talk.slug}?t=0&tekst=en")
    ]
    assert "<mark>Welcome</mark>" in hits[0].snippet_html


def test_the_talk_page_shows_the_english_transcript_under_the_norwegian(site):
    _with_english(site)
    talk = site["talk"]
    with TestClient(create_app(site["settings"])) as guest:
        page = guest.get(f"/talks/{talk.slug}").text
    assert 'id="transcript-lines-en"' in page
    assert '<span class="text">Thank you for listening.</span>' in page


def test_the_processing_status_lists_the_english_stage_only_for_talks_that_get_one(site):
    settings, talk = site["settings"], site["talk"]
    url = f"/talks/{talk.slug}/status.json"
    with TestClient(create_app(settings)) as client:
        stages = [stage["name"] for stage in client.get(url).json()["stages"]]
        assert "translate" not in stages and "transcribe" in stages
    with TestClient(create_app(settings.replace(english_captions=True))) as client:
        labels = [stage["label"] for stage in client.get(url).json()["stages"]]
        assert "Lager engelsk teksting (maskinoversettelse)" in labels
        with database.session(settings) as db, write(db):  # a talk in English: none
            db.execute("UPDATE talks SET language = 'en' WHERE id = ?", [talk.id])
        stages = [stage["name"] for stage in client.get(url).json()["stages"]]
        assert "translate" not in stages


def test_english_hits_in_sok_json_select_the_english_captions(site):
    _with_english(site)
    talk = site["talk"]
    with TestClient(create_app(site["settings"])) as guest:
        hits = guest.get("/sok.json?q=listening").json()["hits"]
        page = html.unescape(guest.get("/sok?q=listening").text)
    assert [(hit["kind"], hit["url"]) for hit in hits] == [
        ("english", f"http://testserver/talks/{talk.slug}?t=2&tekst=en")
    ]
    assert f'data-share-href="/talks/{talk.slug}?t=2&tekst=en"' in page  # the copied link too
    assert "tekst=en&tekst=en" not in page


def test_a_track_turned_off_is_hidden_and_one_made_again_stays_shown_meanwhile(site):
    _with_english(site)
    settings, talk = site["settings"], site["talk"]
    app = create_app(settings)
    organiser = _organiser(app)
    try:
        with TestClient(app) as guest:
            assert 'srclang="en"' in guest.get(f"/talks/{talk.slug}").text
            post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "0"})
            assert 'srclang="en"' not in guest.get(f"/talks/{talk.slug}").text
            assert guest.get(f"/talks/{talk.slug}/en/transcript.vtt").status_code == 404
            assert guest.get("/sok.json?q=listening").json()["hits"] == []
            for on in ("1", "0", "1", "1"):
                post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": on})
            with database.session(settings) as db:
                queued = db.execute("SELECT kind FROM jobs WHERE talk_id = ?", [talk.id])
                assert [row[0] for row in queued.fetchall()] == ["translate"]
                assert translation.get(db, talk.id).state == "waiting"
            # made again: the version made before stays shown meanwhile, and if it fails
            for state in ("waiting", "running", "failed"):
                with database.session(settings) as db:
                    translation.mark(db, talk.id, state, "Whisper stoppet")
                assert 'srclang="en"' in guest.get(f"/talks/{talk.slug}").text, state
                assert guest.get(f"/talks/{talk.slug}/en/transcript.vtt").status_code == 200
    finally:
        organiser.__exit__(None, None, None)


def test_a_track_turned_off_before_the_worker_came_does_not_wait_for_ever(site):
    settings, talk = site["settings"], site["talk"]
    app = create_app(settings)
    organiser = _organiser(app)
    try:
        post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "1"})
        post(organiser, f"/talks/{talk.slug}/engelsk/valg", {"engelsk": "0"})
        # No Whisper: a track that is not wanted passes straight through the stage.
        assert Worker(settings, engine_factory=lambda: None).run_once()
        with database.session(settings) as db:
            assert translation.get(db, talk.id).state == "none"
        page = organiser.get(f"/talks/{talk.slug}/engelsk").text
        assert "Venter på en arbeider" not in page and "Ikke laget" in page
    finally:
        organiser.__exit__(None, None, None)


def test_markup_in_an_edited_english_line_is_text_everywhere(site):
    _with_english(site)
    settings, talk = site["settings"], site["talk"]
    markup = "<script>alert(1)</script><b>bold</b> --> 00:00"
    app = create_app(settings)
    organiser = _organiser(app)
    try:
        saved = post(organiser, f"/talks/{talk.slug}/engelsk",
                     {"base_version": "0", "text": [markup, "Thank you."]})  # fmt: skip
        assert saved.status_code == 303
        with TestClient(app) as guest:
            pages = [organiser.get(f"/talks/{talk.slug}/engelsk").text,
                     guest.get(f"/talks/{talk.slug}").text, guest.get("/sok?q=bold").text,
                     guest.get("/sok.json?q=bold").json()["hits"][0]["snippet"]]  # fmt: skip
            vtt = guest.get(f"/talks/{talk.slug}/en/transcript.vtt").text
        for page in pages:
            assert "<script>alert(1)" not in page and "<b>bold" not in page
        assert "<script>" not in vtt and "-->" not in vtt.split("\n\n")[1].split("\n")[2]
    finally:
        organiser.__exit__(None, None, None)
