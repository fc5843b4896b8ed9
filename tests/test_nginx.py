"""The production path with the real engines: Debian's nginx with deploy/nginx/kunnskap.conf
(TLS, HTTP/2) in front of `ktl serve` with KTL_ACCEL_REDIRECT, on free ports. Every rule of
the access table holds through nginx, media bytes come from nginx's internal location,
which nobody reaches from outside, and the systemd units verify. The site runs once on a
SQLite file and once on a PostgreSQL database (KTL_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from server.catalogue import talks
from server.core.config import load_settings
from server.live import broadcasts, ffargs
from server.people import accounts
from server.pipeline import tus
from server.store import db as database
from server.store import write
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token
from tests import nginxserver
from tests.conftest import CHOSEN, ENGINES, need
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, serve
from tests.test_access_matrix import VISIBILITIES, _talk, matrix_failures
from tests.test_live import _open_encoder, _publish, _sign_in, _wait
from tests.test_live_viewer_browser import _broadcast_state
from tests.webclient import make_user

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SEGMENT = b"G" + bytes(range(256)) * 40  # a live segment's bytes (content does not matter)
INTERNAL_ONLY = b"G" + b"intern" * 100


@pytest.fixture(scope="module", params=[e for e in ENGINES if CHOSEN in ("", e)])
def database_engine(request) -> str:
    """The engine (tests/conftest.py), for the whole module: the site is made once per
    engine."""
    return request.param


@pytest.fixture(scope="module")
def site_database(request, database_engine: str):
    """The site's database: "" (the SQLite file) or the URL of a PostgreSQL one with the schema."""
    if database_engine != "postgres":
        yield ""
        return
    with request.getfixturevalue("postgres_server").migrated_database() as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory, site_database: str):
    """The access matrix's world, served by `ktl serve` behind nginx."""
    need("nginx", "openssl")
    root = tmp_path_factory.mktemp("nginx")
    settings = load_settings(env={}, data_dir=root / "data")
    settings = settings.replace(embedded_worker=False, database_url=site_database)
    settings.ensure_dirs()
    database.init(settings)
    users = {
        "viewer": make_user(settings, "viewer"),
        "organiser": make_user(settings, "organiser"),
        "other_organiser": make_user(settings, "organiser", email="annen@kommune.no"),
        "admin": make_user(settings, "admin"),
        "target": make_user(settings, "viewer", email="maal@kommune.no"),
    }
    with database.session(settings) as db:
        by_visibility = {
            v: _talk(db, settings, users["organiser"], v, f"Foredrag {v}") for v in VISIBILITIES
        }
        upload = tus.create(db, settings, 10, {"ktl_owner": str(users["organiser"].id)})
        on_air = talks.create(db, talks.TalkInput(title="Sendes nå", visibility="public"),
                              users["organiser"])  # fmt: skip
        broadcasts.ensure(db, on_air)  # planned, its broadcast idle: the page listens
        turned = talks.create(db, talks.TalkInput(title="Blir intern", visibility="public"),
                              users["organiser"])  # fmt: skip
        # Broadcasts with a part playlist (the matrix's talks have none: ending theirs
        # would join segments that are not video)
        listed = {v: talks.create(db, talks.TalkInput(title=f"Liste {v}", visibility=v),
                                  users["organiser"]) for v in ("public", "internal")}  # fmt: skip
    for talk in by_visibility.values():
        _live_part(settings, talk.id, playlist=False)
    for talk in [turned, *listed.values()]:
        _live_part(settings, talk.id)
    # a segment only the internal talk has (asked for under the public talk's name below)
    (settings.paths.live(by_visibility["internal"].id) / "part-0001"
     / "seg-00002.ts").write_bytes(INTERNAL_ONLY)  # fmt: skip
    app = create_app(settings)  # the same routes and secret as the served app
    # The test's client is 127.0.0.1, like nginx: /metrics is allowed elsewhere here, so
    # that, as for a person on the internet, it is not for any of the matrix's people.
    env = {"KTL_ACCEL_REDIRECT": "/_media/", "KTL_TRUSTED_PROXIES": "127.0.0.1",
           "KTL_EMBEDDED_WORKER": "0", "KTL_METRICS_ALLOW": "192.0.2.1"}  # fmt: skip
    with serve(settings, root / "serve.log", **env) as base:
        port = urlsplit(base).port
        with nginxserver.nginx_in_front(root / "nginx", port, settings.media_dir) as front:
            client = httpx.Client(base_url=front.https, verify=False, timeout=30)
            with client:
                yield {"users": users, "talks": by_visibility, "upload": upload.id,
                       "client": client, "app": app, "settings": settings, "nginx": front,
                       "direct": base, "on_air": on_air, "turned": turned,
                       "listed": listed, "log": root / "serve.log"}  # fmt: skip


def _live_part(settings, talk_id: int, playlist: bool = True) -> None:
    """A live part as ffmpeg leaves it: one segment and the part's own playlist."""
    part = settings.paths.live(talk_id) / "part-0001"
    part.mkdir(parents=True)
    (part / "seg-00001.ts").write_bytes(SEGMENT)
    if playlist:
        (part / ffargs.PLAYLIST).write_text(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000,\nseg-00001.ts\n"
        )


def _session(site: dict, person: str) -> dict[str, str]:
    with database.session(site["settings"]) as db:
        token = accounts.start_session(db, site["users"][person].id, 1)
    return {SESSION_COOKIE: token, ANON_COOKIE: "nginx-anon"}


def _get(site: dict, person: str | None, url: str, **headers: str) -> httpx.Response:
    client = site["client"]
    client.cookies.clear()
    for name, value in (_session(site, person) if person else {}).items():
        client.cookies.set(name, value)
    return client.get(url, headers=headers)


def test_access_matrix_through_nginx(site):
    failures = matrix_failures(site)
    assert failures == [], "\n".join(failures)


def test_nginx_sends_the_media_the_app_allowed(site):
    talk = site["talks"]["public"]
    folder = site["settings"].media_dir / str(talk.id)
    for path, kind in [
        ("vod/poster.jpg", "image/jpeg"),
        ("vod/stream_0/seg_00000.ts", "video/mp2t"),
    ]:
        response = _get(site, None, f"/media/{talk.id}/{path}")
        assert response.status_code == 200, response.text
        assert response.content == (folder / path).read_bytes()
        assert response.headers["content-type"] == kind
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert "x-accel-redirect" not in response.headers
        assert response.headers["strict-transport-security"]
    internal = site["talks"]["internal"]
    answer = _get(site, "viewer", f"/media/{internal.id}/vod/poster.jpg")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, max-age=3600"
    original = _get(site, "viewer", f"/talks/{internal.slug}/original", Range="bytes=0-9")
    assert original.status_code == 206 and len(original.content) == 10
    assert "opptak.mp4" in original.headers["content-disposition"]


def test_live_segments_from_nginx_cacheable_where_public(site):
    for visibility, cache in [("public", "public"), ("internal", "private")]:
        talk = site["talks"][visibility]
        url = f"/live/{talk.slug}/part-0001/seg-00001.ts"
        response = _get(site, "viewer", url)
        assert response.status_code == 200 and response.content == SEGMENT
        assert response.headers["cache-control"] == f"{cache}, max-age=300, immutable"
        assert response.headers["content-type"] == "video/mp2t"
    internal = site["talks"]["internal"]
    guest = _get(site, None, f"/live/{internal.slug}/part-0001/seg-00001.ts")
    assert guest.status_code == 404 and guest.content != SEGMENT
    gone = _get(site, None, f"/live/{site['talks']['public'].slug}/part-0001/seg-00009.ts")
    assert gone.status_code == 404 and "finnes ikke lenger" in gone.text


def _app_saw(site: dict, needle: str) -> int:
    """How many requests with `needle` in their path reached the app (its access log)."""
    lines = site["log"].read_text(errors="replace").splitlines()
    return sum(1 for line in lines if "ktl.access" in line and needle in line)


def test_live_segments_come_from_nginx_without_asking_the_app(site):
    """A public talk's segment comes from nginx alone, for everyone; an internal talk's too
    once the app has said, for that viewer's session, that they may watch it. Every answer
    of the app carries an X-Request-ID; nginx's own answers do not."""
    public, internal = site["talks"]["public"], site["talks"]["internal"]
    for person in (None, "viewer", "organiser"):
        for key in (public.slug, public.id):
            answer = _get(site, person, f"/live/{key}/part-0001/seg-00001.ts")
            assert answer.status_code == 200 and answer.content == SEGMENT
            assert "x-request-id" not in answer.headers, "nginx answers without the app"
            assert answer.headers["cache-control"] == "public, max-age=300, immutable"
            assert answer.headers["content-type"] == "video/mp2t"
            assert answer.headers["strict-transport-security"]
    before = _app_saw(site, "/seg-00001.ts")
    for _ in range(3):
        private = _get(site, "viewer", f"/live/{internal.slug}/part-0001/seg-00001.ts")
        assert private.status_code == 200 and private.content == SEGMENT
        assert "x-request-id" not in private.headers and "x-accel-redirect" not in private.headers
        assert private.headers["cache-control"] == "private, max-age=300, immutable"
        assert private.headers["content-type"] == "video/mp2t"
    assert _app_saw(site, "/seg-00001.ts") == before, "no segment request reached the app"
    assert _app_saw(site, f"/live/{internal.slug}/tilgang") >= 1
    guest = _get(site, None, f"/live/{internal.slug}/part-0001/seg-00001.ts")
    assert guest.status_code == 404 and guest.content != SEGMENT
    assert "Fant ikke foredraget" in guest.text, "the app's own answer to a guest"


def test_a_session_that_ends_loses_the_internal_broadcast(site):
    """nginx keeps a viewer's yes for ten seconds: after signing out, the internal talk's
    segments stop within that time (and at once for a new request without the session)."""
    internal = site["talks"]["internal"]
    url = f"/live/{internal.slug}/part-0001/seg-00001.ts"
    cookies = _session(site, "viewer")
    client = site["client"]
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    assert client.get(url).content == SEGMENT
    with database.session(site["settings"]) as db:
        accounts.end_session(db, cookies[SESSION_COOKIE])
    deadline = time.monotonic() + 60
    while client.get(url).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    ended = client.get(url)
    assert ended.status_code == 404 and ended.content != SEGMENT


def _request_ids(site: dict, person: str | None, url: str, times: int) -> list[str]:
    ids = []
    for _ in range(times):
        answer = _get(site, person, url)
        assert answer.status_code == 200 and answer.text.startswith("#EXTM3U")
        assert "part-0001/seg-00001.ts" in answer.text
        assert "set-cookie" not in answer.headers or person is not None
        ids.append(answer.headers["x-request-id"])
    return ids


def test_live_playlist_is_fetched_once_for_everyone_who_may(site):
    """A talk's playlist comes from nginx's one-second cache: people asking one after the
    other get the same answer of the app (the same request id), which sets no cookie. For
    an internal talk, only those the app said may watch; a guest gets the app's 404."""
    for visibility, people, cache in [
        ("public", (None, "viewer", None, "admin"), "public, max-age=1"),
        ("internal", ("viewer", "admin", "organiser"), "no-cache, no-store"),
    ]:
        talk = site["listed"][visibility]
        url = f"/live/{talk.slug}/index.m3u8"
        ids = [i for person in people * 3 for i in _request_ids(site, person, url, 1)]
        assert any(a == b for a, b in itertools.pairwise(ids)), (visibility, ids)
        cached = _get(site, people[0], url)
        assert cached.headers["cache-control"] == cache
        assert "set-cookie" not in cached.headers, "no one's cookie is kept and handed out"
    internal = site["listed"]["internal"]
    guest = _get(site, None, f"/live/{internal.slug}/index.m3u8")
    assert guest.status_code == 404 and "#EXTM3U" not in guest.text


def test_live_path_tricks_through_nginx(site):
    """Names that try to reach another talk's live files, or nginx's internal locations,
    get nothing they may not have."""
    public, internal = site["talks"]["public"], site["talks"]["internal"]
    draft = site["talks"]["draft"]
    refused = [
        f"/live/{public.slug}/part-0001/seg-00002.ts",  # the internal talk's segment name
        f"/live/{public.slug}/../{internal.id}/part-0001/seg-00002.ts",
        f"/live/{public.slug}/%2e%2e/{internal.id}/part-0001/seg-00002.ts",
        f"/live/{public.slug}%2F..%2F{internal.id}/part-0001/seg-00002.ts",
        f"/live/{public.slug}/part-0001%2F..%2F..%2F..%2F{internal.id}/live/part-0001/seg-00002.ts",
        f"/live/{internal.id}/part-0001/seg-00002.ts",
        f"/live/{internal.slug}/part-0001/seg-00002.ts",
        f"/live/{draft.id}/part-0001/seg-00001.ts",
        f"/live/{internal.slug}/index.m3u8",
        f"/live/{internal.id}/tilgang",
        "/_ktl_live_guest",
        "/_ktl_live_member",
        f"/_media/{internal.id}/live/part-0001/seg-00002.ts",
    ]
    for url in refused:
        answer = _get(site, None, url)
        assert answer.status_code in (403, 404), (url, answer.status_code)
        assert answer.content != INTERNAL_ONLY, url
    for person in (None, "viewer"):  # under the public talk's name: its own folder only
        answer = _get(site, person, refused[0])
        assert answer.status_code == 404 and "finnes ikke lenger" in answer.text
    staff = _get(site, "viewer", f"/live/{internal.slug}/part-0001/seg-00002.ts")
    assert staff.status_code == 200 and staff.content == INTERNAL_ONLY


def test_nginx_question_is_answered_for_the_one_asking(site):
    """/live/<talk>/tilgang: may the one asking watch? The talk's id only with a yes."""
    talks_ = site["talks"]
    for person, visibility, yes in [
        (None, "public", True), (None, "internal", False), (None, "draft", False),
        ("viewer", "internal", True), ("viewer", "draft", False),
        ("other_organiser", "draft", False), ("organiser", "draft", True),
        ("admin", "draft", True),
    ]:  # fmt: skip
        talk = talks_[visibility]
        answer = _get(site, person, f"/live/{talk.slug}/tilgang")
        assert answer.status_code == (200 if yes else 403), (person, visibility)
        assert answer.headers.get("x-ktl-talk") == (str(talk.id) if yes else None)
        assert not answer.content
    assert _get(site, "admin", "/live/finnes-ikke/tilgang").status_code == 403


def test_ended_broadcast_and_a_talk_no_longer_public(site):
    """When the broadcast has ended (its live folder is gone) the app answers, in Norwegian;
    a talk made internal is refused to guests within a few seconds (nginx keeps the
    answer a second, the app its look-up two), and still reaches staff."""
    turned = site["turned"]
    url = f"/live/{turned.slug}/part-0001/seg-00001.ts"
    assert _get(site, None, url).content == SEGMENT
    with database.session(site["settings"]) as db, write(db):
        db.execute("UPDATE talks SET visibility = 'internal' WHERE id = ?", [turned.id])
    deadline = time.monotonic() + 30
    while _get(site, None, url).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    guest = _get(site, None, url)
    assert guest.status_code == 404 and guest.content != SEGMENT
    assert _get(site, None, f"/live/{turned.slug}/index.m3u8").status_code == 404
    staff = _get(site, "viewer", url)
    assert staff.status_code == 200 and staff.headers["cache-control"].startswith("private")
    shutil.rmtree(site["settings"].paths.live(turned.id))
    for person in ("viewer", None):
        ended = _get(site, person, url)
        assert ended.status_code == 404 and ended.content != SEGMENT
    assert "finnes ikke lenger" in _get(site, "viewer", url).text
    public = site["talks"]["public"]
    gone = _get(site, None, f"/live/{public.slug}/part-0009/seg-00001.ts")
    assert gone.status_code == 404 and "finnes ikke lenger" in gone.text


def _state_events(base: str, url: str, count: int) -> list[dict]:
    """The first `count` state events of a fresh guest's event stream."""
    events = []
    client = httpx.Client(base_url=base, verify=False, timeout=30)
    with client, client.stream("GET", url) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    return events
    return events


def test_viewers_are_counted_from_the_event_stream(site):
    """The playlist of a public talk no longer reaches the app for each viewer, so the
    viewers are the talk pages listening to the broadcast's events (?ser=1), through nginx;
    the organiser's page (no ?ser) is not a viewer."""
    talk = site["on_air"]
    watching = f"/live/{talk.slug}/hendelser?ser=1"
    first = httpx.Client(base_url=site["nginx"].https, verify=False, timeout=30)
    with first, first.stream("GET", watching) as stream:
        lines = stream.iter_lines()
        first_state = next(json.loads(x[6:]) for x in lines if x.startswith("data: "))
        assert first_state["viewers"] == 1
        assert _state_events(site["nginx"].https, watching, 1)[0]["viewers"] == 2
        organiser = _state_events(site["nginx"].https, f"/live/{talk.slug}/hendelser", 1)[0]
        assert organiser["viewers"] == 1, "the organiser's page is not a viewer"
    deadline = time.monotonic() + 30
    while _state_events(site["nginx"].https, f"/live/{talk.slug}/hendelser", 1)[0]["viewers"] != 0:
        assert time.monotonic() < deadline, "a viewer who left is no longer counted"
        time.sleep(0.2)


RESOURCES = """(part) => performance.getEntriesByType('resource')
  .filter(e => e.name.includes(part)).length"""


@pytest.mark.browser
@pytest.mark.integration
def test_a_guest_watches_a_public_broadcast_through_nginx(settings, tmp_path):
    """A real SRT encoder, `ktl serve` behind the shipped site, a guest's Chromium: hls.js
    plays from nginx's cached playlist and nginx's own segments, none of which reach the
    app, and the organiser's page counts the guest as watching."""
    from playwright.sync_api import sync_playwright

    need("nginx", "openssl")
    require_chromium()
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Direkte for alle", visibility="public"),
                            organiser)  # fmt: skip
    env = {"KTL_SRT_BIND": "127.0.0.1", "KTL_SRT_PORTS": str(free_port()),
           "KTL_LIVE_CAPTIONS": "false", "KTL_EMBEDDED_WORKER": "0",
           "KTL_ACCEL_REDIRECT": "/_media/", "KTL_TRUSTED_PROXIES": "127.0.0.1"}  # fmt: skip
    log = tmp_path / "serve.log"
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(serve(settings, log, **env))
        front = stack.enter_context(nginxserver.nginx_in_front(
            tmp_path / "nginx", urlsplit(base).port, settings.media_dir)).https  # fmt: skip
        pw = stack.enter_context(sync_playwright())
        client, token = _sign_in(base, organiser.email)
        stack.callback(client.close)
        publisher = _publish(_open_encoder(client, token, talk.slug), 90)
        stack.callback(publisher.communicate)
        stack.callback(publisher.kill)
        _wait(lambda: _broadcast_state(settings, talk.id) == "live", 30, "the broadcast")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.goto(f"{front}/talks/{talk.slug}?direkte=1")
        page.wait_for_function(
            "() => document.getElementById('live-video').currentTime > 2", timeout=60_000
        )
        assert page.evaluate(RESOURCES, "/seg-") >= 1
        assert page.evaluate(RESOURCES, "index.m3u8") >= 1
        watching = _state_events(front, f"/live/{talk.slug}/hendelser", 1)[0]
        assert watching["viewers"] == 1
    served = [line for line in log.read_text().splitlines() if "ktl.access" in line]
    assert not [line for line in served if "/seg-" in line], "segments came from nginx"
    assert [line for line in served if "index.m3u8" in line], "the playlist from the app"


def test_internal_location_is_not_reachable_from_outside(site):
    talk = site["talks"]["public"]
    for url in [f"/_media/{talk.id}/vod/poster.jpg", f"/_media/{talk.id}/original.mp4",
                f"/_media/{talk.id}/live/part-0001/seg-00001.ts", "/_media/"]:  # fmt: skip
        assert _get(site, "admin", url).status_code == 404, url


def test_plain_http_moves_to_https(site):
    response = httpx.get(site["nginx"].http + "/arkiv", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://")


def test_large_tus_upload_streams_through(site):
    """A body well above nginx's 16 MiB backstop reaches the tus server."""
    client, app = site["client"], site["app"]
    client.cookies.clear()
    cookies = _session(site, "organiser")
    for name, value in cookies.items():
        client.cookies.set(name, value)
    size = 24 * 1024 * 1024
    token = csrf_token(app.state.secret, cookies[SESSION_COOKIE], cookies[ANON_COOKIE])
    headers = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": token}
    created = client.post("/uploads/", headers={**headers, "Upload-Length": str(size)})
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    patch = {**headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    sent = client.patch(location, headers=patch, content=b"\x00" * size)
    assert sent.status_code == 204, sent.text
    assert sent.headers["upload-offset"] == str(size)


def test_live_ingest_websocket_through_nginx(site):
    """The Upgrade passes; the app still sees the site's own origin (X-Forwarded-Host)."""
    talk, base = site["talks"]["public"], site["nginx"].https
    url = base.replace("https://", "wss://") + f"/talks/{talk.slug}/direkte/sender"
    cookie = f"{SESSION_COOKIE}={_session(site, 'organiser')[SESSION_COOKIE]}"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    async def hello(origin: str):
        headers = {"Cookie": cookie, "Origin": origin}
        try:
            async with websockets.connect(url, ssl=context, additional_headers=headers) as ws:
                await ws.send(json.dumps({"type": "hello", "stream": "nginx"}))
                return json.loads(await ws.recv())
        except websockets.InvalidStatus as exc:  # refused before the handshake ends
            return exc.response.status_code

    answer = asyncio.run(hello(base))
    assert isinstance(answer, dict) and "allerede et opptak" in answer["message"], answer
    assert asyncio.run(hello("https://evil.example")) == 403


def test_site_config_passes_nginx_t(tmp_path):
    need("nginx", "openssl")
    config, _, _ = nginxserver.configure(tmp_path, 8000, tmp_path)
    checked = nginxserver.check(config)
    assert checked.returncode == 0, checked.stderr


def test_systemd_units_verify(tmp_path):
    """`systemd-analyze verify` on the units, with ExecStart pointing at this ktl."""
    need("systemd-analyze")
    ktl = Path(sys.executable).parent / "ktl"
    assert ktl.exists(), "ktl is installed in the virtual environment"
    units = {"ktl.service": "ktl.service", "ktl-worker@.service": "ktl-worker@1.service",
             "ktl-web@.service": "ktl-web@8001.service"}  # fmt: skip
    for name, instance in units.items():
        text = (DEPLOY / "systemd" / name).read_text()
        assert "ExecStart=/opt/ktl/.venv/bin/ktl " in text
        (tmp_path / instance).write_text(text.replace("/opt/ktl/.venv/bin/ktl", str(ktl)))
        for option in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                       "ReadWritePaths=/var/lib/ktl", "Restart=always", "User=ktl"):  # fmt: skip
            assert option in text, f"{name}: {option}"
    paths = [str(tmp_path / i) for i in units.values()]
    result = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    assert shutil.which("systemd-analyze")


def test_environment_example_names_real_settings():
    from server.core.config import Settings

    names = {f"KTL_{f.upper()}" for f in Settings.__dataclass_fields__}
    lines = (DEPLOY / "ktl.env.example").read_text().splitlines()
    used = {line.lstrip("# ").split("=")[0] for line in lines if "=" in line and "KTL_" in line}
    assert used and used <= names, used - names
