"""Lists shared by viewers with the same access rule (server.web.listcache): the archive, the
programme and the front page show a change committed by any connection on the next request,
a guest never gets a list made for staff, and KTL_LIST_CACHE_SECONDS=0 turns it off."""

from __future__ import annotations

from starlette.requests import Request

from server.catalogue import search
from server.core import i18n
from server.core.clock import now_oslo
from server.core.config import load_settings
from server.people.access import Viewer, Visibility
from server.store import write
from server.transcript.model import Segment
from server.web.app import create_app
from server.web.listcache import rule_key, shared
from tests import factories

PAGES = ("/arkiv", "/program", "/")


def _talk(db, title: str, starts_at: str, status: str, **overrides: str) -> int:
    talk = factories.talk(db, title=title, **overrides)
    with write(db):
        db.execute(
            "UPDATE talks SET starts_at = ?, status = ? WHERE id = ?", [starts_at, status, talk.id]
        )
    return talk.id


def _ready(db, title: str, **overrides: str) -> int:
    return _talk(db, title, "2025-03-01T11:30", "ready", **overrides)


def _coming(db, title: str, **overrides: str) -> int:
    return _talk(db, title, f"{int(now_oslo()[:4]) + 1}-05-04T11:30", "planned", **overrides)


def test_a_change_from_another_connection_shows_on_the_next_request(client, db):
    ready, coming = _ready(db, "Vann og avløp"), _coming(db, "Ny skolestruktur")
    pages = {path: client.get(path).text for path in PAGES}
    assert "Vann og avløp" in pages["/arkiv"] and "Vann og avløp" in pages["/"]
    assert "Ny skolestruktur" in pages["/program"] and "Ny skolestruktur" in pages["/"]
    with write(db):  # committed by the test's own connection, not the app's store
        db.execute("UPDATE talks SET title = 'Vannverket' WHERE id = ?", [ready])
        db.execute("UPDATE talks SET title = 'Skolebruksplan' WHERE id = ?", [coming])
    pages = {path: client.get(path).text for path in PAGES}
    assert "Vannverket" in pages["/arkiv"] and "Vann og avløp" not in pages["/arkiv"]
    assert "Skolebruksplan" in pages["/program"] and "Ny skolestruktur" not in pages["/program"]
    assert "Vannverket" in pages["/"] and "Skolebruksplan" in pages["/"]


def test_a_guest_never_gets_the_list_made_for_staff(client, signed_in, db):
    _ready(db, "Åpent foredrag")
    _ready(db, "Internt foredrag", visibility="internal", department="Helse")
    _coming(db, "Internt om budsjett", visibility="internal", department="Helse")
    staff = signed_in("viewer")
    for path in PAGES:
        assert "Internt" in staff.get(path).text and "Helse" in staff.get(path).text
        page = client.get(path).text
        assert "Internt" not in page and "Helse" not in page
        assert "Internt" in staff.get(path).text  # and staff still get theirs


def _answers(settings, seconds: float, rule) -> list[int]:
    app = create_app(settings.replace(list_cache_seconds=seconds))
    request, made = Request({"type": "http", "app": app}), []

    def make() -> int:
        made.append(1)
        return len(made)

    answers = [shared(request, ("archive", rule_key(rule)), make) for _ in range(2)]
    answers.append(shared(request, ("archive", rule_key(rule), 2), make))
    app.state.store.close()
    return answers


def test_the_same_rule_shares_one_list_and_zero_seconds_turns_it_off(settings):
    guest, another_guest = (Visibility(Viewer(None)).visible_sql() for _ in range(2))
    assert rule_key(guest) == rule_key(another_guest)
    assert _answers(settings, 2.0, guest) == [1, 1, 2]
    assert _answers(settings, 0.0, guest) == [1, 2, 3]


def test_the_setting_is_read_from_the_environment():
    assert load_settings(env={"KTL_LIST_CACHE_SECONDS": "0"}).list_cache_seconds == 0.0
    assert load_settings(env={}).list_cache_seconds == 2.0


def test_the_shared_cards_and_months_are_in_each_viewers_language(client, signed_in, db):
    _ready(db, "Vann og avløp")
    _coming(db, "Ny skolestruktur")
    year = int(now_oslo()[:4]) + 1
    staff = signed_in("viewer")
    assert "1. mars 2025" in client.get("/arkiv").text
    assert f"Mai {year}" in client.get("/program").text
    for person in (staff, client):  # the same lists, another language
        person.cookies.set(i18n.COOKIE, "en")
        archive, programme = person.get("/arkiv").text, person.get("/program").text
        assert "1 March 2025" in archive and "1. mars" not in archive
        assert f"May {year}" in programme and "Time" in programme and "Tid<" not in programme
    client.cookies.set(i18n.COOKIE, "nb")
    assert "1. mars 2025" in client.get("/arkiv").text


def test_a_shared_search_answer_shows_its_hits_in_each_viewers_language(client, signed_in, db):
    talk_id = _ready(db, "Lesestund")
    search.index_talk(db, talk_id, [Segment(0, 5, "I dag om bibliotekvakt i kommunen.")], "nb")
    staff = signed_in("viewer")
    for person in (client, staff):
        assert "Kopier lenke" in person.get("/sok", params={"q": "bibliotekvakt"}).text
        person.cookies.set(i18n.COOKIE, "en")
        english = person.get("/sok", params={"q": "bibliotekvakt"}).text
        assert "Copy link" in english and "Kopier lenke" not in english
        assert "Lesestund" in english and "bibliotekvakt" in english
    with write(db):  # a new title from another connection: a new answer, new hits
        db.execute("UPDATE talks SET title = 'Leseglede' WHERE id = ?", [talk_id])
    assert "Leseglede" in client.get("/sok", params={"q": "bibliotekvakt"}).text
