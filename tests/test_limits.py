"""Bounded, typed requests: the integer and JSON helpers, the one body limit (413 before the
body is read; tus exempt), hostile numbers in paths and queries, and trusted proxies."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from starlette.testclient import TestClient

from server.core import parse
from server.core.config import SettingsError, load_settings
from server.people import accounts
from server.pipeline import tus
from server.store import db as database
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token
from tests.liveserver import serve
from tests.test_access_matrix import _talk
from tests.webclient import make_user

LIMIT = 4096  # KTL_MAX_BODY_BYTES in these tests

# ---------------------------------------------------------------- the integer helper


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1), (" 42 ", 42), ("007", 7), (str(parse.MAX_ID), parse.MAX_ID), (5, 5),
        ("0", None), ("-1", None), (str(parse.MAX_ID + 1), None), ("99999999999999999999", None),
        ("²", None), ("①", None), ("٣", None), ("²²²²", None), ("1_000", None), ("+1", None),
        ("1.0", None), ("", None), (" ", None), ("1e3", None), ("9" * 5000, None), (None, None),
        (True, None), (1.0, None), ([1], None), (b"12", 12), (2**64, None),
    ],
)  # fmt: skip
def test_integer_takes_ascii_digits_within_the_range_only(raw, expected):
    assert parse.identifier(raw) == expected


def test_integer_ranges():
    assert parse.integer("-5", -10, 10) == -5
    assert parse.integer("11", -10, 10) is None
    assert parse.integer("2024", *parse.YEARS) == 2024
    assert parse.integer("20245", *parse.YEARS) is None
    assert parse.integer("0", 0, 8) == 0


# ---------------------------------------------------------------- the JSON helper


def test_json_object_accepts_an_object_of_the_right_shape():
    shape = {"id": int, "name": str, "at": (int, float, type(None))}
    assert parse.json_object(b'{"id": 3, "name": "x", "at": null, "extra": [1]}', shape) == {
        "id": 3, "name": "x", "at": None, "extra": [1]
    }  # fmt: skip
    assert parse.json_object('{"a": {"b": [1, 2]}}') == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", parse.BAD_JSON), (b"{", parse.BAD_JSON), (b"\xff\xfe", parse.BAD_JSON),
        (b'{"id": NaN}', parse.BAD_JSON), (b'{"id": Infinity}', parse.BAD_JSON),
        (b"1" * 5000, parse.BAD_JSON), (b"[1, 2]", parse.NOT_OBJECT), (b'"x"', parse.NOT_OBJECT),
        (b"null", parse.NOT_OBJECT), (b"[" * 100_000 + b"]" * 100_000, parse.TOO_DEEP),
        (b'{"a":' * 17 + b"1" + b"}" * 17, parse.TOO_DEEP),
        (b'{"id": "1"}', parse.WRONG_TYPE.format(name="id")),
        (b'{"id": true}', parse.WRONG_TYPE.format(name="id")),
        (b'{"id": 1e999}', parse.WRONG_TYPE.format(name="id")),
    ],
)  # fmt: skip
def test_json_object_refuses_with_a_norwegian_sentence(raw, message):
    with pytest.raises(parse.InputError) as caught:
        parse.json_object(raw, {"id": (int, float)})
    assert str(caught.value) == message and caught.value.status == 400


def test_json_object_limit_and_depth():
    with pytest.raises(parse.InputError) as caught:
        parse.json_object(b'{"a": "' + b"x" * 100 + b'"}', limit=50)
    assert caught.value.status == 413
    nested: object = 1
    for _ in range(parse.MAX_JSON_DEPTH - 1):
        nested = [nested]
    assert parse.json_object(json.dumps({"a": nested}))  # exactly the limit is fine
    assert parse.depth({"a": [{"b": []}]}) == 4 and parse.depth(3) == 0


# ---------------------------------------------------------------- settings


def test_settings_for_bodies_and_proxies(tmp_path):
    settings = load_settings(env={"KTL_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8, ::1"})
    assert len(parse.networks(settings.trusted_proxies)) == 3
    assert load_settings(env={}).max_body_bytes == 8 * 1024**2
    assert load_settings(env={}).trusted_proxies == ""
    with pytest.raises(SettingsError, match=r"«nginx\.local» er ikke en IP-adresse"):
        load_settings(env={"KTL_TRUSTED_PROXIES": "127.0.0.1,nginx.local"})
    with pytest.raises(SettingsError, match="KTL_MAX_BODY_BYTES"):
        load_settings(env={"KTL_MAX_BODY_BYTES": "10"})
    networks = parse.networks("10.0.0.0/8,::1")
    assert parse.address_in("10.1.2.3", networks) and parse.address_in("::1", networks)
    assert not parse.address_in("11.0.0.1", networks)
    assert not parse.address_in("testclient", networks) and not parse.address_in("", networks)


# ---------------------------------------------------------------- through the app


@pytest.fixture
def env(settings):
    settings = settings.replace(max_body_bytes=LIMIT, live_captions=False)
    viewer = make_user(settings, "viewer")
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Grenser forklart")
        token = accounts.start_session(db, viewer.id, 1)
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(ANON_COOKIE, "limits-anon")
        client.cookies.set(SESSION_COOKIE, token)
        csrf = csrf_token(app.state.secret, token, "limits-anon")
        yield {"client": client, "talk": talk, "csrf": csrf, "settings": settings,
               "organiser": organiser, "app": app}  # fmt: skip


def _json_headers(env, **extra) -> dict:
    return {"X-CSRF-Token": env["csrf"], "Content-Type": "application/json", **extra}


def _stream(env, path: str, chunks: int, length: int | None = None) -> tuple[int, dict, int]:
    """POST `chunks` KB of JSON straight to the app's ASGI callable, as uvicorn would hand
    it over (the TestClient reads a streamed body whole first); returns the status, the
    JSON answer and how many chunks the app asked for."""
    headers = [(b"content-type", b"application/json"), (b"x-csrf-token", env["csrf"].encode()),
               (b"cookie", _cookie(env))]  # fmt: skip
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}  # fmt: skip
    pulled, sent = 0, []

    async def receive() -> dict:
        nonlocal pulled
        if pulled >= chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b" " * 1024, "more_body": pulled < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    env["client"].portal.call(env["app"], scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled


def _cookie(env) -> bytes:
    return "; ".join(f"{k}={v}" for k, v in env["client"].cookies.items()).encode()


def test_a_body_under_the_limit_reaches_the_handler(env):
    url = f"/talks/{env['talk'].slug}/fremdrift"
    body = json.dumps({"intervals": [[0, 1]], "position": 1}).encode()
    response = env["client"].post(url, content=body, headers=_json_headers(env))
    assert response.status_code == 200 and response.json()["watched_seconds"] == 1


def test_a_too_large_content_length_is_refused_before_reading(env):
    url = f"/talks/{env['talk'].slug}/quiz/svar"
    response = env["client"].post(url, content=b" " * 2 * LIMIT, headers=_json_headers(env))
    assert response.status_code == 413
    assert response.json()["error"].startswith("Det du sendte er for stort (mer enn 4 kB)")
    status, answer, pulled = _stream(env, url, chunks=100_000, length=100_000 * 1024)
    assert status == 413 and "for stort" in answer["error"]
    assert pulled == 0, "not one byte of the body was read"


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(env):
    url = f"/talks/{env['talk'].slug}/fremdrift"
    status, answer, pulled = _stream(env, url, chunks=300_000)  # 300 MB, no Content-Length
    assert status == 413 and "for stort" in answer["error"]
    assert pulled == LIMIT // 1024 + 1, "refused with the first chunk past the limit"
    status, answer, pulled = _stream(env, url, chunks=3)  # a small one still gets through
    assert status == 400 and pulled == 3 and "Kunne ikke lese" in answer["error"]


def test_a_too_large_form_gets_the_error_page(env):
    data = {"csrf_token": env["csrf"], "text": "x" * (2 * LIMIT)}
    response = env["client"].post(
        f"/talks/{env['talk'].slug}/sporsmal", data=data, headers={"Accept": "text/html"}
    )
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "Det du sendte er for stort" in response.text and 'lang="nb"' in response.text
    assert response.headers["content-security-policy"], "the page has the usual headers"


def test_tus_uploads_keep_their_own_limit(env):
    settings, client = env["settings"], env["client"]
    size = 4 * LIMIT
    with database.session(settings) as db:
        upload = tus.create(db, settings, size, {"ktl_owner": str(env["organiser"].id)})
        token = accounts.start_session(db, env["organiser"].id, 1)
    client.cookies.set(SESSION_COOKIE, token)
    headers = {
        "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
        "X-CSRF-Token": csrf_token(env["app"].state.secret, token, "limits-anon"),
    }  # fmt: skip
    response = client.patch(f"/uploads/{upload.id}", content=b"a" * size, headers=headers)
    assert response.status_code == 204 and response.headers["upload-offset"] == str(size)


@pytest.mark.parametrize(
    ("url", "status", "sentence"),
    [
        ("/talks/²", 404, "Fant ikke foredraget"),
        ("/talks/①", 404, "Fant ikke foredraget"),
        ("/talks/99999999999999999999", 404, "Fant ikke foredraget"),
        ("/media/99999999999999999999/vod/master.m3u8", 404, "Siden finnes ikke"),
        ("/arkiv?year=²²²²", 400, "Året må være et årstall"),
        ("/sok?q=vann&year=99999999999999999999", 400, "Året må være et årstall"),
    ],
)
def test_hostile_numbers_get_404_or_400_with_a_sentence(env, url, status, sentence):
    response = env["client"].get(url.format(slug=env["talk"].slug))
    assert response.status_code == status and sentence in response.text


def test_a_json_array_or_deep_nesting_where_an_object_belongs(env):
    url = f"/talks/{env['talk'].slug}/quiz/svar"
    for body, sentence in ((b"[1]", "feil form"), (b"[" * 3000, "nøstet for dypt")):
        response = env["client"].post(url, content=body, headers=_json_headers(env))
        assert response.status_code == 400 and sentence in response.json()["error"]


# ---------------------------------------------------------------- trusted proxies


def _forged_post(settings, peer: str) -> httpx.Response:
    """A form POST whose Origin is another site, passed off as ours with X-Forwarded-Host."""
    app = create_app(settings)
    with TestClient(app, client=(peer, 4321), follow_redirects=False) as client:
        client.cookies.set(ANON_COOKIE, "proxy-anon")
        token = csrf_token(app.state.secret, None, "proxy-anon")
        headers = {"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example"}
        data = {"lang": "en", "csrf_token": token}
        return client.post("/sprak", data=data, headers=headers)


def test_x_forwarded_host_counts_only_from_a_trusted_proxy(settings):
    refused = _forged_post(settings, "203.0.113.9")
    assert refused.status_code == 403 and "kom fra en annen side" in refused.text
    trusted = settings.replace(trusted_proxies="203.0.113.0/24")
    assert _forged_post(trusted, "203.0.113.9").status_code == 303
    assert _forged_post(trusted, "198.51.100.1").status_code == 403


def _csrf_of(client: httpx.Client) -> str:
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', client.get("/").text)
    assert match
    return match.group(1)


@pytest.mark.parametrize(("proxies", "status"), [("", 403), ("127.0.0.1", 303)])
def test_ktl_serve_and_uvicorn_agree_on_trusted_proxies(settings, tmp_path, proxies, status):
    """The real `ktl serve` (uvicorn): from 127.0.0.1, X-Forwarded-Host counts only when
    127.0.0.1 is listed; uvicorn's own proxy handling does not trust it behind our back."""
    env = {"KTL_EMBEDDED_WORKER": "0", "KTL_LIVE_CAPTIONS": "0", "KTL_TRUSTED_PROXIES": proxies}
    headers = {"Origin": "https://kunnskap.example", "X-Forwarded-Host": "kunnskap.example",
               "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}  # fmt: skip
    with (
        serve(settings, tmp_path / "serve.log", **env) as base,
        httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client,
    ):
        data = {"lang": "en", "csrf_token": _csrf_of(client)}
        response = client.post("/sprak", data=data, headers=headers)
    assert response.status_code == status
    if status == 303:  # the redirect is built from the forwarded scheme and host
        assert response.headers["location"] in ("/", "https://kunnskap.example/")
