"""What staff, organisers and admins run into on their journeys, through the app as built
(create_app with the real middleware, guard and CSRF; real SQLite in tmp_path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from server import db as database
from server import programme, talks
from server.app import create_app
from server.config import load_settings
from server.web import OSLO
from tests.webclient import PASSWORD, login, make_user, post


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


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
    with database.session(settings.db_path) as db:
        return talks.create(db, talks.TalkInput(**data), owner)


def _oslo_in(minutes: float) -> str:
    """A talk start `minutes` from now, as the talk form takes it (Oslo time)."""
    moment = datetime.now(UTC).astimezone(OSLO) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M")


# --- 1. QR check-in counts only around the talk ----------------------------------------


def _checkin_url(settings, talk: dict) -> str:
    with database.session(settings.db_path) as db:
        code = programme.ensure_code(db, talk)
    return f"/talks/{talk['slug']}/innsjekk/{code}"


def _attended(settings, user, talk) -> str | None:
    with database.session(settings.db_path) as db:
        return programme.attended(db, user.id, talk["id"])


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
    page = client.get(f"/talks/{talk['slug']}/oppmote").text
    assert "Innsjekkingen med QR-koden teller fra" in page
    response = post(client, f"/talks/{talk['slug']}/oppmote", {"email": people["viewer"].email})
    assert response.status_code == 303 and "registrert=1" in response.headers["location"]
    assert _attended(settings, people["viewer"], talk) is not None


def test_a_signed_out_scan_gets_a_login_page_for_checking_in(settings, client, people):
    talk = _talk(settings, people["organiser"], title="Vann og avløp", starts_at=_oslo_in(0))
    url = _checkin_url(settings, talk)
    scan = client.get(url, headers={"Accept": "text/html"})
    assert scan.status_code == 303 and scan.headers["location"].startswith("/logg-inn?neste=")
    page = client.get(scan.headers["location"]).text
    assert "Logg inn for å sjekke inn" in page and "«Vann og avløp»" in page
    wrong = client.get(f"/logg-inn?neste=/talks/{talk['slug']}/innsjekk/feil-kode").text
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
