"""The interface in Norwegian bokmål (default) and English: catalogue, choice, switch."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from server import db as database
from server import i18n
from server.app import create_app
from server.web import format_date
from tests.webclient import csrf, login, make_user

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "en" / "LC_MESSAGES" / "messages.po"
HTML_LANG = re.compile(r'<html lang="([a-z]+)">')
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def _catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="en")


def _extracted() -> set[str]:
    """What `pybabel extract -F locale/babel.cfg ... templates server` finds now."""
    with (ROOT / "locale" / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = set()
    for folder in ("templates", "server"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, options_map
        ):
            found.update([message] if isinstance(message, str) else [message[0]])
    return found


def test_every_message_has_a_complete_english_translation():
    catalog = _catalog()
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if {p for i in ids for p in PLACEHOLDER.findall(i)} != {
            p for s in strings for p in PLACEHOLDER.findall(s or "")
        }:
            problems.append(f"placeholders differ: {message.id}")
    assert problems == [], "untranslated, fuzzy or broken messages in the English catalogue"


def test_the_catalogue_covers_every_string_in_templates_and_code():
    catalog = _catalog()
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = sorted(_extracted() - known)
    assert missing == [], (
        "new interface strings without English: run the commands under 'Languages' in "
        f"README.md and translate them: {missing}"
    )


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def _lang(response) -> str:
    match = HTML_LANG.search(response.text)
    assert match, "every page says its language on <html>"
    return match.group(1)


def test_norwegian_is_the_default(client):
    page = client.get("/")
    assert _lang(page) == "nb"
    assert "Kommende foredrag" in page.text and "Upcoming talks" not in page.text
    assert page.headers["content-language"] == "nb"
    assert _lang(client.get("/", headers={"Accept-Language": "de-DE,fr;q=0.8"})) == "nb"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", "en"), ("en-GB,en;q=0.9", "en"), ("nb-NO,nb;q=0.9,en;q=0.8", "nb"),
        ("no", "nb"), ("nn", "nb"), ("de, en;q=0.5", "en"), ("en;q=0.3, nb;q=0.7", "nb"),
        ("en;q=0", "nb"), ("", "nb"), ("q=;;,,", "nb"),
    ],
)  # fmt: skip
def test_accept_language_picks_the_best_supported_language(client, header, expected):
    assert _lang(client.get("/", headers={"Accept-Language": header})) == expected


def test_english_front_page_with_accept_language(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _lang(page) == "en"
    for text in ("Upcoming talks", "Skip to content", "Search everything that was said",
                 "Archive", "Log in"):  # fmt: skip
        assert text in page.text
    assert "Kommende foredrag" not in page.text and "Hopp til innholdet" not in page.text
    assert page.headers["content-language"] == "en"


def test_english_with_the_cookie_even_when_the_browser_prefers_norwegian(client):
    client.cookies.set(i18n.COOKIE, "en")
    page = client.get("/arkiv", headers={"Accept-Language": "nb"})
    assert _lang(page) == "en" and "All years" in page.text
    client.cookies.set(i18n.COOKIE, "xx")  # an unknown value is ignored
    assert _lang(client.get("/arkiv", headers={"Accept-Language": "nb"})) == "nb"


def test_the_switch_sets_a_cookie_and_goes_back(client):
    token = csrf(client)
    response = client.post("/sprak", data={"lang": "en", "neste": "/arkiv?year=2026",
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/arkiv?year=2026"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ktl_lang=en;")
    for part in ("Max-Age=31536000", "HttpOnly", "Path=/", "SameSite=lax"):
        assert part.lower() in cookie.lower()
    assert _lang(client.get("/arkiv")) == "en"
    client.post("/sprak", data={"lang": "nb", "csrf_token": token})
    assert _lang(client.get("/arkiv", headers={"Accept-Language": "en"})) == "nb"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
     "javascript:alert(1)", "/\t/evil.example", "evil.example", "http:/evil.example"],
)  # fmt: skip
def test_the_switch_redirects_only_to_local_paths(client, target):
    response = client.post("/sprak", data={"lang": "en", "neste": target,
                                           "csrf_token": csrf(client)})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_the_switch_refuses_unknown_languages_and_missing_csrf(client):
    response = client.post("/sprak", data={"lang": "de", "csrf_token": csrf(client)})
    assert response.status_code == 400 and "set-cookie" not in response.headers
    assert client.post("/sprak", data={"lang": "en"}).status_code == 403


def test_a_signed_in_users_choice_is_stored_and_follows_them(settings, client):
    user = make_user(settings, "viewer")
    assert login(client, user.email).status_code == 303
    assert _lang(client.get("/")) == "nb"
    client.post("/sprak", data={"lang": "en", "neste": "/", "csrf_token": csrf(client)})
    with database.session(settings.db_path) as db:
        assert i18n.user_locale(db, user.id) == "en"
    # Another browser, no cookie, a Norwegian browser: the account's language wins.
    with TestClient(create_app(settings), follow_redirects=False) as other:
        login(other, user.email)
        other.cookies.delete(i18n.COOKIE)
        page = other.get("/", headers={"Accept-Language": "nb"})
        assert _lang(page) == "en" and "Log out" in page.text


def test_the_switch_is_in_the_header_of_every_page(client):
    page = client.get("/logg-inn")
    assert 'action="/sprak"' in page.text and 'name="lang" value="en"' in page.text
    assert 'name="neste" value="/logg-inn"' in page.text
    english = client.get("/logg-inn", headers={"Accept-Language": "en"})
    assert 'name="lang" value="nb"' in english.text


def test_python_side_labels_and_dates_are_translated(settings, client):
    admin = make_user(settings, "admin")
    login(client, admin.email)
    client.cookies.set(i18n.COOKIE, "en")
    with database.session(settings.db_path) as conn:
        i18n.set_user_locale(conn, admin.id, "en")
    page = client.get("/admin/brukere")
    assert ">Staff member</option>" in page.text and "Ansatt" not in page.text
    assert "Arrangør" not in page.text and "Deactivated" not in page.text
    new = client.get("/talks/ny").text
    assert "Norwegian Bokmål" in new and "Open to everyone, also without logging in" in new
    assert format_date("2026-12-03T11:30", lang="en") == "3 December 2026, 11:30"
    assert format_date("2026-12-03T11:30") == "3. desember 2026 kl. 11.30"
    assert format_date("2026-12-03T11:30", False, "en") == "3 December 2026"


def test_concurrent_requests_in_both_languages_do_not_mix(settings):
    """Translations are chosen per render (a ContextVar), never on the shared Environment."""
    app = create_app(settings)

    async def run() -> list[tuple[str, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def one(lang: str) -> tuple[str, str]:
                page = await http.get("/arkiv", headers={"Accept-Language": lang})
                marker = "All years" if "All years" in page.text else "Alle år"
                return _lang(page), marker

            return await asyncio.gather(*(one("en" if i % 2 else "nb") for i in range(60)))

    results = asyncio.run(run())
    for index, (lang, marker) in enumerate(results):
        expected = "en" if index % 2 else "nb"
        assert lang == expected
        assert marker == ("All years" if expected == "en" else "Alle år")
