"""Single sign-on with OpenID Connect, end to end against a real provider.

A real node-oidc-provider (tests/oidc_provider, installed by `npm ci --prefix
tests/oidc_provider`) and `ktl serve` run on 127.0.0.1; an HTTP client with a cookie jar
follows the redirects and submits the provider's login form, as a browser would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.testclient import TestClient

from server.core.config import Settings, load_settings
from server.people import accounts, oidc
from server.store import db as database
from server.web.app import create_app
from tests.conftest import CHOSEN, ENGINES
from tests.liveserver import stop

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
INSTALL = "npm ci --prefix tests/oidc_provider"
CLIENT_ID, CLIENT_SECRET = "kunnskap-til-lunsj", "test-hemmelighet-som-er-lang-nok"
ROLE_MAP = "ktl-organisers=organiser, ktl-admins=admin"
CALLBACK = "/logg-inn/oidc/callback"
_FORM = re.compile(r'<form method="post" action="([^"]+)">')


def _free_ports(count: int) -> list[int]:
    """Distinct free ports (all held open at once while choosing, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not start:\n{log.read_text()[-3000:]}")


def _start(command: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KTL_")}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(key, None)
    return env


@dataclass(frozen=True)
class Sites:
    app: str
    provider: str
    database: Settings  # what database.session opens: the SQLite file or the PostgreSQL URL


@pytest.fixture(scope="module", params=[e for e in ENGINES if CHOSEN in ("", e)])
def sites(tmp_path_factory: pytest.TempPathFactory, request) -> Iterator[Sites]:
    """The provider and `ktl serve` on SQLite, then on PostgreSQL (a database of its own)."""
    if request.param == "postgres":
        with request.getfixturevalue("postgres_server").migrated_database() as url:
            yield from _sites(tmp_path_factory, {"KTL_DATABASE_URL": url})
    else:
        yield from _sites(tmp_path_factory, {})


def _sites(tmp_path_factory: pytest.TempPathFactory, engine_env: dict) -> Iterator[Sites]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"Node.js (18 or newer) is needed for the OpenID Connect tests: install "
                    f"nodejs, then run `{INSTALL}`")  # fmt: skip
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"the test OpenID provider is not installed: run `{INSTALL}`")
    tmp = tmp_path_factory.mktemp("oidc")
    provider_port, app_port = _free_ports(2)
    provider, app = f"http://127.0.0.1:{provider_port}", f"http://127.0.0.1:{app_port}"
    provider_env = {
        **_clean_env(),
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URI": f"{app}/logg-inn/oidc/callback",
    }
    node_log = tmp / "provider.log"
    node_process = _start([node, "provider.js", str(provider_port)], provider_env,
                          PROVIDER_DIR, node_log)  # fmt: skip
    app_env = {
        **_clean_env(),
        "KTL_DATA_DIR": str(tmp / "data"),
        "KTL_EMBEDDED_WORKER": "0",
        "KTL_OIDC_ISSUER": provider,
        "KTL_OIDC_CLIENT_ID": CLIENT_ID,
        "KTL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "KTL_OIDC_ROLE_MAP": ROLE_MAP,
        "KTL_OIDC_ALLOWED_DOMAINS": "kommune.no",
        **engine_env,
    }
    app_log = tmp / "serve.log"
    command = [sys.executable, "-m", "server.cli", "serve", "--port", str(app_port)]
    app_process = _start(command, app_env, Path(__file__).parent.parent, app_log)
    try:
        _wait_until_up(f"{provider}/.well-known/openid-configuration", node_process, node_log,
                       "the OpenID provider (node tests/oidc_provider/provider.js)")  # fmt: skip
        _wait_until_up(f"{app}/", app_process, app_log, "ktl serve")
        yield Sites(app, provider, load_settings(env=engine_env, data_dir=tmp / "data"))
    finally:
        stop(app_process, timeout=10)
        stop(node_process, timeout=10)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """A fresh cookie jar, as a new browser; redirects are followed by hand."""
    with httpx.Client(trust_env=False, timeout=15) as client:
        yield client


def _follow(client: httpx.Client, response: httpx.Response, stop: str = "") -> httpx.Response:
    """Follow redirects; with `stop`, return the redirect whose target path starts with it."""
    for _ in range(20):
        if not response.is_redirect:
            return response
        target = urljoin(str(response.url), response.headers["location"])
        if stop and urlsplit(target).path.startswith(stop):
            return response
        response = client.get(target)
    pytest.fail("too many redirects")


def _login_page(client: httpx.Client, sites: Sites, neste: str = "") -> httpx.Response:
    query = f"?{urlencode({'neste': neste})}" if neste else ""
    page = _follow(client, client.get(f"{sites.app}/logg-inn/oidc{query}"))
    assert page.url.host == "127.0.0.1" and str(page.url).startswith(sites.provider)
    assert page.status_code == 200 and "Brukernavn" in page.text
    return page


def _submit(client: httpx.Client, page: httpx.Response, button: int, data: dict) -> httpx.Response:
    action = unescape(_FORM.findall(page.text)[button])
    return client.post(urljoin(str(page.url), action), data=data)


def _callback(client: httpx.Client, sites: Sites, login: str, neste: str = "") -> str:
    """Sign in at the provider; the URL it sends the browser back to (not yet visited)."""
    page = _login_page(client, sites, neste)
    answer = _follow(client, _submit(client, page, 0, {"login": login}), stop=CALLBACK)
    assert answer.is_redirect, answer.text
    return urljoin(str(answer.url), answer.headers["location"])


def sign_in(client: httpx.Client, sites: Sites, login: str, neste: str = "") -> httpx.Response:
    return _follow(client, client.get(_callback(client, sites, login, neste)))


def _user_row(sites: Sites, email: str) -> dict | None:
    with database.session(sites.database) as db:
        row = db.execute("SELECT * FROM users WHERE email = ?", [email]).fetchone()
        return dict(row) if row else None


def _count(sites: Sites, sql: str, params: list) -> int:
    with database.session(sites.database) as db:
        return db.execute(sql, params).fetchone()[0]


# --- the whole flow against the real provider ------------------------------------------


def test_group_member_becomes_organiser_and_returns_to_the_page_asked_for(sites, browser):
    page = sign_in(browser, sites, "kari", neste="/talks/ny")
    assert page.status_code == 200
    assert page.url.path == "/talks/ny"  # an organiser's page, reached with the new session
    user = _user_row(sites, "kari.nordmann@kommune.no")
    assert user is not None
    assert (user["role"], user["name"], user["oidc_subject"]) == (
        "organiser",
        "Kari Nordmann",
        "kari",
    )
    front = browser.get(f"{sites.app}/")
    assert "Kari Nordmann" in front.text  # signed in: the page shows who
    assert _count(sites, "SELECT COUNT(*) FROM audit_log WHERE target = ? AND actor = 'system'",
                  ["kari.nordmann@kommune.no"]) == 1  # fmt: skip


def test_second_sign_in_maps_again_and_does_not_duplicate(sites, browser):
    sign_in(browser, sites, "kari")
    with database.session(sites.database) as db:
        user = accounts.by_email(db, "kari.nordmann@kommune.no")
        accounts.update_user(db, user.id, "Kari", "viewer", "Helse", True)  # changed by hand
    with httpx.Client(trust_env=False, timeout=15) as again:
        assert sign_in(again, sites, "kari").status_code == 200
        assert again.get(f"{sites.app}/talks/ny").status_code == 200
    assert _count(sites, "SELECT COUNT(*) FROM users WHERE oidc_subject = ?", ["kari"]) == 1
    user = _user_row(sites, "kari.nordmann@kommune.no")
    assert (user["role"], user["name"], user["department"]) == (
        "organiser",
        "Kari Nordmann",
        "Helse",
    )
    changes = _count(sites, "SELECT COUNT(*) FROM audit_log WHERE target = ? AND action = ?",
                     ["kari.nordmann@kommune.no", "endret rolle ved innlogging"])  # fmt: skip
    assert changes == 1


def test_person_in_no_mapped_group_gets_the_default_role(sites, browser):
    front = sign_in(browser, sites, "per")
    assert front.status_code == 200 and "Per Hansen" in front.text
    assert _user_row(sites, "per.hansen@kommune.no")["role"] == "viewer"
    assert browser.get(f"{sites.app}/talks/ny").status_code == 403


def test_existing_account_is_linked_by_verified_email_and_highest_role_wins(sites, browser):
    with database.session(sites.database) as db:
        before = accounts.create_user(db, "lise.berg@kommune.no", "Lise", "viewer", "Plan",
                                      password="riktig-hest-batteri-stift")  # fmt: skip
    sign_in(browser, sites, "lise")  # groups: organisers; app roles (`roles`): admins
    user = _user_row(sites, "lise.berg@kommune.no")
    assert (user["id"], user["oidc_subject"], user["role"]) == (before.id, "lise", "admin")
    assert browser.get(f"{sites.app}/admin/brukere").status_code == 200
    assert (
        _count(sites, "SELECT COUNT(*) FROM users WHERE email = ?", ["lise.berg@kommune.no"]) == 1
    )


def test_claims_only_in_userinfo_are_fetched(sites, browser):
    sign_in(browser, sites, "siri")
    user = _user_row(sites, "siri.dahl@kommune.no")
    assert (user["name"], user["role"], user["oidc_subject"]) == ("Siri Dahl", "organiser", "siri")


def test_email_domain_not_allowed_is_refused_and_nothing_is_stored(sites, browser):
    answer = sign_in(browser, sites, "ola")
    assert answer.status_code == 403
    assert "er bare åpen for e-postadresser på kommune.no" in answer.text
    assert "ola@annen-arbeidsgiver.no" in answer.text
    assert _user_row(sites, "ola@annen-arbeidsgiver.no") is None
    assert _count(sites, "SELECT COUNT(*) FROM users WHERE oidc_subject = 'ola'", []) == 0
    assert "ktl_session" not in browser.cookies


def test_unverified_email_is_refused(sites, browser):
    answer = sign_in(browser, sites, "uverifisert")
    assert answer.status_code == 403
    assert "har ikke bekreftet e-postadressen din" in answer.text
    assert _user_row(sites, "ukjent@kommune.no") is None


def test_deactivated_user_is_refused(sites, browser):
    sign_in(browser, sites, "tor")
    with database.session(sites.database) as db:
        user = accounts.by_email(db, "tor.lie@kommune.no")
        accounts.update_user(db, user.id, user.name, user.role, user.department, False)
    # Deactivated from outside the server process (as `ktl user` does): the server's session
    # cache (KTL_SESSION_CACHE_SECONDS, 2 s) may remember the user that long, no longer.
    deadline = time.monotonic() + Settings().session_cache_seconds + 3
    while "Tor Lie" in browser.get(f"{sites.app}/").text:  # until the sessions are ended
        assert time.monotonic() < deadline, "a deactivated user is still signed in"
        time.sleep(0.2)
    with httpx.Client(trust_env=False, timeout=15) as again:
        answer = sign_in(again, sites, "tor")
        assert answer.status_code == 403
        assert "Kontoen din er deaktivert. Kontakt en administrator" in answer.text
        assert "ktl_session" not in again.cookies


def test_tampered_state_is_refused(sites, browser):
    callback = _callback(browser, sites, "per")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    query["state"] = [query["state"][0][:-2] + "xx"]
    forged = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    answer = browser.get(forged)
    assert answer.status_code == 400
    assert "start innloggingen på nytt" in answer.text
    assert "ktl_session" not in browser.cookies
    assert "Per Hansen" not in browser.get(f"{sites.app}/").text


def test_callback_without_the_login_cookie_is_refused(sites, browser):
    callback = _callback(browser, sites, "per")
    browser.cookies.delete("ktl_oidc")
    answer = browser.get(callback)
    assert answer.status_code == 400
    assert "prøv igjen" in answer.text
    assert "ktl_session" not in browser.cookies


def test_cancelled_at_the_provider_shows_a_norwegian_message(sites, browser):
    page = _login_page(browser, sites)
    answer = _follow(browser, _submit(browser, page, 1, {}))
    assert answer.status_code == 403
    assert "Innloggingen ble avbrutt" in answer.text


def test_start_sends_state_nonce_and_pkce(sites, browser):
    start = browser.get(f"{sites.app}/logg-inn/oidc?neste=//evil.example")
    assert start.status_code == 303
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{sites.app}/logg-inn/oidc/callback"]
    cookie = start.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=600" in cookie
    pending = oidc.unseal(b"wrong key", browser.cookies["ktl_oidc"])
    assert pending is None  # signed with the app's secret, not anyone's


# --- without a provider -----------------------------------------------------------------


def test_start_answers_404_in_norwegian_when_not_configured(settings):
    with TestClient(create_app(settings)) as client:
        answer = client.get("/logg-inn/oidc", headers={"accept": "text/html"})
        assert answer.status_code == 404
        assert "Innlogging med organisasjonskonto er ikke satt opp" in answer.text
        assert client.get("/logg-inn/oidc/callback?code=x&state=y").status_code == 404


def test_sealed_login_cannot_be_altered_or_kept_too_long():
    secret = b"s" * 32
    pending = oidc.new_login("/arkiv")
    sealed = oidc.seal(secret, pending)
    assert oidc.unseal(secret, sealed) == pending
    payload, mac = sealed.split(".")
    assert (
        oidc.unseal(secret, payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac) is None
    )
    assert oidc.unseal(secret, sealed, max_age=-1) is None
    assert oidc.unseal(secret, "") is None and oidc.unseal(secret, "x.y.z") is None


def test_role_map_parsing_and_highest_role():
    settings = load_settings(env={}, oidc_role_map="A=organiser; b=admin\nc-d=viewer")
    assert oidc.role_map(settings.oidc_role_map) == {
        "a": "organiser",
        "b": "admin",
        "c-d": "viewer",
    }
    assert oidc.mapped_role(settings, ("a", "B")) == "admin"
    assert oidc.mapped_role(settings, ("x",)) == "viewer"
    assert oidc.mapped_role(settings.replace(oidc_role_map=""), ("a",)) is None
    with pytest.raises(oidc.OIDCError, match="KTL_OIDC_ROLE_MAP"):
        oidc.role_map("gruppe=sjef")


def test_entra_id_claims_without_email_verified():
    """Entra ID sends no email_verified: trusted only for the organisation's own domains."""
    claims = {"sub": "abc", "name": "Kari", "preferred_username": "Kari@Kommune.no",
              "groups": ["0b1c-guid"], "roles": ["KTL.Admin"]}  # fmt: skip
    settings = load_settings(env={}, oidc_group_claim="groups")
    person = oidc.identity(settings.replace(oidc_allowed_domains="kommune.no"), claims)
    assert (person.email, person.email_verified) == ("kari@kommune.no", True)
    assert person.groups == ("0b1c-guid", "KTL.Admin")
    assert oidc.identity(settings, claims).email_verified is False
    unverified = {**claims, "email": "kari@kommune.no", "email_verified": False}
    assert (
        oidc.identity(
            settings.replace(oidc_allowed_domains="kommune.no"), unverified
        ).email_verified
        is False
    )


# --- ID token validation, with keys made here -----------------------------------------

ISSUER = "https://login.example.no/tenant/v2.0"


def _signed_client() -> tuple[oidc.OIDCClient, RSAKey]:
    key = RSAKey.generate_key(2048, parameters={"kid": "nøkkel-1", "use": "sig"})
    settings = load_settings(env={}, oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID)
    client = oidc.OIDCClient(settings)
    meta = {"issuer": ISSUER, "jwks_uri": "https://login.example.no/keys",
            "id_token_signing_alg_values_supported": ["RS256"]}  # fmt: skip
    client._metadata = (time.monotonic(), meta)  # as if discovered; nothing is fetched
    client._keys = (time.monotonic(), KeySet([key]))
    return client, key


def _claims(**changes) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "abc", "iat": now, "exp": now + 300,
              "nonce": "n-1"}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _validate(client: oidc.OIDCClient, token: str) -> dict:
    return asyncio.run(client.validate_id_token(token, "n-1"))


def test_valid_id_token_gives_its_claims():
    client, key = _signed_client()
    token = jwt.encode({"alg": "RS256", "kid": "nøkkel-1"}, _claims(email="a@kommune.no"), key)
    assert _validate(client, token)["email"] == "a@kommune.no"


@pytest.mark.parametrize(
    "changes",
    [
        {"nonce": "annen"},
        {"nonce": None},
        {"aud": "en-annen-klient"},
        {"aud": [CLIENT_ID, "en-annen-klient"]},  # several audiences and no azp
        {"iss": "https://login.example.no/annen/v2.0"},
        {"exp": int(time.time()) - 3600},
        {"iat": None},
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "wrong-aud",
        "several-aud-no-azp",
        "wrong-iss",
        "expired",
        "no-iat",
    ],
)
def test_id_token_with_wrong_claims_is_refused(changes):
    client, key = _signed_client()
    token = jwt.encode({"alg": "RS256", "kid": "nøkkel-1"}, _claims(**changes), key)
    with pytest.raises(oidc.OIDCError) as refused:
        _validate(client, token)
    assert refused.value.message == oidc.INVALID and refused.value.status == 400


def test_id_token_signed_with_another_key_or_no_key_is_refused():
    client, _ = _signed_client()
    other = RSAKey.generate_key(2048, parameters={"kid": "nøkkel-1"})
    forged = jwt.encode({"alg": "RS256", "kid": "nøkkel-1"}, _claims(), other)
    header, payload, _ = forged.split(".")
    unsigned = ".".join([oidc._b64(b'{"alg":"none","kid":"n\\u00f8kkel-1"}'), payload, ""])
    for token in (forged, unsigned, f"{header}.{payload}.", "ikke-en-jwt"):
        with pytest.raises(oidc.OIDCError):
            _validate(client, token)
