"""Every route × every kind of person × every visibility: allowed or denied.

The expectations below are the specification, written independently of server.people.access:
each route name maps to a policy, each policy says who gets in. The test fails when the
app has a route that is not listed here, so a new route cannot ship without a decision.
"""

from __future__ import annotations

import itertools

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from server.catalogue import search, talks
from server.people import accounts
from server.pipeline import tus
from server.store import db as database
from server.transcript import model as transcript
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token
from tests.webclient import make_user

PEOPLE = ("guest", "viewer", "organiser", "other_organiser", "admin")
VISIBILITIES = ("public", "internal", "draft")


def _sees(person: str, visibility: str) -> bool:
    return {
        "public": True,
        "internal": person != "guest",
        "draft": person in ("organiser", "admin"),  # the talk's own organiser and admins
    }[visibility]


def _edits(person: str, visibility: str) -> bool:
    return person in ("organiser", "admin")


POLICIES = {
    "anyone": lambda person, visibility: True,
    "see talk": _sees,
    "edit talk": _edits,
    "organisers": lambda person, visibility: person in ("organiser", "other_organiser", "admin"),
    "uploader": lambda person, visibility: person == "organiser",  # uploads are personal
    "member": lambda person, visibility: person != "guest" and _sees(person, visibility),
    "signed in": lambda person, visibility: person != "guest",
    "admins": lambda person, visibility: person == "admin",
    # /metrics: only KTL_METRICS_ALLOW addresses or the KTL_METRICS_TOKEN, never a role
    "monitoring": lambda person, visibility: False,
}
ROUTES = {
    "front": "anyone", "archive": "anyone", "search": "anyone", "search_json": "anyone",
    "static": "anyone", "login": "anyone", "login_submit": "anyone", "logout": "anyone",
    "forgot": "anyone", "forgot_submit": "anyone", "password_link": "anyone",
    "password_link_submit": "anyone", "oidc_start": "anyone", "oidc_callback": "anyone",
    "talk": "see talk", "talk_status": "see talk", "talk_download": "see talk",
    "talk_original": "see talk", "vod": "see talk", "transcript_lines": "see talk",
    "talk_edit": "edit talk", "talk_update": "edit talk", "talk_delete": "edit talk",
    "talk_attach": "edit talk", "talk_retry": "edit talk",
    "talk_new": "organisers", "talk_create": "organisers", "tus_collection": "organisers",
    "tus_upload": "uploader",
    "admin_users": "admins", "admin_user_create": "admins", "admin_user": "admins",
    "admin_user_update": "admins", "admin_user_reset": "admins", "admin_audit": "admins",
    "transcript_editor": "edit talk", "transcript_save": "edit talk",
    "transcript_versions": "edit talk", "transcript_restore": "edit talk",
    "transcript_review": "edit talk", "transcript_retranscribe": "edit talk",
    "transcript_accept": "edit talk", "transcript_suggestions": "edit talk",
    "vocabulary": "admins", "vocabulary_update": "admins", "talk_vocabulary_update": "edit talk",
    "set_language": "anyone",
    "quiz_edit": "edit talk", "quiz_update": "edit talk", "quiz_question_save": "edit talk",
    "quiz_question_delete": "edit talk", "quiz_reorder": "edit talk", "quiz_suggest": "edit talk",
    "quiz_preview": "edit talk", "quiz": "member", "quiz_submit": "member",
    "quiz_timed_json": "member", "quiz_timed_answer": "member",
    "progress_report": "member", "my_modules": "signed in", "talk_results": "edit talk",
    "reports": "admins", "reports_department": "admins", "reports_csv": "admins",
    "programme": "anyone", "programme_ics": "anyone", "programme_department_ics": "anyone",
    "signup": "member", "attendance": "edit talk", "attendance_register": "edit talk",
    "attendance_qr": "edit talk", "checkin": "member", "checkin_submit": "member",
    "live_page": "edit talk", "live_encoder": "edit talk", "live_passphrase": "edit talk",
    "live_end": "edit talk", "live_ingest": "edit talk", "live_playlist": "see talk",
    "live_events": "see talk", "live_may_watch": "anyone", "live_segment": "see talk",
    "live_ask": "member",
    "live_questions": "edit talk", "live_answered": "edit talk",
    "healthz": "anyone", "readyz": "anyone", "metrics": "monitoring",
    "talk_embed": "see talk",
    "note_create": "member", "note_list": "member", "note_download": "member",
    "note_update": "member", "note_delete": "member",
    "translation_download": "see talk", "translation_page": "edit talk",
    "translation_save": "edit talk", "translation_choose": "edit talk",
    "translation_review": "edit talk", "translation_restore": "edit talk",
    "slide_thumb": "see talk", "talk_chapters_vtt": "see talk",
    "chapters_edit": "edit talk", "chapters_save": "edit talk",
}  # fmt: skip
# Describing the tus server (OPTIONS) and refusing a plain POST are not about one upload.
METHOD_POLICIES = {("tus_upload", "OPTIONS"): "organisers", ("tus_upload", "POST"): "organisers"}
TALK_SCOPED = {
    name for name, policy in ROUTES.items() if policy in ("see talk", "edit talk", "member")
}
VOD_FILES = ("master.m3u8", "stream_0/index.m3u8", "stream_0/seg_00000.ts", "poster.jpg")


def _media(settings, talk: dict) -> None:
    vod = settings.paths.vod(talk.id)
    (vod / "stream_0").mkdir(parents=True)
    for name in VOD_FILES:
        (vod / name).write_bytes(b"#EXTM3U\n" if name.endswith(".m3u8") else b"\x00" * 64)
    (settings.media_dir / str(talk.id) / "original.mp4").write_bytes(b"\x00" * 64)
    segments = (transcript.Segment(0.0, 2.0, "hei"),)
    transcript.write_all(
        settings.transcripts_dir / str(talk.id),
        transcript.Transcript(language="nb", segments=segments),
    )


def _talk(db, settings, owner: accounts.User, visibility: str, title: str) -> dict:
    talk = talks.create(db, talks.TalkInput(title=title, visibility=visibility), owner)
    with database.write(db):
        db.execute(
            "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
            "created_at) VALUES (?, 'opptak.mp4', 'original.mp4', 64, 2.0, 1, '2026-01-01')",
            [talk.id],
        )
        talks.set_status(db, talk.id, "ready")
    _media(settings, talk)
    search.index_talk(db, talk.id, (transcript.Segment(0.0, 2.0, "hei"),), "nb")
    return talks.get(db, talk.id)


@pytest.fixture
def world(settings):
    users = {
        "viewer": make_user(settings, "viewer"),
        "organiser": make_user(settings, "organiser"),
        "other_organiser": make_user(settings, "organiser", email="annen@kommune.no"),
        "admin": make_user(settings, "admin"),
        "target": make_user(settings, "viewer", email="maal@kommune.no"),  # edited by admin routes
    }
    with database.session(settings) as db:
        talks_by_visibility = {
            v: _talk(db, settings, users["organiser"], v, f"Foredrag {v}") for v in VISIBILITIES
        }
        upload = tus.create(db, settings, 10, {"ktl_owner": str(users["organiser"].id)})
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        yield {"users": users, "talks": talks_by_visibility, "upload": upload.id,
               "client": client, "app": app, "settings": settings}  # fmt: skip


def _path(route: Route, world: dict, talk: dict, variant: str) -> str:
    values = {
        "key": talk.slug, "talk_id": talk.id, "fmt": variant, "path": variant,
        "upload_id": world["upload"], "token": "x" * 43, "user_id": world["users"]["target"].id,
        "version": 1, "question_id": 1, "department": "Kultur", "code": "feil-kode",
        "qid": 1, "part": "part-0001", "name": "seg-00001.ts", "note_id": 1,
        "thumb": "001.jpg",
    }  # fmt: skip
    return route.path_format.format(**{k: values[k] for k in route.param_convertors})


def _variants(name: str) -> tuple[str, ...]:
    downloads = ("json", "vtt", "srt", "txt")
    return {"talk_download": downloads, "translation_download": downloads,
            "vod": VOD_FILES}.get(name, ("",))  # fmt: skip


def _request(world: dict, person: str, method: str, url: str):
    settings, app, client = world["settings"], world["app"], world["client"]
    anon = "matrix-anon"
    token = None
    if person != "guest":
        with database.session(settings) as db:
            token = accounts.start_session(db, world["users"][person].id, 1)
    client.cookies.clear()
    client.cookies.set(ANON_COOKIE, anon)
    if token:
        client.cookies.set(SESSION_COOKIE, token)
    headers = {
        "X-CSRF-Token": csrf_token(app.state.secret, token, anon),
        "Accept": "text/html",
        "Tus-Resumable": "1.0.0",
    }
    if method == "PATCH":
        headers.update({"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
    if method == "POST" and url == "/uploads/":
        headers["Upload-Length"] = "10"
    return client.request(method, url, headers=headers, content=b"" if method != "PATCH" else b"x")


def _denied(response) -> bool:
    """The guard's answers: sign in first, not for you, or (for a talk) nothing here."""
    body = response.text
    if response.status_code == 401 and "Du må logge inn" in body:
        return True
    if response.status_code == 403 and "Du har ikke tilgang" in body:
        return True
    if response.status_code == 303 and response.headers["location"].startswith("/logg-inn"):
        return True
    if response.status_code == 404 and response.request.url.path == "/metrics":
        return "Siden finnes ikke" in body  # no such page unless KTL_METRICS_ALLOW/_TOKEN
    return response.status_code == 404 and (
        "Fant ikke foredraget" in body or "Opplastingen finnes ikke" in body
    )


def _cases(app_routes):
    for route in app_routes:
        if isinstance(route, Mount | WebSocketRoute):  # WebSockets: test_websocket_matrix
            continue
        for method in sorted(route.methods - {"HEAD"}):
            yield route, method


def test_every_route_has_a_policy_here(settings):
    names = {route.name for route in create_app(settings).routes}
    assert names == set(ROUTES), "add the new route to ROUTES with who may use it"


def matrix_failures(world) -> list[str]:
    """Every route as every person on every visibility; what differs from ROUTES.
    Also run through nginx (tests/test_nginx.py)."""
    failures = []
    for route, method in _cases(world["app"].routes):
        visibilities = VISIBILITIES if route.name in TALK_SCOPED else ("public",)
        for person, visibility, variant in itertools.product(
            PEOPLE, visibilities, _variants(route.name)
        ):
            talk = world["talks"][visibility]
            if route.name == "talk_delete":  # a talk of its own, so the others stay
                with database.session(world["settings"]) as db:
                    owner = world["users"]["organiser"]
                    talk = _talk(db, world["settings"], owner, visibility, "Slettes")
            if route.name == "tus_upload":  # a fresh upload each time (DELETE removes it)
                with database.session(world["settings"]) as db:
                    owner = str(world["users"]["organiser"].id)
                    world["upload"] = tus.create(db, world["settings"], 10, {"ktl_owner": owner}).id
            url = _path(route, world, talk, variant)
            response = _request(world, person, method, url)
            policy = METHOD_POLICIES.get((route.name, method), ROUTES[route.name])
            expected = POLICIES[policy](person, visibility)
            assert response.status_code < 500, f"{method} {url} as {person}: server error"
            if _denied(response) == expected:
                failures.append(f"{method} {url} as {person} ({visibility}): "
                                f"{response.status_code}, expected "
                                f"{'allowed' if expected else 'denied'}")  # fmt: skip
    return failures


def test_access_matrix(world):
    failures = matrix_failures(world)
    assert failures == [], "\n".join(failures)


def _connect(world: dict, person: str, url: str, origin: str = "http://testserver"):
    """Open a WebSocket as the person; returns the first message, or the close code when
    the handshake was refused."""
    from starlette.websockets import WebSocketDisconnect

    client = world["client"]
    client.cookies.clear()
    if person != "guest":
        with database.session(world["settings"]) as db:
            client.cookies.set(
                SESSION_COOKIE, accounts.start_session(db, world["users"][person].id, 1)
            )
    try:
        with client.websocket_connect(url, headers={"origin": origin}) as ws:
            ws.send_json({"type": "hello", "stream": "matrix"})
            return ws.receive_json()
    except WebSocketDisconnect as exc:
        return exc.code


def test_websocket_matrix(world):
    """Sending live from the browser: the talk's organiser and admins only, from this site."""
    routes = [r for r in world["app"].routes if isinstance(r, WebSocketRoute)]
    assert {r.name for r in routes} == {"live_ingest"}
    failures = []
    for route, person, visibility in itertools.product(routes, PEOPLE, VISIBILITIES):
        url = _path(route, world, world["talks"][visibility], "")
        answer = _connect(world, person, url)
        expected = POLICIES[ROUTES[route.name]](person, visibility)
        # allowed: the handshake is accepted (this talk already has a recording: refused
        # inside the protocol with a Norwegian message); denied: closed before accept
        allowed = isinstance(answer, dict) and "allerede et opptak" in answer.get("message", "")
        if allowed != expected or (not allowed and answer != 4403):
            failures.append(f"{url} as {person} ({visibility}): {answer}")
    assert failures == [], "\n".join(failures)
    url = _path(routes[0], world, world["talks"]["public"], "")
    assert _connect(world, "admin", url, origin="https://evil.example") == 4403


def test_static_files_are_public(world):
    for person in PEOPLE:
        response = _request(world, person, "GET", "/static/css/site.css")
        assert response.status_code == 200


def test_denied_talk_media_is_404_not_403(world):
    """Guessing an internal talk's media URL tells a guest nothing: the same 404 as nothing."""
    internal = world["talks"]["internal"]
    for path in VOD_FILES:
        response = _request(world, "guest", "GET", f"/media/{internal.id}/vod/{path}")
        missing = _request(world, "guest", "GET", f"/media/999999/vod/{path}")
        assert response.status_code == missing.status_code == 404
    for url in (f"/talks/{internal.slug}/transcript.vtt", f"/talks/{internal.slug}/original"):
        assert _request(world, "guest", "GET", url).status_code == 404


def test_search_shows_only_what_the_person_may_see(world):
    for person, expected in [
        ("guest", {"public"}), ("viewer", {"public", "internal"}),
        ("other_organiser", {"public", "internal"}),
        ("organiser", {"public", "internal", "draft"}), ("admin", set(VISIBILITIES)),
    ]:  # fmt: skip
        body = _request(world, person, "GET", "/sok.json?q=foredrag").json()
        titles = {talk["title"].split()[-1] for talk in body["talks"]}
        assert titles == expected, person
        hits = _request(world, person, "GET", "/sok.json?q=hei").json()["hits"]
        assert {h["title"].split()[-1] for h in hits} == expected, person
