"""What staff, organisers and admins run into on their journeys, through the app as built
(create_app with the real middleware, guard and CSRF; real SQLite in tmp_path)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from starlette.testclient import TestClient

from server.catalogue import programme, search, talks
from server.core.clock import OSLO
from server.core.config import load_settings
from server.learning import quizzes
from server.people import access
from server.store import db as database
from server.transcript import model as transcript
from server.web.app import create_app
from tests.webclient import PASSWORD, login, make_user, post, route_of


@pytest.fixture
def people(settings):
    return {
        "viewer": make_user(settings, "viewer", name="Vera Viewer"),
        "organiser": make_user(settings, "organiser", name="Olav Organiser"),
        "other": make_user(settings, "organiser", email="annen@kommune.no", name="Annen"),
        "admin": make_user(settings, "admin", name="Ada Admin"),
    }


def _as(client: TestClient, user) -> None:
    client.cookies.clear()
    assert login(client, user.email).status_code == 303


def _talk(settings, owner, **fields) -> dict:
    data = {"title": "Barnevern for alle", "visibility": "internal", **fields}
    with database.session(settings) as db:
        return talks.create(db, talks.TalkInput(**data), owner)


def _oslo_in(minutes: float) -> str:
    """A talk start `minutes` from now, as the talk form takes it (Oslo time)."""
    moment = datetime.now(UTC).astimezone(OSLO) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M")


# --- 1. QR check-in counts only around the talk ----------------------------------------


def _checkin_url(settings, talk: dict) -> str:
    with database.session(settings) as db:
        code = programme.ensure_code(db, talk)
    return f"/talks/{talk.slug}/innsjekk/{code}"


def _attended(settings, user, talk) -> str | None:
    with database.session(settings) as db:
        return programme.attended(db, user.id, talk.id)


@pytest.mark.parametrize(
    ("starts_in", "message"),
    [
        (10 * 24 * 60, "Innsjekkingen åpner 30 minutter før foredraget starter"),
        (45, "Innsjekkingen åpner 30 minutter før foredraget starter"),
        (-120, "Innsjekkingen er stengt"),
        (-61, "Innsjekkingen er stengt"),
    ],
)
def test_check_in_outside_the_talks_window_is_refused(settings, client, people, starts_in, message):
    talk = _talk(settings, people["organiser"], starts_at=_oslo_in(starts_in))
    url = _checkin_url(settings, talk)
    _as(client, people["viewer"])
    page = client.get(url)
    assert page.status_code == 200 and message in page.text
    assert "Bekreft at jeg er i salen" not in page.text, "no button that cannot work"
    response = post(client, url)
    assert response.status_code == 409 and message in response.text
    assert _attended(settings, people["viewer"], talk) is None
    modules = client.get("/mine-moduler").text
    assert "Fullført" not in modules


@pytest.mark.parametrize("starts_in", [25, 0, -15, -55])
def test_check_in_counts_from_the_margin_before_to_the_margin_after(
    settings, client, people, starts_in
):
    talk = _talk(settings, people["organiser"], starts_at=_oslo_in(starts_in))
    url = _checkin_url(settings, talk)
    _as(client, people["viewer"])
    assert "Bekreft at jeg er i salen" in client.get(url).text
    response = post(client, url)
    assert response.status_code == 303 and response.headers["location"] == url
    assert _attended(settings, people["viewer"], talk) is not None


def test_the_margin_is_a_setting(settings, people):
    assert load_settings(env={"KTL_CHECKIN_MARGIN_MINUTES": "5"}).checkin_margin_minutes == 5
    assert load_settings(env={}).checkin_margin_minutes == 30
    narrow = settings.replace(checkin_margin_minutes=5)
    talk = _talk(settings, people["organiser"], starts_at=_oslo_in(20))
    url = _checkin_url(settings, talk)
    with TestClient(create_app(narrow), follow_redirects=False) as client:
        _as(client, people["viewer"])
        response = post(client, url)
        assert response.status_code == 409
        assert "Innsjekkingen åpner 5 minutter før foredraget starter" in response.text
    assert _attended(settings, people["viewer"], talk) is None


def test_a_talk_without_a_time_has_no_check_in(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at="")
    url = _checkin_url(settings, talk)
    _as(client, people["viewer"])
    response = post(client, url)
    assert response.status_code == 409 and "ikke fått dato og klokkeslett" in response.text


def test_the_organiser_registers_people_at_any_time(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at=_oslo_in(10 * 24 * 60))
    _as(client, people["organiser"])
    page = client.get(f"/talks/{talk.slug}/oppmote").text
    assert "Innsjekkingen med QR-koden teller fra" in page
    response = post(client, f"/talks/{talk.slug}/oppmote", {"email": people["viewer"].email})
    assert response.status_code == 303 and "registrert=1" in response.headers["location"]
    assert _attended(settings, people["viewer"], talk) is not None


def test_a_signed_out_scan_gets_a_login_page_for_checking_in(settings, client, people):
    talk = _talk(settings, people["organiser"], title="Vann og avløp", starts_at=_oslo_in(0))
    url = _checkin_url(settings, talk)
    scan = client.get(url, headers={"Accept": "text/html"})
    assert scan.status_code == 303 and scan.headers["location"].startswith("/logg-inn?neste=")
    page = client.get(scan.headers["location"]).text
    assert "Logg inn for å sjekke inn" in page and "«Vann og avløp»" in page
    wrong = client.get(f"/logg-inn?neste=/talks/{talk.slug}/innsjekk/feil-kode").text
    assert "Logg inn for å sjekke inn" not in wrong and "Vann og avløp" not in wrong
    assert "Logg inn for å sjekke inn" not in client.get("/logg-inn").text
    signed_in = post(
        client, "/logg-inn", {"email": people["viewer"].email, "password": "feil", "neste": url}
    )
    assert signed_in.status_code == 401 and "«Vann og avløp»" in signed_in.text
    signed_in = post(
        client, "/logg-inn", {"email": people["viewer"].email, "password": PASSWORD, "neste": url}
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == url
    assert "Bekreft at jeg er i salen" in client.get(url).text


# --- 3. Pages offer only what the person may use ----------------------------------------

ROLES = ("guest", "viewer", "organiser", "other", "admin")
MAIN_PAGES = ("/", "/arkiv", "/program", "/sok?q=hei", "/mine-moduler")


class _Links(HTMLParser):
    """Every link (a href) and form (action, method) on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (method, url)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.found.append(("GET", attributes["href"]))
        elif tag == "form":
            method = (attributes.get("method") or "get").upper()
            self.found.append((method, attributes.get("action") or ""))


def _links(page_url: str, html: str) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(html)
    result = []
    for method, raw in parser.found:
        url = urlsplit(urljoin("http://testserver" + page_url, raw))
        if url.scheme in ("http", "https") and url.netloc == "testserver":
            result.append((method, url.path + (f"?{url.query}" if url.query else "")))
    return result


def _talk_of(settings, params: dict) -> dict | None:
    with database.session(settings) as db:
        if "key" in params:
            return talks.find(db, str(params["key"]))
        if "talk_id" in params:
            return talks.get(db, int(params["talk_id"]))
    return None


def _ready_talk(settings, owner, title: str, visibility: str) -> dict:
    """A talk with a recording, a transcript in the index and a published quiz."""
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title=title, visibility=visibility), owner)
        with database.write(db):
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, created_at) VALUES (?, 'opptak.mp4', 'original.mp4', 64, 2.0, 1, "
                "'2026-01-01T10:00:00+00:00')",
                [talk.id],
            )
            talks.set_status(db, talk.id, "ready")
        media = settings.media_dir / str(talk.id)
        media.mkdir(parents=True, exist_ok=True)
        (media / "original.mp4").write_bytes(b"\x00" * 64)
        segments = (transcript.Segment(0.0, 2.0, "hei og velkommen"),)
        transcript.write_all(
            settings.transcripts_dir / str(talk.id),
            transcript.Transcript(language="nb", segments=segments),
        )
        search.index_talk(db, talk.id, segments, "nb")
        question = quizzes.QuestionInput(kind=quizzes.TRUEFALSE, text="Var det hei?", correct=(0,))
        quizzes.save_question(db, talk, question, owner)
        quizzes.save_settings(db, talk, "50", True, True, owner)
        return talks.get(db, talk.id)


@pytest.fixture
def world(settings, people):
    organiser, other = people["organiser"], people["other"]
    made = [
        _talk(
            settings,
            organiser,
            title="Kommer snart",
            visibility="public",
            starts_at=_oslo_in(7 * 24 * 60),
            room="Kantina",
        ),
        _talk(settings, other, title="Intern plan", starts_at=_oslo_in(3 * 24 * 60)),
        _talk(settings, organiser, title="Utkast", visibility="draft", starts_at=""),
        _ready_talk(settings, organiser, "Klart opptak", "public"),
        _ready_talk(settings, other, "Internt opptak", "internal"),
    ]
    return {"talks": made, "people": people}


def _viewer(people: dict, role: str) -> access.Viewer:
    return access.Viewer(None if role == "guest" else people[role])


def _denied(response, url: str) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    return (
        response.status_code in (302, 303)
        and location.startswith("/logg-inn")
        and not (url.startswith("/logg-inn"))
    )


def _walk(settings, app, client, people, role: str, pages: list[str]) -> list[str]:
    viewer, problems, fetched = _viewer(people, role), [], set()
    for page_url in pages:
        page = client.get(page_url)
        assert page.status_code == 200, f"{page_url} as {role}: {page.status_code}"
        for method, url in _links(page_url, page.text):
            path = urlsplit(url).path
            name, params = route_of(app, method, path)
            if name is None:
                problems.append(f"{role} on {page_url}: {method} {url} leads nowhere")
                continue
            if not access.may(viewer, name, _talk_of(settings, params)):
                problems.append(f"{role} on {page_url}: {method} {url} ({name}) is not for them")
            if method == "GET" and url not in fetched and name != "static":
                fetched.add(url)
                if _denied(client.get(url), url):
                    problems.append(f"{role} on {page_url}: {url} answers 'no access'")
    return problems


def test_pages_offer_only_what_each_role_may_use(settings, client, world):
    people, app = world["people"], client.app
    problems = []
    for role in ROLES:
        client.cookies.clear()
        if role != "guest":
            _as(client, people[role])
        viewer = _viewer(people, role)
        pages = [p for p in MAIN_PAGES if role != "guest" or p != "/mine-moduler"]
        pages += [f"/talks/{t.slug}" for t in world["talks"] if access.can_view(viewer, t)]
        problems += _walk(settings, app, client, people, role, pages)
    assert problems == [], "\n".join(problems)


def test_an_empty_front_page_offers_a_new_talk_only_to_organisers(settings, client, people):
    for role in ROLES:
        client.cookies.clear()
        if role != "guest":
            _as(client, people[role])
        page = client.get("/").text
        assert "Ingen foredrag er satt opp ennå." in page
        offered = "Legg inn et nytt foredrag" in page
        assert offered == (role in ("organiser", "other", "admin")), role
        assert _walk(settings, client.app, client, people, role, ["/"]) == []


def test_what_each_role_is_offered_on_a_talk_it_may_edit_or_not(settings, client, world):
    people = world["people"]
    ready = next(t for t in world["talks"] if t.title == "Klart opptak")
    url = f"/talks/{ready.slug}"
    expected = {"guest": False, "viewer": False, "other": False, "organiser": True, "admin": True}
    for role, editor in expected.items():
        client.cookies.clear()
        if role != "guest":
            _as(client, people[role])
        page = client.get(url).text
        for link in ("/rediger", "/transkripsjon", "/quiz/rediger"):
            assert (f'href="{url}{link}"' in page) == editor, (role, link)
        assert ('href="/talks/ny"' in page) == (role in ("organiser", "other", "admin")), role
        assert ('href="/rapporter"' in page) == (role == "admin"), role


# --- 2. The per-talk results page is linked ---------------------------------------------


def test_the_results_page_is_linked_for_those_who_may_see_it(settings, client, world):
    people = world["people"]
    ready = next(t for t in world["talks"] if t.title == "Klart opptak")
    results = f"/talks/{ready.slug}/resultater"
    link = f'href="{results}"'
    for role in ("viewer", "other"):
        _as(client, people[role])
        assert link not in client.get(f"/talks/{ready.slug}").text, role
    for role in ("organiser", "admin"):
        _as(client, people[role])
        assert link in client.get(f"/talks/{ready.slug}").text, role
        assert link in client.get(f"/talks/{ready.slug}/quiz/rediger").text, role
        assert client.get(results).status_code == 200
    assert link in client.get("/rapporter").text  # the admin's reports


# --- 4. Every time in Europe/Oslo ----------------------------------------------------------

SEASONS = [  # stored UTC, then how pages write it in Oslo (CET in winter, CEST in summer)
    ("2026-01-15T04:12:00+00:00", "15. januar 2026 kl. 05.12", "15. januar 2026", "kl. 04.12"),
    ("2026-06-30T22:30:00+00:00", "1. juli 2026 kl. 00.30", "1. juli 2026", "30. juni"),
]


def _stamp_everything(settings, talk: dict, people: dict, at: str) -> None:
    """A live question, an audit entry, a transcript version, attendance, completion and a
    passed quiz, all stored at `at` (UTC)."""
    viewer, organiser = people["viewer"], people["organiser"]
    with database.session(settings) as db, database.write(db):
        db.execute(
            "INSERT INTO live_questions (talk_id, user_id, text, created_at) VALUES (?, ?, ?, ?)",
            [talk.id, viewer.id, "Når er fristen?", at],
        )
        db.execute(
            "INSERT INTO audit_log (at, user_id, actor, action, target) VALUES (?, ?, ?, ?, ?)",
            [at, organiser.id, organiser.email, "endret foredrag", talk.title],
        )
        db.execute(
            "INSERT INTO transcript_versions (talk_id, version, status, author, model, "
            "created_at) VALUES (?, 1, 'current', 'Whisper', 'base', ?)",
            [talk.id, at],
        )
        db.execute(
            "INSERT INTO attendance (user_id, talk_id, how, registered_by, at) "
            "VALUES (?, ?, 'room', ?, ?)",
            [viewer.id, talk.id, organiser.id, at],
        )
        db.execute(
            "INSERT INTO attempts (talk_id, user_id, started_at, submitted_at, score, passed) "
            "VALUES (?, ?, ?, ?, 1.0, 1)",
            [talk.id, viewer.id, at, at],
        )
        db.execute(
            "INSERT INTO completions (user_id, talk_id, completed_at) VALUES (?, ?, ?)",
            [viewer.id, talk.id, at],
        )


@pytest.mark.parametrize(("stored", "oslo", "oslo_date", "utc_text"), SEASONS)
def test_stored_utc_times_show_in_oslo_time_on_every_page(
    settings, client, people, stored, oslo, oslo_date, utc_text
):
    talk = _ready_talk(settings, people["organiser"], "Klart opptak", "internal")
    _stamp_everything(settings, talk, people, stored)
    slug = talk.slug
    with database.session(settings) as db:
        code = programme.ensure_code(db, talk)
    full = {  # page: who looks
        f"/talks/{slug}/direkte": "organiser",
        "/admin/logg": "admin",
        f"/talks/{slug}/transkripsjon/versjoner": "organiser",
        f"/talks/{slug}/oppmote": "organiser",
        f"/talks/{slug}": "viewer",
        f"/talks/{slug}/innsjekk/{code}": "viewer",
    }
    for url, role in full.items():
        _as(client, people[role])
        page = client.get(url)
        assert page.status_code == 200, url
        assert oslo in page.text, f"{url} shows the time in Oslo"
        assert utc_text not in page.text, f"{url} shows UTC"
    _as(client, people["organiser"])
    listed = client.get(f"/talks/{slug}/sporsmal.json").json()["questions"]
    assert listed[0]["when"] == oslo, "the organiser's page refreshes questions in Oslo time"
    _as(client, people["viewer"])
    modules = client.get("/mine-moduler").text
    assert f"Fullført {oslo_date}" in modules and f"Deltok {oslo_date}" in modules
    assert f"Bestått {oslo_date}" in client.get(f"/talks/{slug}").text
    _as(client, people["admin"])
    reports = client.get("/rapporter").text
    departments = {u for _m, u in _links("/rapporter", reports) if "/rapporter/avdeling/" in u}
    pages = [client.get(url).text for url in departments]
    assert any(f"Fullført {oslo_date}" in page for page in pages), "the department report"


# --- 5. Rooms and calendars -------------------------------------------------------------


def test_the_talk_page_shows_the_room(settings, client, people):
    with_room = _talk(settings, people["organiser"], title="I salen", room="Kantina, 2. etg.")
    without = _talk(settings, people["organiser"], title="Uten rom")
    _as(client, people["viewer"])
    assert "Rom: Kantina, 2. etg." in client.get(f"/talks/{with_room.slug}").text
    assert "Rom:" not in client.get(f"/talks/{without.slug}").text


def test_the_programme_offers_calendar_subscriptions_to_copy(settings, client, people):
    _talk(settings, people["organiser"], title="Åpent", visibility="public",
          department="Kultur og idrett", starts_at=_oslo_in(24 * 60))  # fmt: skip
    page = client.get("/program").text
    assert 'href="webcal://testserver/program.ics"' in page
    assert 'value="http://testserver/program.ics"' in page
    department = "/program/Kultur%20og%20idrett.ics"
    assert f'href="webcal://testserver{department}"' in page
    assert f'value="http://testserver{department}"' in page
    assert page.count('data-copy="feed-') == 2 and "/static/js/copy.js" in page
    for path in ("/program.ics", department):
        feed = client.get(path)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        assert "Åpent" in feed.text


def test_the_talk_form_says_internal_talks_stay_out_of_the_public_calendar(
    settings, client, people
):
    talk = _talk(settings, people["organiser"], title="Internt")
    _as(client, people["organiser"])
    for url in ("/talks/ny", f"/talks/{talk.slug}/rediger"):
        page = client.get(url).text
        assert "Bare foredrag som er åpne for alle, kommer med i kalenderen" in page, url


# --- 6. Destructive actions ask first and say what happened ------------------------------

FORM = {
    "title": "Barnevern for alle", "speaker": "", "department": "", "starts_at": "2030-12-03T11:30",
    "description": "", "language": "nb", "visibility": "internal", "room": "", "capacity": "",
}  # fmt: skip


def _audit_details(settings, action: str) -> list[str]:
    with database.session(settings) as db:
        rows = db.execute("SELECT detail FROM audit_log WHERE action = ? ORDER BY id", [action])
        return [row[0] for row in rows]


def test_every_page_loads_the_confirmation_module(settings, client, people):
    page = client.get("/").text
    assert '<script src="http://testserver/static/js/confirm.js" defer></script>' in page
    assert client.get("/static/js/confirm.js").status_code == 200


def test_deleting_a_talk_asks_first_then_says_it_is_deleted(settings, client, people):
    talk = _talk(settings, people["organiser"], title="Gammelt «tema»", starts_at="")
    _as(client, people["organiser"])
    edit = client.get(f"/talks/{talk.slug}/rediger").text
    assert 'data-confirm-field="bekreftet"' in edit
    assert 'data-confirm="Slette «Gammelt «tema»» for godt?' in edit.replace("&#34;", '"')
    asked = post(client, f"/talks/{talk.slug}/slett")  # without the page's script
    assert asked.status_code == 200 and "Slette «Gammelt «tema»»?" in asked.text
    assert 'name="bekreftet" value="1"' in asked.text
    assert client.get(f"/talks/{talk.slug}").status_code == 200, "nothing deleted yet"
    done = post(client, f"/talks/{talk.slug}/slett", {"bekreftet": "1"})
    assert done.status_code == 303 and done.headers["location"] == "/"
    front = client.get("/").text
    assert "Foredraget «Gammelt «tema»» er slettet." in front
    assert "er slettet" not in client.get("/").text, "said once"
    assert client.get(f"/talks/{talk.slug}").status_code == 404


def test_saving_a_talk_says_so_and_the_audit_lists_exactly_what_changed(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at=FORM["starts_at"])
    url = f"/talks/{talk.slug}/rediger"
    _as(client, people["organiser"])
    saved = post(client, url, {**FORM, "starts_at": "2030-12-04T12:00"})
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "Endringene er lagret." in page
    assert "kommer ikke med i kalenderen alle kan abonnere på" in page  # internal
    post(client, url, {**FORM, "starts_at": "2030-12-04T12:00"})
    post(client, url, {**FORM, "starts_at": "2030-12-04T12:00", "room": "Kantina",
                       "visibility": "public", "description": "Nytt innhold"})  # fmt: skip
    page = client.get(f"/talks/{talk.slug}").text
    assert "Endringene er lagret." in page and "kommer ikke med i kalenderen" not in page
    assert _audit_details(settings, "endret foredrag") == [
        "tidspunkt 2030-12-03T11:30→2030-12-04T12:00",
        "ingen endringer",
        "rom –→Kantina; synlighet internal→public; beskrivelse endret",
    ]
    _as(client, people["admin"])
    log = client.get("/admin/logg").text
    assert "tidspunkt 2030-12-03T11:30→2030-12-04T12:00" in log
    assert "synlighet internal→internal" not in log


def test_a_new_internal_talk_is_said_to_stay_out_of_the_public_calendar(settings, client, people):
    _as(client, people["organiser"])
    created = post(client, "/talks", {**FORM, "title": "Nytt internt"})
    assert created.status_code == 303
    page = client.get(created.headers["location"].split("#")[0]).text
    assert "Foredraget er lagret." in page
    assert "kommer ikke med i kalenderen alle kan abonnere på" in page


def test_deleting_a_quiz_question_asks_first_and_says_so(settings, client, people):
    talk = _ready_talk(settings, people["organiser"], "Klart opptak", "internal")
    _as(client, people["organiser"])
    editor = client.get(f"/talks/{talk.slug}/quiz/rediger").text
    assert 'data-confirm="Slette spørsmålet «Var det hei?»?"' in editor
    with database.session(settings) as db:
        question = quizzes.questions(db, talk.id)[0]
    response = post(client, f"/talks/{talk.slug}/quiz/sporsmal/{question.id}/slett")
    assert response.status_code == 303
    page = client.get(response.headers["location"].split("#")[0]).text
    assert "Spørsmålet «Var det hei?» er slettet." in page


def test_ending_a_broadcast_asks_first_and_the_talk_page_says_it_ended(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at=_oslo_in(0))
    _as(client, people["organiser"])
    live = client.get(f"/talks/{talk.slug}/direkte").text
    messages = json.loads(re.search(r'id="live-messages">(.*?)</script>', live, re.S).group(1))
    assert messages["confirm_end"].startswith("Avslutte sendingen nå?")
    page = client.get(f"/talks/{talk.slug}?melding=sending-avsluttet").text
    assert "Sendingen er avsluttet. Opptaket blir behandlet" in page
    assert "Sendingen er avsluttet. Opptaket" not in client.get(f"/talks/{talk.slug}").text
    for forged in ("?melding=talk_deleted", "?melding=%3Cb%3E"):
        assert 'class="notice flash"' not in client.get(f"/talks/{talk.slug}{forged}").text
