"""Personal notes through the app as it ships (create_app, middleware, guard): add, edit,
delete, download; private to their writer; guests cannot; CSRF required."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from server.store import db as database
from server.store import write
from server.web.app import create_app
from tests.test_access_matrix import _talk
from tests.webclient import csrf, login, make_user, post


@pytest.fixture
def env(settings):
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer", name="Kari")
    make_user(settings, "viewer", email="per@kommune.no", name="Per")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Notater om barnevern")
        draft = _talk(db, settings, organiser, "draft", "Hemmelig utkast")
        with write(db):  # a 30-minute recording, so notes have room
            db.execute("UPDATE recordings SET duration = 1800.0 WHERE talk_id = ?", [talk.id])
    app = create_app(settings)
    kari, per = TestClient(app, follow_redirects=False), TestClient(app)
    guest = TestClient(app, follow_redirects=False)
    with kari, per, guest:
        login(kari, "viewer@kommune.no")
        login(per, "per@kommune.no")
        yield {"kari": kari, "per": per, "guest": guest, "talk": talk, "draft": draft}


def _add(client, slug: str, at: str, text: str, **kwargs):
    return post(client, f"/talks/{slug}/notater", {"at": at, "text": text}, **kwargs)


JSON = {"Accept": "application/json"}


def test_add_edit_delete_and_download_own_notes(env):
    kari, slug = env["kari"], env["talk"].slug
    added = _add(kari, slug, "1:05", "Spør om fristene  \r\nog skjemaet")
    assert added.status_code == 303
    assert added.headers["location"] == f"/talks/{slug}?t=65#notater"
    body = _add(kari, slug, "0:10", "Første poeng", headers=JSON).json()
    assert [(n["at"], n["text"]) for n in body["notes"]] == [
        (10.0, "Første poeng"),
        (65.0, "Spør om fristene\nog skjemaet"),
    ]
    page = kari.get(f"/talks/{slug}").text
    assert "Første poeng" in page and 'href="/talks/notater-om-barnevern?t=65"' in page
    first = body["saved"]
    edited = post(kari, f"/talks/{slug}/notater/{first}", {"at": "12", "text": "Rettet"},
                  headers=JSON)  # fmt: skip
    assert edited.status_code == 200 and edited.json()["notes"][0]["text"] == "Rettet"
    text = kari.get(f"/talks/{slug}/notater.txt")
    assert text.status_code == 200 and "attachment" in text.headers["content-disposition"]
    assert "[0:12] http://testserver/talks/notater-om-barnevern?t=12\nRettet\n" in text.text
    assert "[1:05]" in text.text and text.text.startswith("Mine notater: Notater om barnevern")
    deleted = post(kari, f"/talks/{slug}/notater/{first}/slett", headers=JSON)
    assert [n["text"] for n in deleted.json()["notes"]] == ["Spør om fristene\nog skjemaet"]
    mine = kari.get("/mine-moduler").text
    assert "Spør om fristene" in mine and f"/talks/{slug}/notater.txt" in mine


def test_notes_are_private_and_another_persons_note_is_404(env):
    kari, per, slug = env["kari"], env["per"], env["talk"].slug
    note = _add(kari, slug, "5", "Bare mitt", headers=JSON).json()["saved"]
    assert "Bare mitt" not in per.get(f"/talks/{slug}").text
    assert per.get(f"/talks/{slug}/notater.json").json()["notes"] == []
    assert "Bare mitt" not in per.get(f"/talks/{slug}/notater.txt").text
    assert "Bare mitt" not in per.get("/mine-moduler").text
    for url, data in ((f"/talks/{slug}/notater/{note}", {"at": "1", "text": "Kapret"}),
                      (f"/talks/{slug}/notater/{note}/slett", {})):  # fmt: skip
        response = post(per, url, data, headers=JSON)
        assert response.status_code == 404 and "Fant ikke notatet" in response.json()["error"]
    assert kari.get(f"/talks/{slug}/notater.json").json()["notes"][0]["text"] == "Bare mitt"


def test_a_note_belongs_to_its_talk(env, settings):
    kari, slug = env["kari"], env["talk"].slug
    organiser = make_user(settings, "organiser", email="o2@kommune.no")
    with database.session(settings) as db:
        other = _talk(db, settings, organiser, "internal", "Et annet foredrag")
    note = _add(kari, slug, "5", "Her", headers=JSON).json()["saved"]
    moved = post(kari, f"/talks/{other.slug}/notater/{note}/slett", headers=JSON)
    assert moved.status_code == 404


def test_guests_cannot_write_or_read_notes(env):
    guest, slug = env["guest"], env["talk"].slug
    assert (
        guest.get(f"/talks/{slug}/notater.txt", headers={"Accept": "text/html"}).status_code == 303
    )
    assert guest.get(f"/talks/{slug}/notater.json").status_code == 401
    assert _add(guest, slug, "1", "Gjest").status_code in (303, 401)


def test_no_notes_on_a_talk_the_person_may_not_see(env):
    draft = env["draft"].slug
    assert _add(env["kari"], draft, "1", "Utkast", headers=JSON).status_code == 404


def test_csrf_is_required(env):
    kari, slug = env["kari"], env["talk"].slug
    refused = kari.post(f"/talks/{slug}/notater", data={"at": "1", "text": "Uten token"})
    assert refused.status_code == 403
    stale = kari.post(f"/talks/{slug}/notater", data={"at": "1", "text": "Gammel side"},
                      headers={"X-CSRF-Token": "gammel", **JSON})  # fmt: skip
    assert stale.status_code == 403  # js/notes.js shows the sentence, not a JSON parse error
    assert stale.json()["error"].startswith("Skjemaet var for gammelt")
    token = csrf(kari)
    allowed = kari.post(f"/talks/{slug}/notater", data={"at": "1", "text": "Med token"},
                        headers={"X-CSRF-Token": token, **JSON})  # fmt: skip
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("at", "text", "message"),
    [("1:99", "Tekst", "Tiden må skrives"), ("1", "   ", "Skriv noe"),
     ("1", "x" * 4001, "Notatet er for langt: skriv høyst 4000 tegn")],
)  # fmt: skip
def test_bad_notes_are_refused_with_a_sentence(env, at, text, message):
    response = _add(env["kari"], env["talk"].slug, at, text, headers=JSON)
    assert response.status_code == 422 and message in response.json()["error"]
    page = _add(env["kari"], env["talk"].slug, at, text, headers={"Accept": "text/html"})
    assert page.status_code == 422 and message in page.text


def test_english_error_for_an_english_reader(env):
    kari = env["kari"]
    kari.cookies.set("ktl_lang", "en")
    response = _add(kari, env["talk"].slug, "1", "x" * 4001, headers=JSON)
    assert "write at most 4000 characters" in response.json()["error"]


MARKUP = '<script>alert(1)</script><img src=x onerror=alert(2)> & "sitat"'


def test_markup_in_a_note_is_text_everywhere_and_control_characters_are_dropped(env):
    kari, slug = env["kari"], env["talk"].slug
    body = _add(kari, slug, "2", MARKUP + "\x1b[2J\x07\rny linje", headers=JSON).json()
    assert body["notes"][0]["text"] == MARKUP + "[2J\nny linje"  # the ESC and BEL are gone
    for url in (f"/talks/{slug}", "/mine-moduler"):
        page = kari.get(url).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
    download = kari.get(f"/talks/{slug}/notater.txt")
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "\x1b" not in download.text and MARKUP + "[2J\nny linje\n" in download.text


def test_notes_follow_the_talk_when_it_is_hidden_or_deleted(env, settings):
    kari, slug, talk = env["kari"], env["talk"].slug, env["talk"]
    note = _add(kari, slug, "3", "Husk dette", headers=JSON).json()["saved"]
    with database.session(settings) as db, database.write(db):
        db.execute("UPDATE talks SET visibility = 'draft' WHERE id = ?", [talk.id])
    assert "Husk dette" not in kari.get("/mine-moduler").text
    for response in (kari.get(f"/talks/{slug}/notater.json"),
                     kari.get(f"/talks/{slug}/notater.txt"),
                     post(kari, f"/talks/{slug}/notater/{note}", {"at": "1", "text": "x"},
                          headers=JSON)):  # fmt: skip
        assert response.status_code == 404
    with database.session(settings) as db, database.write(db):
        db.execute("UPDATE talks SET visibility = 'internal' WHERE id = ?", [talk.id])
    assert "Husk dette" in kari.get("/mine-moduler").text
    organiser = TestClient(env["kari"].app, follow_redirects=False)
    with organiser:
        login(organiser, "organiser@kommune.no")
        deleted = post(organiser, f"/talks/{slug}/slett", {"bekreftet": "1"})
        assert deleted.status_code == 303
    with database.session(settings) as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    assert kari.get("/mine-moduler").status_code == 200
    assert kari.get(f"/talks/{slug}/notater.json").status_code == 404


def test_a_note_lies_within_the_recording(env):
    """A 30-minute recording takes notes up to its end (and the two seconds a player's
    stream may run past it), not at 45:00 (moments up to 24 h are readable times, but not
    moments of this talk)."""
    kari, slug = env["kari"], env["talk"].slug
    last = _add(kari, slug, "30:02", "Helt til slutt", headers=JSON)
    assert last.status_code == 200
    for at in ("30:03", "45:00", "23:59:59"):
        response = _add(kari, slug, at, "Etter slutten", headers=JSON)
        assert response.status_code == 422
        assert "opptaket varer 30:00" in response.json()["error"]
    saved = last.json()["saved"]
    moved = post(kari, f"/talks/{slug}/notater/{saved}", {"at": "1:00:00", "text": "Flyttet"},
                 headers=JSON)  # fmt: skip
    assert moved.status_code == 422 and "opptaket varer 30:00" in moved.json()["error"]
    page = _add(kari, slug, "45:00", "Etter slutten", headers={"Accept": "text/html"})
    assert page.status_code == 422 and "opptaket varer 30:00" in page.text
    kari.cookies.set("ktl_lang", "en")
    english = _add(kari, slug, "45:00", "After the end", headers=JSON).json()["error"]
    assert "the recording lasts 30:00" in english
    notes = kari.get(f"/talks/{slug}/notater.json").json()["notes"]
    assert [(n["at"], n["text"]) for n in notes] == [(1802.0, "Helt til slutt")]
