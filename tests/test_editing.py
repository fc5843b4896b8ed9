"""Transcript editing: versions, concurrent edits, captions, search, review state, pending
re-transcriptions and the audit log (server.transcript.editing and server/web/views/editor.py)."""

from __future__ import annotations

import html
import io
import json

import pytest
import webvtt
from starlette.testclient import TestClient

from server.catalogue import chapters, search, talks
from server.catalogue.slides import SlideRow
from server.people import accounts
from server.store import write
from server.transcript import editing
from server.transcript import model as transcript
from server.transcript.model import Segment, Transcript, Word
from server.web.app import create_app
from tests import factories
from tests.webclient import csrf, login, make_user, post

MACHINE = (
    Segment(0.0, 2.0, "Velkommen til lunsjforedraget om barnevern.",
            (Word(0.0, 0.6, " Velkommen"), Word(0.6, 0.8, " til"),
             Word(0.8, 1.5, " lunsjforedraget"), Word(1.5, 1.7, " om"),
             Word(1.7, 2.0, " barnevern."))),
    Segment(2.0, 4.5, "Jeg heter Bjorn Hansen og jobber i kommunen."),
    Segment(4.5, 7.0, "Takk for at dere kom."),
)  # fmt: skip


def _ready_talk(settings, db, organiser, **fields) -> dict:
    """A ready talk with a machine transcript (version 0), indexed, without running Whisper."""
    talk = factories.talk(db, organiser, language="nb", **fields)
    folder = talks.transcript_dir(settings, talk.id)
    machine = Transcript(language="nb", segments=MACHINE, duration=7.0, model="base")
    transcript.write_all(folder, machine)
    search.index_talk(db, talk.id, MACHINE, "nb")
    with write(db):
        talks.set_status(db, talk.id, "ready")
    return talks.get(db, talk.id)


def _edited(text: str = "Jeg heter Bjørn Hansen og jobber i kommunen.") -> list[Segment]:
    return [MACHINE[0], Segment(2.0, 4.6, text), MACHINE[2]]


def _payload(segments, base: int, note: str = "") -> dict:
    rows = [{"start": s.start, "end": s.end, "text": s.text} for s in segments]
    return {"base_version": base, "note": note, "segments": rows}


def _hits(db, query: str) -> list[str]:
    results = search.search(db, query)
    return [hit.snippet_html for group in results.groups for hit in group.hits]


def _audit(db) -> list[str]:
    return [entry.action for entry in accounts.audit_entries(db)]


@pytest.fixture
def organiser(settings):
    return make_user(settings, "organiser")


@pytest.fixture
def talk(settings, db, organiser):
    return _ready_talk(settings, db, organiser)


@pytest.fixture
def client(settings, organiser):
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        assert login(test_client, organiser.email).status_code == 303
        yield test_client


def _save(client, talk: dict, segments, base: int, note: str = ""):
    return client.post(
        f"/talks/{talk.slug}/transkripsjon",
        json=_payload(segments, base, note),
        headers={"X-CSRF-Token": csrf(client), "Accept": "application/json"},
    )


# ---------------------------------------------------------------- versioning


def test_first_edit_keeps_the_machine_version_and_makes_version_1(settings, db, talk, organiser):
    number = editing.save(db, settings, talk.id, _edited(), 0, organiser, "Rettet navnet")
    assert number == 1
    folder = talks.transcript_dir(settings, talk.id)
    machine = transcript.load(folder / "versions" / "v0000.json")
    assert machine.segments == MACHINE, "version 0 is the machine transcript, untouched"
    current = transcript.load(folder / "transcript.json")
    assert current.segments[1].text == "Jeg heter Bjørn Hansen og jobber i kommunen."
    assert current.segments[1].end == 4.6
    assert transcript.load(folder / "versions" / "v0001.json") == current
    assert current.segments[0].words == MACHINE[0].words, "word timestamps are kept"
    row = talks.get(db, talk.id)
    assert row.transcript_version == 1
    listed = editing.versions(db, row)
    assert [(v.version, v.status) for v in listed] == [(1, "current"), (0, "old")]
    assert listed[0].author == organiser.name and listed[0].note == "Rettet navnet"
    assert listed[1].author == editing.MACHINE_AUTHOR and listed[1].model == "base"


def test_restore_makes_a_new_version_with_the_old_content(settings, db, talk, organiser):
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    editing.save(db, settings, talk.id, _edited("Noe helt annet."), 1, organiser)
    number = editing.restore(db, settings, talk.id, 0, 2, organiser)
    assert number == 3
    current = editing.load_current(settings, talk.id)
    assert current.segments == MACHINE
    row = talks.get(db, talk.id)
    assert [(v.version, v.status) for v in editing.versions(db, row)] == [
        (3, "current"), (2, "old"), (1, "old"), (0, "old")]  # fmt: skip
    kept = transcript.load(editing.version_path(settings, talk.id, 2))
    assert kept.segments[1].text == "Noe helt annet.", "nothing is ever overwritten"
    assert "gjenopprettet transkripsjon" in _audit(db)


def test_versions_page_and_restore_over_http(settings, db, talk, organiser, client):
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    page = client.get(f"/talks/{talk.slug}/transkripsjon/versjoner?vis=0")
    assert page.status_code == 200
    assert "Bjorn Hansen" in page.text and "gjeldende" in page.text
    response = post(client, f"/talks/{talk.slug}/transkripsjon/versjoner/0",
                    {"base_version": "1"})  # fmt: skip
    assert response.status_code == 303
    assert editing.load_current(settings, talk.id).segments == MACHINE
    stale = post(client, f"/talks/{talk.slug}/transkripsjon/versjoner/1", {"base_version": "1"})
    assert stale.status_code == 409
    assert "endret" in stale.text


# ---------------------------------------------------------------- concurrency


def test_a_stale_base_version_is_refused_and_nothing_is_lost(settings, db, talk, organiser, client):
    admin = make_user(settings, "admin", name="Kari Admin")
    first = editing.save(db, settings, talk.id, _edited(), 0, admin, "Kari retter")
    assert first == 1
    response = _save(client, talk, _edited("Jeg heter Bjørnar."), base=0)
    assert response.status_code == 409
    body = response.json()
    assert "Kari Admin" in body["error"] and "ikke lagret" in body["error"]
    current = editing.load_current(settings, talk.id)
    assert current.segments[1].text == "Jeg heter Bjørn Hansen og jobber i kommunen."
    assert talks.get(db, talk.id).transcript_version == 1
    assert not editing.version_path(settings, talk.id, 2).exists()
    again = _save(client, talk, _edited("Jeg heter Bjørnar."), base=1)
    assert again.status_code == 200 and again.json()["version"] == 2


def test_domain_conflict_error(settings, db, talk, organiser):
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    with pytest.raises(editing.ConflictError) as caught:
        editing.save(db, settings, talk.id, _edited("x"), 0, organiser)
    assert caught.value.status == 409
    assert not db.conn.in_transaction


# ---------------------------------------------------------------- captions and search


def test_save_over_http_regenerates_captions(settings, talk, client):
    segments = [MACHINE[0], Segment(2.25, 4.75, "Jeg heter Bjørn Hansen <og> jobber her."),
                Segment(4.75, 6.0, "Takk."), Segment(6.0, 7.0, "Ha en fin lunsj.")]  # fmt: skip
    response = _save(client, talk, segments, base=0, note="Navn og slutt")
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "version": 1, "message": "Lagret som versjon 1."}

    vtt = client.get(f"/talks/{talk.slug}/transcript.vtt?inline=1")
    captions = webvtt.from_buffer(io.StringIO(vtt.text))
    # webvtt-py leaves the cue text escaped as it is in the file (&lt; for <), as players decode it
    assert [html.unescape(c.text) for c in captions] == [s.text for s in segments]
    assert [(c.start, c.end) for c in captions] == [
        (_clock(s.start), _clock(s.end)) for s in segments]  # fmt: skip
    srt = client.get(f"/talks/{talk.slug}/transcript.srt")
    parsed = webvtt.from_buffer(io.StringIO(srt.text), format="srt")
    assert [c.raw_text for c in parsed] == [s.text for s in segments]  # SRT text is plain
    assert (parsed[1].start, parsed[1].end) == ("00:00:02.250", "00:00:04.750")
    txt = client.get(f"/talks/{talk.slug}/transcript.txt").text
    assert txt.splitlines() == [s.text for s in segments]


def _clock(seconds: float) -> str:
    whole, millis = divmod(round(seconds * 1000), 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{millis:03d}"


def test_search_reflects_the_edit_at_once(settings, db, talk, organiser):
    assert _hits(db, "Bjorn") and not _hits(db, "Bjørn")
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    assert _hits(db, "Bjørn"), "the corrected word is found"
    assert not _hits(db, "Bjorn"), "the old spelling is gone from the index"


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([{"start": -1, "end": 2, "text": "hei"}], "negativ"),
        ([{"start": 3, "end": 2, "text": "hei"}], "starttiden må være før sluttiden"),
        ([{"start": 1, "end": 1, "text": "hei"}], "starttiden må være før sluttiden"),
        ([{"start": 0, "end": 2, "text": "  "}], "er tomt"),
        ([{"start": "x", "end": 2, "text": "hei"}], "må være et tall"),
        ([{"start": 0, "end": 2, "text": "a" * 1001}], "for langt"),
        ([{"start": 2, "end": 3, "text": "b"}, {"start": 1, "end": 2, "text": "a"}],
         "starter før segmentet foran"),
        ("ikke en liste", "Fant ingen segmenter"),
        ([{"start": float("nan"), "end": 2, "text": "a"}], "Kunne ikke lese"),  # not JSON
    ],
)  # fmt: skip
def test_invalid_segments_get_norwegian_messages(settings, db, talk, client, segments, message):
    body = {"base_version": 0, "segments": segments}
    response = client.post(
        f"/talks/{talk.slug}/transkripsjon",
        content=json.dumps(body, allow_nan=True),
        headers={"X-CSRF-Token": csrf(client), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert message in response.json()["error"]
    assert editing.load_current(settings, talk.id).segments == MACHINE
    assert talks.get(db, talk.id).transcript_version == 0


def test_all_faults_are_listed_and_text_is_cleaned():
    with pytest.raises(editing.EditError) as caught:
        editing.parse_segments([{"start": 3, "end": 2, "text": ""}, {"start": -1, "end": 1}])
    assert len(caught.value.errors) == 5
    (seg,) = editing.parse_segments([{"start": 0.12345, "end": 1, "text": " a\n\nb\x00 c "}])
    assert seg.text == "a b c" and seg.start == 0.123


def test_bad_json_and_missing_base_version(talk, client):
    headers = {"X-CSRF-Token": csrf(client), "Content-Type": "application/json"}
    url = f"/talks/{talk.slug}/transkripsjon"
    assert client.post(url, content=b"{not json", headers=headers).status_code == 422
    response = client.post(url, json={"segments": []}, headers=headers)
    assert response.status_code == 422 and "versjonen" in response.json()["error"]


def test_plain_form_save_without_script(settings, talk, client):
    form = {"base_version": "0", "start": ["0", "2", "4.5"], "end": ["2", "4.5", "7"],
            "text": [MACHINE[0].text, "Jeg heter Bjørn.", MACHINE[2].text]}  # fmt: skip
    response = post(client, f"/talks/{talk.slug}/transkripsjon", form)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/transkripsjon?lagret=1")
    assert editing.load_current(settings, talk.id).segments[1].text == "Jeg heter Bjørn."


def test_editor_page(settings, talk, client):
    page = client.get(f"/talks/{talk.slug}/transkripsjon")
    assert page.status_code == 200
    assert 'id="segments-data"' in page.text and "Bjorn Hansen" in page.text
    assert "<script>" not in page.text.replace('<script type="application/json"', "")
    assert "/static/js/editor.js" in page.text and "Hurtigtaster" in page.text
    assert 'name="base_version" id="base-version" value="0"' in page.text


def test_editor_json_cannot_break_out_of_its_script_tag(settings, db, organiser, client):
    talk = _ready_talk(settings, db, organiser, title="XSS")
    bad = [Segment(0.0, 1.0, "</script><script>alert(1)</script> & co")]
    editing.save(db, settings, talk.id, bad, 0, organiser)
    page = client.get(f"/talks/{talk.slug}/transkripsjon").text
    data = page.split('<script type="application/json" id="segments-data">')[1]
    data = data.split("</script>")[0]
    assert json.loads(data)[0]["text"] == bad[0].text


def test_only_the_organiser_or_an_admin_edits(settings, talk):
    make_user(settings, "organiser", email="annen@kommune.no")
    make_user(settings, "viewer")
    with TestClient(create_app(settings), follow_redirects=False) as other:
        login(other, "annen@kommune.no")
        assert other.get(f"/talks/{talk.slug}/transkripsjon").status_code == 403
        assert _save(other, talk, _edited(), 0).status_code == 403
    with TestClient(create_app(settings), follow_redirects=False) as viewer:
        login(viewer, "viewer@kommune.no")
        assert viewer.get(f"/talks/{talk.slug}/transkripsjon").status_code == 403


# ---------------------------------------------------------------- review state


def test_review_state_is_shown_and_audited(settings, db, talk, client):
    page = client.get(f"/talks/{talk.slug}")
    assert "maskinlaget og ikke kontrollert" in page.text
    assert f'href="/talks/{talk.slug}/transkripsjon"' in page.text
    response = post(client, f"/talks/{talk.slug}/transkripsjon/kontrollert", {"state": "reviewed"})
    assert response.status_code == 303
    assert talks.get(db, talk.id).transcript_state == "reviewed"
    assert "Transkripsjonen er kontrollert" in client.get(f"/talks/{talk.slug}").text
    assert "markerte transkripsjonen som kontrollert" in _audit(db)
    bad = post(client, f"/talks/{talk.slug}/transkripsjon/kontrollert", {"state": "x"})
    assert bad.status_code == 422


def test_editing_a_reviewed_transcript_keeps_it_reviewed(settings, db, talk, organiser):
    editing.set_state(db, talk.id, "reviewed", organiser)
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    assert talks.get(db, talk.id).transcript_state == "reviewed"


def test_unreviewed_transcript_is_hidden_from_viewers_when_so_configured(settings, db, organiser):
    settings = settings.replace(captions_publish="reviewed")
    talk = _ready_talk(settings, db, organiser, visibility="internal")
    make_user(settings, "viewer")
    app = create_app(settings)
    url = f"/talks/{talk.slug}"
    with TestClient(app, follow_redirects=False) as viewer, TestClient(app) as editor:
        login(viewer, "viewer@kommune.no")
        login(editor, organiser.email)
        page = viewer.get(url).text
        assert "<track" not in page and 'id="transcript-lines"' not in page
        assert "transcript.vtt" not in page and "Transkripsjonen er ikke kontrollert ennå." in page
        for fmt in ("vtt", "srt", "txt", "json"):
            response = viewer.get(f"{url}/transcript.{fmt}")
            assert response.status_code == 404
            assert "Transkripsjonen er ikke kontrollert ennå." in response.text
            assert editor.get(f"{url}/transcript.{fmt}").status_code == 200, "editors always see"
        own = editor.get(url).text
        assert "<track" in own and 'id="transcript-lines"' in own
        assert viewer.get("/sok.json?q=Hansen").json()["hits"] == [], "search hides it too"
        assert editor.get("/sok.json?q=Hansen").json()["hits"]

        post(editor, f"{url}/transkripsjon/kontrollert", {"state": "reviewed"})
        page = viewer.get(url).text
        assert "<track" in page and "Bjorn Hansen" in page
        assert viewer.get(f"{url}/transcript.vtt").status_code == 200
        assert viewer.get("/sok.json?q=Hansen").json()["hits"]


def test_immediately_publishes_machine_transcripts(settings, db, talk):
    make_user(settings, "viewer")
    with TestClient(create_app(settings)) as viewer:
        login(viewer, "viewer@kommune.no")
        assert viewer.get(f"/talks/{talk.slug}/transcript.vtt").status_code == 200
        assert "<track" in viewer.get(f"/talks/{talk.slug}").text


# ---------------------------------------------------------------- re-transcription


def _new_model_transcript() -> Transcript:
    segments = (Segment(0.0, 3.0, "Velkommen til lunsjforedraget."),
                Segment(3.0, 7.0, "Jeg heter Bjørn Hansen."))  # fmt: skip
    return Transcript(language="nb", segments=segments, duration=7.0, model="")


def test_retranscribe_queues_a_job_and_a_pending_version(settings, db, talk, client):
    response = post(client, f"/talks/{talk.slug}/transkripsjon/ny-modell", {"model": "large-v3"})
    assert response.status_code == 303
    job = db.execute("SELECT * FROM jobs WHERE talk_id = ?", [talk.id]).fetchone()
    assert job["kind"] == "retranscribe" and job["state"] == "queued"
    waiting = editing.pending(db, settings, talk.id)
    assert waiting and waiting.model == "large-v3" and not waiting.has_file
    assert editing.requested_model(db, talk.id) == "large-v3"
    again = post(client, f"/talks/{talk.slug}/transkripsjon/ny-modell", {"model": "small"})
    assert again.status_code == 409
    empty = post(client, f"/talks/{talk.slug}/transkripsjon/ny-modell", {"model": " "})
    assert empty.status_code == 422
    assert "ba om ny transkripsjon" in _audit(db)
    assert talks.get(db, talk.id).transcript_version == 0, "current stays current"


def test_accept_pending_makes_it_current(settings, db, talk, organiser, client):
    editing.set_state(db, talk.id, "reviewed", organiser)
    editing.request_retranscribe(db, settings, talk.id, "large-v3", organiser)
    # An edit made while the worker transcribes: the pending version must not lose to it.
    editing.save(db, settings, talk.id, _edited(), 0, organiser)
    number = editing.store_pending(db, settings, talk.id, _new_model_transcript(), "large-v3")
    assert editing.load_current(settings, talk.id).segments[1].text.startswith("Jeg heter Bjørn")
    assert _hits(db, "lunsjforedraget")
    preview = client.get(f"/talks/{talk.slug}/transkripsjon/versjoner?vis={number}")
    assert "Godta den nye transkripsjonen" in preview.text and "large-v3" in preview.text

    stale = post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"base_version": "0"})
    assert stale.status_code == 409
    response = post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"base_version": "2"})
    assert response.status_code == 303
    row = talks.get(db, talk.id)
    assert row.transcript_version == 3, "the accepted version is the newest"
    assert row.transcript_state == "machine", "new machine text needs a new review"
    current = editing.load_current(settings, talk.id)
    assert current.segments == _new_model_transcript().segments and current.model == "large-v3"
    assert editing.pending(db, settings, talk.id) is None
    listed = {v.version: v for v in editing.versions(db, row)}
    assert listed[3].status == "current" and listed[3].model == "large-v3"
    assert listed[2].status == "old" and listed[0].status == "old"
    assert 1 not in listed, "the pending request (number 1) was renumbered to stay the newest"
    assert editing.version_path(settings, talk.id, 3).is_file()
    assert not editing.version_path(settings, talk.id, 1).exists()
    assert "godtok ny transkripsjon" in _audit(db)


def test_discard_pending(settings, db, talk, organiser, client):
    editing.request_retranscribe(db, settings, talk.id, "small", organiser)
    number = editing.store_pending(db, settings, talk.id, _new_model_transcript(), "small")
    nothing = post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"base_version": "5"})
    assert nothing.status_code == 409, "a stale base still refuses"
    response = post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"handling": "forkast"})
    assert response.status_code == 303
    assert editing.pending(db, settings, talk.id) is None
    assert not editing.version_path(settings, talk.id, number).exists()
    assert editing.load_current(settings, talk.id).segments == MACHINE
    assert "forkastet ny transkripsjon" in _audit(db)
    missing = post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"base_version": "0"})
    assert missing.status_code == 404


def test_discarding_a_queued_request_cancels_its_job(settings, db, talk, organiser):
    job_id = editing.request_retranscribe(db, settings, talk.id, "small", organiser)
    editing.discard_pending(db, settings, talk.id, organiser)
    job = db.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
    assert job["state"] == "done"


def test_audit_entries_for_an_edit(settings, db, talk, organiser):
    editing.save(db, settings, talk.id, _edited(), 0, organiser, "Rettet navnet")
    entry = accounts.audit_entries(db)[0]
    assert entry.action == "redigerte transkripsjon"
    assert entry.actor == organiser.email and entry.target == talk.title
    assert entry.detail == "versjon 1: Rettet navnet"


def test_a_failed_write_leaves_the_old_transcript(settings, db, talk, organiser, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(search, "index_talk", broken)
    with pytest.raises(OSError):
        editing.save(db, settings, talk.id, _edited(), 0, organiser)
    assert editing.load_current(settings, talk.id).segments == MACHINE
    assert talks.get(db, talk.id).transcript_version == 0
    assert (
        not editing.version_path(settings, talk.id, 1).exists()
        or not db.execute("SELECT 1 FROM transcript_versions WHERE version = 1").fetchone()
    )


def test_a_failed_retranscription_is_shown_and_can_be_discarded(settings, db, talk, client):
    response = post(client, f"/talks/{talk.slug}/transkripsjon/ny-modell", {"model": "tiny"})
    assert response.status_code == 303
    with write(db):
        db.execute("UPDATE jobs SET state = 'failed', error = 'Fant ikke modellen tiny.'")
    page = client.get(f"/talks/{talk.slug}/transkripsjon/versjoner")
    assert "Fant ikke modellen tiny." in page.text
    post(client, f"/talks/{talk.slug}/transkripsjon/godta", {"handling": "forkast"})
    assert editing.pending(db, settings, talk.id) is None
    again = post(client, f"/talks/{talk.slug}/transkripsjon/ny-modell", {"model": "small"})
    assert again.status_code == 303


# ---------------------------------------------------------------- chapters follow the text

SCHOOL = "Skolen har nye elever. Elevene får lærere og klasserom. Skolen åpner i august."
ROADS = "Veiene brøytes om vinteren. Brøyting av veier koster penger. Veiene strøs med sand."
LIBRARY = "Biblioteket låner ut bøker. Bibliotekarene hjelper lånerne. Biblioteket har lesesal."


def _topic_segments(second_half: str) -> list[Segment]:
    first = [Segment(i * 10.0, i * 10.0 + 9.0, SCHOOL) for i in range(24)]
    return first + [Segment(240 + i * 10.0, 249.0 + i * 10.0, second_half) for i in range(24)]


def _talk_with_topic_chapters(settings, db, organiser):
    """A ready talk on schools, then roads, whose chapters the transcript proposed."""
    talk = factories.talk(db, organiser, language="nb", title="Skole og vei")
    segments = _topic_segments(ROADS)
    machine = Transcript(language="nb", segments=tuple(segments), duration=480.0, model="base")
    transcript.write_all(talks.transcript_dir(settings, talk.id), machine)
    search.index_talk(db, talk.id, segments, "nb")
    with write(db):
        talks.set_status(db, talk.id, "ready")
    chapters.propose(db, talk.id, [], segments, "nb", 480.0)
    return talks.get(db, talk.id)


def test_chapters_from_the_transcript_are_made_again_when_it_is_edited(settings, db, organiser,
                                                                       client):  # fmt: skip
    talk = _talk_with_topic_chapters(settings, db, organiser)
    before = chapters.for_talk(db, talk.id)
    assert [c.at for c in before] == [0.0, 240.0] and "veiene" in before[1].title.lower()
    saved = _save(client, talk, _topic_segments(LIBRARY), 0)
    assert saved.status_code == 200, saved.text
    after = chapters.for_talk(db, talk.id)
    assert [(c.at, c.source) for c in after] == [(0.0, "transcript"), (240.0, "transcript")]
    assert "bibliotek" in after[1].title.lower() and "veiene" not in after[1].title.lower()
    vtt = client.get(f"/talks/{talk.slug}/chapters.vtt").text
    assert after[1].title in vtt and before[1].title not in vtt
    editing.restore(db, settings, talk.id, 0, 1, organiser)  # back to the roads
    assert chapters.for_talk(db, talk.id) == before


def test_chapters_an_organiser_set_or_the_slides_made_stay_after_an_edit(settings, db, organiser,
                                                                         client):  # fmt: skip
    talk = _talk_with_topic_chapters(settings, db, organiser)
    own = chapters.validate([("0", "Skolestart"), ("4:00", "Brøyting")], 480.0)
    chapters.save(db, talk.id, own)
    assert _save(client, talk, _topic_segments(LIBRARY), 0).status_code == 200
    assert [(c.at, c.title) for c in chapters.for_talk(db, talk.id)] == [
        (0.0, "Skolestart"), (240.0, "Brøyting"),
    ]  # fmt: skip
    other = _talk_with_topic_chapters(settings, db, organiser)
    from_slides = [
        SlideRow(1, 0.0, "", "Skolen", "1.jpg"),
        SlideRow(2, 240.0, "", "Veier", "2.jpg"),
    ]
    chapters.propose(db, other.id, from_slides, [], "nb", 480.0)
    editing.save(db, settings, other.id, _topic_segments(LIBRARY), 0, organiser)
    assert [(c.title, c.source) for c in chapters.for_talk(db, other.id)] == [
        ("Skolen", "slides"), ("Veier", "slides"),
    ]  # fmt: skip
