"""Programme, iCalendar feeds, sign-up with room capacity, attendance and QR check-in."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import icalendar
import pytest
from starlette.testclient import TestClient

from server.catalogue import ics, programme, talks
from server.catalogue.records import Talk
from server.core.clock import now_oslo
from server.people import accounts
from server.store import db as database
from server.web.app import create_app
from tests.webclient import login, make_user, post

WINTER = "2030-12-03T11:30"  # CET: 10:30 UTC
SUMMER = "2030-06-05T11:30"  # CEST: 09:30 UTC


@pytest.fixture
def people(settings):
    return {
        "organiser": make_user(settings, "organiser"),
        "other": make_user(settings, "organiser", email="annen@kommune.no"),
        "viewer": make_user(settings, "viewer", name="Vera Viewer"),
        "admin": make_user(settings, "admin"),
    }


def _talk(settings, owner, **fields) -> dict:
    data = {"title": "Barnevern for alle", "visibility": "internal", "starts_at": WINTER, **fields}
    with database.session(settings) as db:
        return talks.create(db, talks.TalkInput(**data), owner)


def _as(client, email: str) -> None:
    client.cookies.clear()
    assert login(client, email).status_code == 303


def _staff(settings, count: int) -> list[accounts.User]:
    return [make_user(settings, "viewer", email=f"ansatt{n}@kommune.no") for n in range(count)]


# --- iCalendar ------------------------------------------------------------------------


def _feed(client, url: str = "/program.ics") -> icalendar.Calendar:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert b"\r\n" in response.content  # RFC 5545 line endings
    return icalendar.Calendar.from_ical(response.content)


def _events(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}


def test_feed_is_valid_icalendar_in_oslo_time_with_public_talks_only(settings, client, people):
    owner = people["organiser"]
    winter = _talk(
        settings, owner, title="Vinter", visibility="public", room="Bystyresalen",
        speaker="Kari Nordmann", department="Helse", description="Om helse.",
    )  # fmt: skip
    _talk(settings, owner, title="Sommer", visibility="public", starts_at=SUMMER)
    _talk(settings, owner, title="Hemmelig internt", visibility="internal")
    _talk(settings, owner, title="Hemmelig utkast", visibility="draft")
    _talk(settings, owner, title="Uten dato", visibility="public", starts_at="")
    _as(client, "admin@kommune.no")  # even an admin's feed is the public one
    calendar = _feed(client)

    assert calendar["METHOD"] == "PUBLISH"
    assert calendar["PRODID"] and calendar["VERSION"] == "2.0"
    assert calendar["X-WR-CALNAME"] == "Kunnskap til lunsj"
    zones = calendar.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Oslo"]
    assert {c.name for c in zones[0].subcomponents} == {"STANDARD", "DAYLIGHT"}

    events = _events(calendar)
    assert set(events) == {"Vinter", "Sommer"}
    assert b"Hemmelig" not in client.get("/program.ics").content
    event = events["Vinter"]
    assert str(event["UID"]) == f"talk-{winter.id}@kunnskap-til-lunsj"
    start, end = event["DTSTART"], event["DTEND"]
    assert start.params["TZID"] == "Europe/Oslo"
    assert start.dt.strftime("%Y-%m-%dT%H:%M") == WINTER
    assert start.dt.astimezone(UTC) == datetime(2030, 12, 3, 10, 30, tzinfo=UTC)
    assert end.dt - start.dt == timedelta(minutes=30)
    assert events["Sommer"]["DTSTART"].dt.astimezone(UTC).hour == 9  # summer time
    assert event["LOCATION"] == "Bystyresalen"
    description = str(event["DESCRIPTION"])
    assert "Kari Nordmann" in description and "Helse" in description and "Om helse." in description
    assert str(event["URL"]) == f"http://testserver/talks/{winter.slug}"
    assert str(event["URL"]) in description
    assert event["DTSTAMP"].dt.tzinfo is not None

    # UIDs are stable: the same after a rename, and on another fetch
    with database.session(settings) as db:
        data = talks.TalkInput(title="Vinter, nytt navn", visibility="public", starts_at=WINTER)
        talks.update(db, winter, data, people["organiser"])
    renamed = _events(_feed(client))["Vinter, nytt navn"]
    assert renamed["UID"] == event["UID"]


def test_winter_talk_at_half_past_eleven_is_half_past_ten_utc():
    talk = Talk(id=7, slug="s", title="T", starts_at="2026-12-03T11:30",
                updated_at="2026-11-01T09:00:00+00:00")  # fmt: skip
    body = ics.calendar([talk], "https://kunnskap.kommune.no/", "K", datetime.now(UTC))
    assert b"DTSTART;TZID=Europe/Oslo:20261203T113000" in body
    event = icalendar.Calendar.from_ical(body).walk("VEVENT")[0]
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    assert str(event["URL"]) == "https://kunnskap.kommune.no/talks/s"


def test_public_url_setting_is_used_for_links(settings, people):
    _talk(settings, people["organiser"], visibility="public")
    app = create_app(settings.replace(public_url="https://kunnskap.kommune.no/"))
    with TestClient(app) as client:
        event = next(iter(_events(_feed(client)).values()))
    assert str(event["URL"]).startswith("https://kunnskap.kommune.no/talks/")


def test_department_feed_has_only_that_department(settings, client, people):
    owner = people["organiser"]
    department = "Helse og omsorg æøå"
    _talk(settings, owner, title="Omsorg", visibility="public", department=department)
    _talk(settings, owner, title="Kultur", visibility="public", department="Kultur")
    _talk(settings, owner, title="Internt", visibility="internal", department=department)
    calendar = _feed(client, f"/program/{quote(department)}.ics")
    assert set(_events(calendar)) == {"Omsorg"}
    assert str(calendar["X-WR-CALNAME"]) == f"Kunnskap til lunsj – {department}"
    assert set(_events(_feed(client, "/program/Kultur.ics"))) == {"Kultur"}
    assert _events(_feed(client, "/program/Finnes%20ikke.ics")) == {}  # valid, empty


# --- the programme page ------------------------------------------------------------------


def test_programme_groups_coming_talks_by_month_for_the_viewer(settings, client, people):
    owner = people["organiser"]
    _talk(settings, owner, title="Desember-foredrag", visibility="public", room="Rom 101",
          speaker="Ola", department="Teknisk", description="Om vei og vann.")  # fmt: skip
    _talk(settings, owner, title="Juni-foredrag", visibility="public", starts_at=SUMMER,
          department="Kultur og idrett")  # fmt: skip
    _talk(settings, owner, title="Internt foredrag", visibility="internal")
    _talk(settings, owner, title="Gammelt foredrag", visibility="public",
          starts_at="2020-01-01T11:30")  # fmt: skip
    page = client.get("/program").text
    assert "Juni 2030" in page and "Desember 2030" in page
    assert page.index("Juni-foredrag") < page.index("Desember-foredrag")
    assert all(word in page for word in ("Rom 101", "Ola", "Teknisk", "Om vei og vann."))
    assert "11.30" in page
    assert "Internt foredrag" not in page and "Gammelt foredrag" not in page
    assert 'href="/program.ics"' in page
    assert 'href="webcal://testserver/program/Kultur%20og%20idrett.ics"' in page
    assert 'href="/arkiv?year=2020"' in page
    assert 'href="/arkiv?department=Kultur%20og%20idrett"' in page
    _as(client, people["viewer"].email)
    assert "Internt foredrag" in client.get("/program").text
    assert 'href="/program"' in client.get("/").text


# --- sign-up -------------------------------------------------------------------------------


def _signup(client, talk: dict, mode: str = "", action: str = ""):
    data = {"mode": mode, "action": action} if action else {"mode": mode}
    return post(client, f"/talks/{talk.slug}/pamelding", data)


def _mode(settings, user, talk) -> str | None:
    with database.session(settings) as db:
        return programme.mode_of(db, user.id, talk.id)


def test_sign_up_change_and_withdraw(settings, client, people):
    talk = _talk(settings, people["organiser"])
    viewer = people["viewer"]
    _as(client, viewer.email)
    page = client.get(f"/talks/{talk.slug}").text
    assert "Hvordan vil du følge foredraget?" in page
    for mode in ("room", "live", "later"):
        response = _signup(client, talk, mode)
        assert response.status_code == 303
        assert response.headers["location"] == f"/talks/{talk.slug}#pamelding"
        assert _mode(settings, viewer, talk) == mode
    page = client.get(f"/talks/{talk.slug}").text
    assert "Du er påmeldt: Ser opptaket senere." in page
    assert _signup(client, talk, action="withdraw").status_code == 303
    assert _mode(settings, viewer, talk) is None
    response = _signup(client, talk, "kanskje")
    assert response.status_code == 422 and "Velg i salen" in response.text


def test_guest_is_sent_to_login(settings, client, people):
    talk = _talk(settings, people["organiser"], visibility="public")
    page = client.get(f"/talks/{talk.slug}").text
    assert "/logg-inn?neste=" in page and "Vil du melde deg på?" in page
    response = post(client, f"/talks/{talk.slug}/pamelding", {"mode": "room"})
    assert response.status_code == 401 and "Du må logge inn" in response.text
    response = client.get(f"/talks/{talk.slug}/innsjekk/x", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/logg-inn?neste=")


def test_signup_closed_after_the_talk(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at="2020-01-01T11:30")
    _as(client, people["viewer"].email)
    assert "Påmelding" not in client.get(f"/talks/{talk.slug}").text
    response = _signup(client, talk, "room")
    assert response.status_code == 409 and "Påmeldingen er stengt" in response.text


def test_full_room_is_shown_before_signing_up_and_refused(settings, client, people):
    talk = _talk(settings, people["organiser"], capacity="2", room="Kantina")
    first, second, third = _staff(settings, 3)
    for person in (first, second):
        _as(client, person.email)
        assert _signup(client, talk, "room").status_code == 303
    _as(client, first.email)  # someone with a seat still sees "I salen" chosen, not blocked
    page = client.get(f"/talks/{talk.slug}").text
    assert "Salen er full" not in page
    assert _signup(client, talk, "room").status_code == 303  # choosing it again is fine

    _as(client, third.email)
    page = client.get(f"/talks/{talk.slug}").text
    assert "Salen er full." in page
    room_button = re.search(r'<button[^>]*value="room"[^>]*>', page).group(0)
    assert "disabled" in room_button
    response = _signup(client, talk, "room")
    assert response.status_code == 409
    assert "Salen er full" in response.text
    assert _mode(settings, third, talk) is None
    assert _signup(client, talk, "live").status_code == 303
    assert _mode(settings, third, talk) == "live"
    assert _signup(client, talk, "room").status_code == 409  # change refused, choice kept
    assert _mode(settings, third, talk) == "live"

    _as(client, second.email)  # a seat is freed
    _signup(client, talk, action="withdraw")
    _as(client, third.email)
    assert "Salen er full." not in client.get(f"/talks/{talk.slug}").text
    assert _signup(client, talk, "room").status_code == 303


def test_last_seat_race_gives_exactly_capacity_seats(settings, people):
    talk = _talk(settings, people["organiser"], capacity="3")
    staff = _staff(settings, 12)
    outcomes: list[str] = []
    barrier = threading.Barrier(len(staff))

    def attempt(user):
        with database.session(settings) as db:
            barrier.wait()
            try:
                programme.sign_up(db, user, talk, "room", "2000-01-01T00:00")
                outcomes.append("ok")
            except programme.SignupError as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(u,)) for u in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 3
    assert outcomes.count(programme.ROOM_FULL) == 9
    with database.session(settings) as db:
        assert programme.counts(db, talk.id).room == 3


def test_organiser_sees_head_counts_and_capacity(settings, client, people):
    talk = _talk(settings, people["organiser"], capacity="40")
    staff = _staff(settings, 4)
    for person, mode in zip(staff, ("room", "room", "live", "later"), strict=True):
        _as(client, person.email)
        _signup(client, talk, mode)
    assert "Påmeldte (for lunsjbestillingen)" not in client.get(f"/talks/{talk.slug}").text
    _as(client, people["organiser"].email)
    page = client.get(f"/talks/{talk.slug}").text
    assert "Påmeldte (for lunsjbestillingen)" in page
    assert re.search(r"I salen: <strong>2</strong> av 40 plasser", page)
    assert "Direkte på nett: <strong>1</strong>" in page
    assert "Ser opptaket senere: <strong>1</strong>" in page
    attendance = client.get(f"/talks/{talk.slug}/oppmote").text
    assert "ansatt0@kommune.no" in attendance and "Ledige plasser i salen: 38." in attendance


def test_capacity_is_validated_on_the_talk_form(settings, client, people):
    _as(client, people["organiser"].email)
    form = {"title": "Plasser", "language": "nb", "visibility": "internal"}
    for bad in ("0", "-3", "tjue", "2.5"):
        response = post(client, "/talks", {**form, "capacity": bad})
        assert response.status_code == 422 and "helt tall over 0" in response.text
    response = post(client, "/talks", {**form, "capacity": "25", "room": "Store sal"})
    assert response.status_code == 303
    with database.session(settings) as db:
        saved = talks.find(db, "plasser")
    assert (saved.capacity, saved.room) == (25, "Store sal")
    edit = client.get("/talks/plasser/rediger").text
    assert 'value="25"' in edit and 'value="Store sal"' in edit
    response = post(client, "/talks/plasser/rediger", {**form, "capacity": "", "room": ""})
    assert response.status_code == 303
    with database.session(settings) as db:
        assert talks.find(db, "plasser").capacity is None


# --- attendance ---------------------------------------------------------------------------


def test_organiser_registers_attendance_and_it_is_audited(settings, client, people):
    talk = _talk(settings, people["organiser"])
    signed, walk_in = _staff(settings, 2)
    _as(client, signed.email)
    _signup(client, talk, "room")
    _as(client, people["organiser"].email)
    page = client.get(f"/talks/{talk.slug}/oppmote").text
    assert signed.email in page and "QR-kode" in page
    url = f"/talks/{talk.slug}/oppmote"
    response = post(client, url, {"action": "register", "user_id": str(signed.id)})
    assert response.status_code == 303
    response = post(client, url, {"action": "register", "email": walk_in.email, "how": "live"})
    assert response.status_code == 303
    response = post(client, url, {"action": "register", "email": "ukjent@kommune.no"})
    assert response.status_code == 422 and "Fant ingen aktiv bruker" in response.text
    with database.session(settings) as db:
        assert programme.attended(db, signed.id, talk.id)
        assert programme.attended(db, walk_in.id, talk.id)
        rows = db.execute("SELECT how, registered_by FROM attendance ORDER BY user_id").fetchall()
        assert [tuple(r) for r in rows] == [
            ("room", people["organiser"].id), ("live", people["organiser"].id)]  # fmt: skip
        actions = [e.action for e in accounts.audit_entries(db)]
        listed = {p.email: (p.mode, p.how, bool(p.at)) for p in programme.people(db, talk.id)}
        present, signed_up = programme.attendance_counts(db, talk.id), programme.counts(db, talk.id)
    assert actions.count("registrerte oppmøte") == 2
    assert listed == {signed.email: ("room", "room", True), walk_in.email: (None, "live", True)}
    assert (present.room, present.live, present.total) == (1, 1, 2)
    assert (signed_up.room, signed_up.later, signed_up.total) == (1, 0, 1)
    page = client.get(url).text
    assert "Til sammen" in page and walk_in.email in page

    response = post(client, url, {"remove": str(walk_in.id)})
    assert response.status_code == 303
    with database.session(settings) as db:
        assert programme.attended(db, walk_in.id, talk.id) is None
        assert "fjernet oppmøte" in [e.action for e in accounts.audit_entries(db)]


def test_qr_check_in(settings, client, people):
    talk = _talk(settings, people["organiser"], starts_at=now_oslo())  # check-in is open
    viewer = people["viewer"]
    _as(client, people["organiser"].email)
    client.get(f"/talks/{talk.slug}/oppmote")
    qr = client.get(f"/talks/{talk.slug}/oppmote/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.startswith("<svg") and "<path" in qr.text
    with database.session(settings) as db:
        code = talks.get(db, talk.id).attendance_code
    assert code and len(code) >= 16
    assert f"/talks/{talk.slug}/innsjekk/{code}" in client.get(f"/talks/{talk.slug}/oppmote").text

    _as(client, viewer.email)
    url = f"/talks/{talk.slug}/innsjekk/{code}"
    page = client.get(url)
    assert page.status_code == 200 and "Bekreft at jeg er i salen" in page.text
    with database.session(settings) as db:
        assert programme.attended(db, viewer.id, talk.id) is None  # GET changes nothing
    response = post(client, url)
    assert response.status_code == 303 and response.headers["location"] == url
    assert "Du er registrert som til stede" in client.get(url).text
    with database.session(settings) as db:
        at = programme.attended(db, viewer.id, talk.id)
        row = db.execute("SELECT how, registered_by FROM attendance").fetchone()
    assert at and datetime.fromisoformat(at).tzinfo is not None
    assert tuple(row) == ("room", viewer.id)
    assert "Du er registrert som til stede" in client.get(f"/talks/{talk.slug}").text

    wrong = f"/talks/{talk.slug}/innsjekk/feil-kode"
    for response in (client.get(wrong), post(client, wrong)):
        assert response.status_code == 404
        assert "Innsjekkingskoden stemmer ikke" in response.text


def test_new_code_makes_the_old_one_stop_working(settings, client, people):
    talk = _talk(settings, people["organiser"])
    _as(client, people["organiser"].email)
    client.get(f"/talks/{talk.slug}/oppmote")
    with database.session(settings) as db:
        old = talks.get(db, talk.id).attendance_code
    post(client, f"/talks/{talk.slug}/oppmote", {"action": "new_code"})
    with database.session(settings) as db:
        new = talks.get(db, talk.id).attendance_code
    assert new != old
    assert client.get(f"/talks/{talk.slug}/innsjekk/{old}").status_code == 404
    assert client.get(f"/talks/{talk.slug}/innsjekk/{new}").status_code == 200


def test_viewer_cannot_open_the_attendance_page(settings, client, people):
    talk = _talk(settings, people["organiser"])
    for who in (people["viewer"], people["other"]):
        _as(client, who.email)
        for path in ("oppmote", "oppmote/qr.svg"):
            assert client.get(f"/talks/{talk.slug}/{path}").status_code == 403
        response = post(client, f"/talks/{talk.slug}/oppmote", {"email": who.email})
        assert response.status_code == 403
    _as(client, people["admin"].email)
    assert client.get(f"/talks/{talk.slug}/oppmote").status_code == 200


def test_attended_returns_the_time(settings, people):
    talk = _talk(settings, people["organiser"])
    viewer = people["viewer"]
    with database.session(settings) as db:
        assert programme.attended(db, viewer.id, talk.id) is None
        at = programme.register(db, viewer.id, talk, "live", people["organiser"])
        assert programme.attended(db, viewer.id, talk.id) == at
        again = programme.register(db, viewer.id, talk, "room", people["organiser"])
        assert again == at  # the first registration's time is kept
        with pytest.raises(programme.SignupError):
            programme.register(db, viewer.id, talk, "later", people["organiser"])


def test_attendance_refreshes_completion_when_progress_offers_it(settings, people, monkeypatch):
    from server.learning import progress

    calls = []
    monkeypatch.setattr(
        progress, "refresh_completion", lambda db, u, t: calls.append((u, t)), raising=False
    )
    talk = _talk(settings, people["organiser"])
    viewer = people["viewer"]
    with database.session(settings) as db:
        code = programme.ensure_code(db, talk)
        programme.check_in(db, viewer, talks.get(db, talk.id), code, "2030-12-03T11:40", 30)
        programme.register(db, people["admin"].id, talk, "live", people["organiser"])
    assert calls == [(viewer.id, talk.id), (people["admin"].id, talk.id)]
