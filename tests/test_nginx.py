"""The production path with the real engines: Debian's nginx with deploy/nginx/kunnskap.conf
(TLS, HTTP/2) in front of `ktl serve` with KTL_ACCEL_REDIRECT, on free ports. Every rule of
the access table holds through nginx, media bytes come from nginx's internal location,
which nobody reaches from outside, and the systemd units verify."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from server.core.config import load_settings
from server.people import accounts
from server.pipeline import tus
from server.store import db as database
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token
from tests import nginxserver
from tests.conftest import need
from tests.liveserver import serve
from tests.test_access_matrix import VISIBILITIES, _talk, matrix_failures
from tests.webclient import make_user

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SEGMENT = b"G" + bytes(range(256)) * 40  # a live segment's bytes (content does not matter)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The access matrix's world, served by `ktl serve` behind nginx."""
    need("nginx", "openssl")
    root = tmp_path_factory.mktemp("nginx")
    settings = load_settings(env={}, data_dir=root / "data").replace(embedded_worker=False)
    settings.ensure_dirs()
    database.init(settings.db_path)
    users = {
        "viewer": make_user(settings, "viewer"),
        "organiser": make_user(settings, "organiser"),
        "other_organiser": make_user(settings, "organiser", email="annen@kommune.no"),
        "admin": make_user(settings, "admin"),
        "target": make_user(settings, "viewer", email="maal@kommune.no"),
    }
    with database.session(settings.db_path) as db:
        by_visibility = {
            v: _talk(db, settings, users["organiser"], v, f"Foredrag {v}") for v in VISIBILITIES
        }
        upload = tus.create(db, settings, 10, {"ktl_owner": str(users["organiser"].id)})
    for talk in by_visibility.values():
        part = settings.media_dir / str(talk["id"]) / "live" / "part-0001"
        part.mkdir(parents=True)
        (part / "seg-00001.ts").write_bytes(SEGMENT)
    app = create_app(settings)  # the same routes and secret as the served app
    # The test's client is 127.0.0.1, like nginx: /metrics is allowed elsewhere here, so
    # that, as for a person on the internet, it is not for any of the matrix's people.
    env = {"KTL_ACCEL_REDIRECT": "/_media/", "KTL_TRUSTED_PROXIES": "127.0.0.1",
           "KTL_EMBEDDED_WORKER": "0", "KTL_METRICS_ALLOW": "192.0.2.1"}  # fmt: skip
    with serve(settings.data_dir, root / "serve.log", **env) as base:
        port = urlsplit(base).port
        with nginxserver.nginx_in_front(root / "nginx", port, settings.media_dir) as front:
            client = httpx.Client(base_url=front.https, verify=False, timeout=30)
            with client:
                yield {"users": users, "talks": by_visibility, "upload": upload.id,
                       "client": client, "app": app, "settings": settings, "nginx": front,
                       "direct": base}  # fmt: skip


def _session(site: dict, person: str) -> dict[str, str]:
    with database.session(site["settings"].db_path) as db:
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
    folder = site["settings"].media_dir / str(talk["id"])
    for path, kind in [
        ("vod/poster.jpg", "image/jpeg"),
        ("vod/stream_0/seg_00000.ts", "video/mp2t"),
    ]:
        response = _get(site, None, f"/media/{talk['id']}/{path}")
        assert response.status_code == 200, response.text
        assert response.content == (folder / path).read_bytes()
        assert response.headers["content-type"] == kind
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert "x-accel-redirect" not in response.headers
        assert response.headers["strict-transport-security"]
    internal = site["talks"]["internal"]
    answer = _get(site, "viewer", f"/media/{internal['id']}/vod/poster.jpg")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, max-age=3600"
    original = _get(site, "viewer", f"/talks/{internal['slug']}/original", Range="bytes=0-9")
    assert original.status_code == 206 and len(original.content) == 10
    assert "opptak.mp4" in original.headers["content-disposition"]


def test_live_segments_from_nginx_cacheable_where_public(site):
    for visibility, cache in [("public", "public"), ("internal", "private")]:
        talk = site["talks"][visibility]
        url = f"/live/{talk['slug']}/part-0001/seg-00001.ts"
        response = _get(site, "viewer", url)
        assert response.status_code == 200 and response.content == SEGMENT
        assert response.headers["cache-control"] == f"{cache}, max-age=300, immutable"
        assert response.headers["content-type"] == "video/mp2t"
    internal = site["talks"]["internal"]
    guest = _get(site, None, f"/live/{internal['slug']}/part-0001/seg-00001.ts")
    assert guest.status_code == 404 and guest.content != SEGMENT
    gone = _get(site, None, f"/live/{site['talks']['public']['slug']}/part-0001/seg-00009.ts")
    assert gone.status_code == 404 and "finnes ikke lenger" in gone.text


def test_internal_location_is_not_reachable_from_outside(site):
    talk = site["talks"]["public"]
    for url in [f"/_media/{talk['id']}/vod/poster.jpg", f"/_media/{talk['id']}/original.mp4",
                f"/_media/{talk['id']}/live/part-0001/seg-00001.ts", "/_media/"]:  # fmt: skip
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
    url = base.replace("https://", "wss://") + f"/talks/{talk['slug']}/direkte/sender"
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
    units = {"ktl.service": "ktl.service", "ktl-worker@.service": "ktl-worker@1.service"}
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
