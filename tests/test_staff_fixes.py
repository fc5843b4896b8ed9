"""The small word-level defects staff hit: invited users, the password link's copy button,
the audit log's names and labels, past dates, the model choice, 100 %, the quiz hint after
watching, the word diff of transcript versions and the quiz question form."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.learning import quizzes
from server.store import db as database
from server.transcript import editing
from server.transcript import model as transcript
from server.transcript.model import Segment, Transcript
from server.web.app import create_app
from tests import factories
from tests.webclient import PASSWORD, csrf, login, make_user, post


def _status_of(page: str, name: str) -> str:
    row = re.search(rf">{name}</a></td>.*?</tr>", page, re.S)
    assert row, f"{name} is listed"
    return re.findall(r"<td>([^<]*)</td></tr>", row.group(0))[-1]


def test_an_invited_user_is_invited_until_they_set_a_password(settings, client):
    make_user(settings, "admin", name="Ada Admin")
    login(client, "admin@kommune.no")
    invited = post(client, "/admin/brukere", {"email": "new@kommune.no", "name": "Nora New",
                                              "role": "viewer"})  # fmt: skip
    assert invited.status_code == 201
    assert 'data-copy="password-link"' in invited.text and "js/copy.js" in invited.text
    link = re.search(r'id="password-link"[^>]*value="([^"]+)"', invited.text).group(1)
    assert _status_of(client.get("/admin/brukere").text, "Nora New") == "Invitert"
    with TestClient(create_app(settings), follow_redirects=False) as newcomer:
        token = link.rsplit("/", 1)[1]
        chosen = post(newcomer, f"/passord/{token}", {"password": PASSWORD,
                                                      "repeat": PASSWORD})  # fmt: skip
        assert chosen.status_code in (200, 303)
    assert _status_of(client.get("/admin/brukere").text, "Nora New") == "Aktiv"
    assert _status_of(client.get("/admin/brukere").text, "Ada Admin") == "Aktiv"


def test_the_audit_log_names_people_and_shows_labels(settings, client):
    make_user(settings, "admin", name="Ada Admin")
    login(client, "admin@kommune.no")
    post(client, "/admin/brukere", {"email": "new@kommune.no", "name": "Nora", "role": "viewer"})
    with database.session(settings) as db:
        factories.talk(db, None, title="Om parker", visibility="internal")
    page = client.get("/admin/logg").text
    assert "Hendelseslogg" in page
    rows = re.findall(r"<tr><td>.*?</tr>", page, re.S)
    invite = next(r for r in rows if "inviterte bruker" in r)
    assert "Ada Admin" in invite and "admin@kommune.no" not in invite
    assert "rolle Ansatt" in invite and "viewer" not in invite
    created = next(r for r in rows if "opprettet foredrag" in r)
    assert "Systemet" in created and "Bare for innloggede ansatte" in created
    assert "internal" not in created
    nav = client.get("/").text
    assert ">Hendelseslogg</a>" in nav and ">Logg</a>" not in nav
    client.cookies.set("ktl_lang", "en")
    english = client.get("/admin/logg").text
    assert "invited a user" in english and "role Staff member" in english


def test_a_past_date_is_saved_only_when_confirmed(settings, client):
    make_user(settings, "organiser")
    login(client, "organiser@kommune.no")
    form = {"title": "Old talk", "starts_at": "2021-03-04T11:30", "language": "nb",
            "visibility": "internal"}  # fmt: skip
    asked = post(client, "/talks", form)
    assert asked.status_code == 422 and "Datoen har vært." in asked.text
    assert 'name="likevel"' in asked.text and 'value="2021-03-04T11:30"' in asked.text
    saved = post(client, "/talks", {**form, "likevel": "1"})
    assert saved.status_code == 303
    slug = saved.headers["location"].split("/")[2].split("#")[0]
    # Editing something else keeps the old date without asking again.
    edited = post(client, f"/talks/{slug}/rediger", {**form, "title": "Old talk, edited"})
    assert edited.status_code == 303
    moved = post(client, f"/talks/{slug}/rediger", {**form, "starts_at": "2021-03-05T11:30"})
    assert moved.status_code == 422 and "Datoen har vært." in moved.text
    page = client.get(f"/talks/{slug}/rediger").text
    assert "<h1>Rediger foredraget</h1>" in page and "Lagre endringene" in page
    client.cookies.set("ktl_lang", "en")
    english = client.get(f"/talks/{slug}/rediger").text
    assert "<h1>Edit the talk</h1>" in english and "Save the changes" in english


def _ready_talk(settings, db, organiser) -> dict:
    segments = (Segment(0.0, 2.0, "Velkommen til biblioteket."),
                Segment(2.0, 4.0, "Vi låner ut bøker til alle."))  # fmt: skip
    talk = factories.talk(db, organiser, language="nb")
    folder = talks.transcript_dir(settings, talk.id)
    transcript.write_all(folder, Transcript(language="nb", segments=segments, duration=600.0))
    with database.write(db):
        talks.set_status(db, talk.id, "ready")
        db.execute(
            "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
            "created_at) VALUES (?, 'a.mp4', 'original.mp4', 1, 600.0, 1, '2030-01-01')",
            [talk.id],
        )
    return talks.get(db, talk.id)


def test_the_model_is_chosen_from_the_installed_models(settings, client):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _ready_talk(settings, db, organiser)
    login(client, organiser.email)
    page = client.get(f"/talks/{talk.slug}/transkripsjon").text
    field = re.search(r'<select id="model" name="model" required>(.*?)</select>', page, re.S)
    assert field, "the model is a select, not free text"
    assert '<option value="base" selected>base (i bruk)</option>' in field.group(1)


def test_watched_to_the_end_is_100_percent_and_the_page_says_take_the_quiz(settings, client):
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _ready_talk(settings, db, organiser)
        quizzes.save_question(db, talk, quizzes.QuestionInput(
            kind="single", text="Hva låner biblioteket ut?", options=("Bøker", "Biler"),
            correct=(0,)), organiser)  # fmt: skip
        quizzes.save_settings(db, talk, "80", True, True, organiser)
    login(client, viewer.email)
    before = client.get(f"/talks/{talk.slug}").text
    assert re.search(r'id="quiz-to-complete"[^>]*hidden', before), "not before watching"
    # The player's last report stops just short of the end, as players do.
    reported = client.post(f"/talks/{talk.slug}/fremdrift", headers={
        "X-CSRF-Token": csrf(client)}, json={"intervals": [[0, 599.4]], "position": 599.4,
                                             "duration": 600})  # fmt: skip
    assert reported.status_code == 200 and reported.json()["share"] == 1.0
    mine = client.get("/mine-moduler").text
    assert "<span>100 %</span>" in mine and "99 %" not in mine
    after = client.get(f"/talks/{talk.slug}").text
    hint = re.search(r'<p class="notice" id="quiz-to-complete"[^>]*>', after).group(0)
    assert "hidden" not in hint and "Ta quizen for å fullføre modulen" in after
    assert 'data-seen-share="0.9"' in after, "progress.js shows it once the share is reached"


def test_a_version_shows_its_word_changes_from_the_one_before(settings, client):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _ready_talk(settings, db, organiser)
        edited = (Segment(0.0, 2.0, "Velkommen til biblioteket."),
                  Segment(2.0, 4.0, "Vi låner ut bøker og sykler til alle."))  # fmt: skip
        editing.save(db, settings, talk.id, edited, 0, organiser, "")
    login(client, organiser.email)
    page = client.get(f"/talks/{talk.slug}/transkripsjon/versjoner?vis=1").text
    assert "Endringer fra versjon 0" in page
    diff = re.search(r'<ol class="diff-lines">(.*?)</ol>', page, re.S).group(1)
    assert '<ins><span class="visually-hidden">lagt til: </span>og sykler</ins>' in diff
    assert "Velkommen" not in diff, "unchanged segments are left out"
    machine = client.get(f"/talks/{talk.slug}/transkripsjon/versjoner?vis=0").text
    assert "Endringer fra versjon" not in machine, "the first version has nothing before it"


@pytest.mark.browser
def test_the_question_form_shows_only_the_fields_of_the_chosen_kind(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
    from tests.test_browser import _sign_in

    require_chromium()
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _ready_talk(settings, db, organiser)
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        _sign_in(page, base, organiser.email)
        page.goto(f"{base}/talks/{talk.slug}/quiz/rediger")
        options = page.locator('fieldset[data-for-kinds="single multiple"]')
        statement = page.locator('fieldset[data-for-kinds="truefalse"]')
        page.check('input[name="kind"][value="single"]')
        assert options.is_visible() and not statement.is_visible()
        page.check('input[name="kind"][value="truefalse"]')
        assert statement.is_visible() and not options.is_visible()
        page.check('input[name="kind"][value="reflection"]')
        assert not statement.is_visible() and not options.is_visible()
        page.check('input[name="kind"][value="multiple"]')
        assert options.is_visible()
        browser.close()
