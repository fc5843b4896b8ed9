"""Sign-in, sessions, CSRF, rate limits, password links and security headers, over HTTP."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from server.people import accounts
from server.store import db as database
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE
from tests.webclient import PASSWORD, csrf, login, make_user, post


@pytest.fixture
def app(settings):
    return create_app(settings.replace(login_max_attempts=3))


def _signed_in_as(client) -> str | None:
    match = re.search(r'<span class="who">([^<]*)</span>', client.get("/").text)
    return match.group(1) if match else None


def test_login_and_logout(settings, client):
    make_user(settings, "viewer", name="Vera")
    assert _signed_in_as(client) is None
    response = login(client, "viewer@kommune.no")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert _signed_in_as(client) == "Vera"
    token = client.cookies[SESSION_COOKIE]
    assert post(client, "/logg-ut").status_code == 303
    assert _signed_in_as(client) is None
    client.cookies.set(SESSION_COOKIE, token)  # the old cookie is worthless after logout
    assert _signed_in_as(client) is None


def test_secure_cookie_behind_https(settings):
    make_user(settings, "viewer")
    with TestClient(create_app(settings.replace(cookie_secure=True))) as client:
        response = login(client, "viewer@kommune.no")
        assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_is_refused_in_norwegian(settings, client):
    make_user(settings, "viewer")
    response = login(client, "viewer@kommune.no", "feil-passord-her")
    assert response.status_code == 401
    assert "Feil e-postadresse eller passord" in response.text
    assert SESSION_COOKIE not in client.cookies


def _session_set(response) -> str:
    return re.search(rf"{SESSION_COOKIE}=([^;]*)", response.headers["set-cookie"]).group(1)


def test_session_fixation_a_new_session_id_at_login(settings, client):
    make_user(settings, "viewer")
    token = csrf(client)
    form = {"email": "viewer@kommune.no", "password": PASSWORD, "csrf_token": token}
    anon = client.cookies[ANON_COOKIE]
    planted = {"Cookie": f"{ANON_COOKIE}={anon}; {SESSION_COOKIE}=planted-by-an-attacker"}
    first = _session_set(client.post("/logg-inn", data=form, headers=planted))
    assert first not in ("", "planted-by-an-attacker")
    client.cookies.clear()
    form["csrf_token"] = csrf(client)
    assert _session_set(client.post("/logg-inn", data=form)) != first


def test_logout_everywhere_ends_every_session(settings, app):
    make_user(settings, "viewer", name="Vera")
    with TestClient(app) as laptop, TestClient(app) as phone:
        login(laptop, "viewer@kommune.no")
        login(phone, "viewer@kommune.no")
        post(laptop, "/logg-ut", {"alle": "1"})
        assert _signed_in_as(phone) is None


def test_expired_session_is_a_guest(settings, client):
    user = make_user(settings, "viewer")
    with database.session(settings) as db:
        token = accounts.start_session(db, user.id, hours=1)
        with database.write(db):
            db.execute("UPDATE sessions SET expires_at = ?", [time.time() - 1])
    client.cookies.set(SESSION_COOKIE, token)
    assert _signed_in_as(client) is None


def test_rate_limit_after_repeated_failures(settings, client):
    make_user(settings, "viewer")
    for _ in range(3):
        assert login(client, "viewer@kommune.no", "feil-passord-her").status_code == 401
    response = login(client, "viewer@kommune.no", PASSWORD)
    assert response.status_code == 429
    assert "For mange mislykkede forsøk" in response.text
    assert SESSION_COOKIE not in client.cookies


def test_the_sign_in_throttle_is_one_domain_rule(settings, db):
    """accounts.sign_in: a wrong password is 401 and counted for the email and the
    address; at the limit even the right one is 429; a success forgets the email's count
    but not the address's."""
    make_user(settings, "viewer")

    def sign_in(password: str, address: str = "192.0.2.1"):
        return accounts.sign_in(db, "Viewer@Kommune.no ", password, address, 2, 15)

    with pytest.raises(accounts.LoginRefused) as wrong:
        sign_in("feil-passord-her")
    assert (wrong.value.status, wrong.value.message) == (401, accounts.WRONG_LOGIN)
    assert sign_in(PASSWORD).email == "viewer@kommune.no"  # forgets the email's failure
    for _ in range(2):
        with pytest.raises(accounts.LoginRefused):
            sign_in("feil-passord-her", "192.0.2.2")
    with pytest.raises(accounts.LoginRefused) as throttled:
        sign_in(PASSWORD, "192.0.2.3")  # the email is at the limit, from any address
    assert throttled.value.status == 429 and "Vent 15 minutter" in throttled.value.message


def test_wrong_passwords_sent_all_at_once_meet_the_limit(settings):
    """Eight wrong passwords for one email at the same moment, each on its own connection
    (a password guesser does not wait for answers): as many are tried as in a row (the
    limit, 3), the others are refused with 429 without trying the password."""
    import threading

    make_user(settings, "viewer")
    barrier, statuses = threading.Barrier(8), []

    def guess(n: int) -> None:
        with database.session(settings) as db:
            barrier.wait()
            try:
                accounts.sign_in(db, "viewer@kommune.no", f"gjett-{n}-feil", f"192.0.2.{n}", 3, 15)
            except accounts.LoginRefused as exc:
                statuses.append(exc.status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 3 + [429] * 5
    with database.session(settings) as db, pytest.raises(accounts.LoginRefused) as after:
        accounts.sign_in(db, "viewer@kommune.no", PASSWORD, "198.51.100.1", 3, 15)
    assert after.value.status == 429, "the three failures count, the refused ones do not"


def test_a_success_takes_back_its_own_attempt_from_the_address(settings, db):
    """A success leaves the address's count where it was: its own attempt is not a failure."""
    make_user(settings, "viewer")
    for _ in range(5):
        assert accounts.sign_in(db, "viewer@kommune.no", PASSWORD, "192.0.2.9", 2, 15)
    sql = "SELECT COUNT(*) FROM login_attempts"
    assert db.execute(sql).fetchone()[0] == 0


def test_deactivated_user_cannot_sign_in_and_loses_sessions(settings, app):
    user = make_user(settings, "viewer", name="Vera")
    with TestClient(app) as client:
        login(client, "viewer@kommune.no")
        with database.session(settings) as db:
            accounts.update_user(db, user.id, "Vera", "viewer", "", active=False)
        assert _signed_in_as(client) is None
        assert login(client, "viewer@kommune.no").status_code == 401


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {},  # no token at all
        {"data": {"csrf_token": "0" * 64, "title": "x"}},  # a wrong token
        {"headers": {"X-CSRF-Token": "0" * 64}, "data": {"title": "x"}},
        {"json": {"title": "x"}},  # JSON without the header
    ],
)
def test_state_changing_requests_need_the_csrf_token(settings, client, request_kwargs):
    make_user(settings, "organiser")
    login(client, "organiser@kommune.no")
    response = client.post("/talks", **request_kwargs)
    assert response.status_code == 403
    assert "Last siden på nytt" in response.text
    with database.session(settings) as db:
        assert db.execute("SELECT COUNT(*) FROM talks").fetchone()[0] == 0


def test_csrf_token_from_another_session_is_refused(settings, app):
    make_user(settings, "organiser")
    with TestClient(app) as attacker, TestClient(app, follow_redirects=False) as victim:
        stolen_shape = csrf(attacker)
        login(victim, "organiser@kommune.no")
        response = victim.post("/talks", data={"title": "x", "csrf_token": stolen_shape})
        assert response.status_code == 403


def test_cross_site_origin_is_refused(settings, client):
    make_user(settings, "organiser")
    login(client, "organiser@kommune.no")
    token = csrf(client)
    response = client.post(
        "/talks", data={"title": "x", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert response.status_code == 403
    valid = {"title": "Gyldig", "language": "nb", "visibility": "internal"}
    assert post(client, "/talks", valid).status_code == 303


def test_tus_upload_needs_the_csrf_header(settings, client):
    make_user(settings, "organiser")
    login(client, "organiser@kommune.no")
    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    assert client.post("/uploads/", headers=headers).status_code == 403
    headers["X-CSRF-Token"] = csrf(client)
    assert client.post("/uploads/", headers=headers).status_code == 201


def _link(caplog) -> str:
    found = re.findall(r"(/passord/[\w-]+)", caplog.text)
    assert found, "without a mail server the link is logged for the administrator"
    return found[-1]


def test_forgotten_password_link_works_once(settings, client, caplog):
    make_user(settings, "viewer", name="Vera")
    response = post(client, "/glemt-passord", {"email": "viewer@kommune.no"})
    assert "får du snart en e-post" in response.text
    link = _link(caplog)
    new = {"password": "et-helt-nytt-passord", "repeat": "et-helt-nytt-passord"}
    assert post(client, link, new).status_code == 303
    assert _signed_in_as(client) == "Vera"
    assert post(client, link, new).status_code == 410, "a link works only once"
    client.cookies.clear()
    assert login(client, "viewer@kommune.no", PASSWORD).status_code == 401
    assert login(client, "viewer@kommune.no", "et-helt-nytt-passord").status_code == 303


def test_unknown_email_gets_the_same_answer(settings, client, caplog):
    response = post(client, "/glemt-passord", {"email": "ukjent@kommune.no"})
    assert response.status_code == 200 and "får du snart en e-post" in response.text
    assert "/passord/" not in caplog.text


def test_expired_password_link_is_refused(settings, client, caplog):
    make_user(settings, "viewer")
    post(client, "/glemt-passord", {"email": "viewer@kommune.no"})
    link = _link(caplog)
    with database.session(settings) as db, database.write(db):
        db.execute("UPDATE password_tokens SET expires_at = ?", [time.time() - 1])
    assert client.get(link).status_code == 410
    new = {"password": "et-helt-nytt-passord", "repeat": "et-helt-nytt-passord"}
    response = post(client, link, new)
    assert response.status_code == 410 and "utløpt" in response.text


def test_short_or_mismatched_passwords_are_refused(settings, client, caplog):
    make_user(settings, "viewer")
    post(client, "/glemt-passord", {"email": "viewer@kommune.no"})
    link = _link(caplog)
    assert "minst 10 tegn" in post(client, link, {"password": "kort", "repeat": "kort"}).text
    mismatch = post(client, link, {"password": "langt-passord-1", "repeat": "langt-passord-2"})
    assert mismatch.status_code == 422 and "ikke like" in mismatch.text
    ok = {"password": "langt-passord-1", "repeat": "langt-passord-1"}
    assert post(client, link, ok).status_code == 303, "failed tries do not use up the link"


def test_passwords_are_stored_as_argon2id(settings):
    make_user(settings, "viewer")
    with database.session(settings) as db:
        stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_security_headers(client):
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text.replace("<script src=", ""), "no inline script"


def test_login_redirect_stays_on_this_site(settings, client):
    make_user(settings, "viewer")
    for target, expected in [("/arkiv", "/arkiv"), ("//evil.example", "/"),
                             ("https://evil.example", "/"), ("/\\evil", "/")]:  # fmt: skip
        client.cookies.clear()
        response = client.post("/logg-inn", data={
            "email": "viewer@kommune.no", "password": PASSWORD, "neste": target,
            "csrf_token": csrf(client)})  # fmt: skip
        assert response.headers["location"] == expected


def test_guest_is_sent_to_login_and_back(settings, client):
    response = client.get("/talks/ny", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/logg-inn?neste=/talks/ny"
    make_user(settings, "viewer")
    login(client, "viewer@kommune.no")
    denied = client.get("/talks/ny")
    assert denied.status_code == 403 and "Du har ikke tilgang" in denied.text


def test_admin_invites_a_user_and_the_action_is_audited(settings, client, caplog):
    make_user(settings, "admin")
    login(client, "admin@kommune.no")
    response = post(client, "/admin/brukere",
                    {"email": "ny@kommune.no", "name": "Ny", "role": "organiser"})  # fmt: skip
    assert response.status_code == 201
    link = re.search(r"(/passord/[\w-]+)", response.text).group(1)
    duplicate = post(client, "/admin/brukere", {"email": "ny@kommune.no", "role": "viewer"})
    assert duplicate.status_code == 422 and "finnes allerede" in duplicate.text
    log = client.get("/admin/logg").text
    assert "inviterte bruker" in log and "ny@kommune.no" in log
    with TestClient(client.app, follow_redirects=False) as newcomer:
        new = {"password": "mitt-nye-passord", "repeat": "mitt-nye-passord"}
        assert post(newcomer, link, new).status_code == 303
        assert newcomer.get("/talks/ny").status_code == 200, "an organiser may create talks"


def test_the_last_admin_cannot_be_removed(settings, client):
    admin = make_user(settings, "admin")
    login(client, "admin@kommune.no")
    response = post(client, f"/admin/brukere/{admin.id}", {"role": "viewer", "active": "1"})
    assert response.status_code == 422 and "siste aktive administratoren" in response.text


def _demote_each_other(settings, first, second) -> list[str]:
    """Each of two admins takes the other's role at the same moment, on a connection of
    their own (as the server's threads have); what each was answered."""
    import threading

    barrier, outcomes = threading.Barrier(2), []

    def demote(actor, target) -> None:
        with database.session(settings) as db:
            barrier.wait()
            try:
                accounts.edit_user(db, actor, target, "", "viewer", "", active=True)
                outcomes.append("changed")
            except accounts.AccountError as exc:
                outcomes.append(exc.message)

    threads = [threading.Thread(target=demote, args=pair)
               for pair in ((first, second), (second, first))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_admins_demoting_each_other_at_once_leave_one(settings):
    """One change goes through, the other is refused, an admin is left. On PostgreSQL the
    write units run side by side, so both would read «another admin is left» unless they
    wait for each other. Five rounds, to meet the race more than once."""
    for round_ in range(5):
        first = make_user(settings, "admin", email=f"a{round_}@kommune.no")
        second = make_user(settings, "admin", email=f"b{round_}@kommune.no")
        with database.session(settings) as db, database.write(db):  # only these two are admins
            db.execute("UPDATE users SET role = 'viewer' WHERE role = 'admin' AND id NOT IN "
                       "(?, ?)", [first.id, second.id])  # fmt: skip
        outcomes = _demote_each_other(settings, first, second)
        assert sorted(outcomes) == sorted(["changed", accounts.LAST_ADMIN])
        with database.session(settings) as db:
            sql = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1"
            assert db.execute(sql).fetchone()[0] == 1


def test_the_same_address_invited_twice_at_once_makes_one_account(settings):
    """Eight invitations of one address at the same moment, each on its own connection:
    one account; the others are told the address is taken (never a database error)."""
    import threading

    barrier, outcomes = threading.Barrier(8), []

    def invite() -> None:
        with database.session(settings) as db:
            barrier.wait()
            try:
                accounts.create_user(db, "Samtidig@Kommune.no", "Samtidig")
                outcomes.append("created")
            except accounts.AccountError as exc:
                outcomes.append(exc.message)
            except Exception as exc:  # reported below, in the test's thread
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=invite) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = accounts.EMAIL_TAKEN % {"email": "samtidig@kommune.no"}
    assert sorted(outcomes) == sorted(["created", *[taken] * 7])
    with database.session(settings) as db:
        sql = "SELECT COUNT(*) FROM users WHERE email = 'samtidig@kommune.no'"
        assert db.execute(sql).fetchone()[0] == 1


def test_the_last_admin_rule_is_one_domain_rule(settings, db):
    """accounts.edit_user keeps an active administrator, inside the change's own write
    unit; with another admin the change goes through and is audited."""
    admin = make_user(settings, "admin")
    with pytest.raises(accounts.AccountError) as refused:
        accounts.edit_user(db, admin, admin, "Admin", "admin", "", active=False)
    assert refused.value.message == accounts.LAST_ADMIN
    assert accounts.get(db, admin.id).active, "nothing changed"
    other = make_user(settings, "admin", email="annen@kommune.no")
    demoted = accounts.edit_user(db, other, admin, "Admin", "viewer", "IT", active=True)
    assert (demoted.role, demoted.department) == ("viewer", "IT")
    entry = accounts.audit_entries(db)[0]
    assert (entry.actor, entry.action, entry.target) == (other.email, "endret bruker", admin.email)
    assert entry.detail == "rolle admin→viewer; aktiv True→True"
    assert accounts.removes_last_admin(db, accounts.get(db, other.id), "organiser", True)
