"""Every route of the app, as `ktl serve` builds it, with hostile input: no request may
answer 5xx or hang.

Hypothesis (derandomized, a fixed number of examples per route, method and role) draws
path parameters (Unicode digits, ids beyond 64 bits, negative, empty, "..", percent
escapes, very long), query values, form fields and JSON bodies (nested, arrays, wrong
types, huge numbers, NaN) and sends them to each route with GET and the route's own
methods, as a guest, a signed-in viewer and an admin (who may reach every handler). The
signed-in requests carry a valid CSRF token, so they reach the handler. Valid values
(the talk's slug, real ids) are mixed in so that handlers are reached past their lookups.
"""

from __future__ import annotations

import collections
import json
import re
import threading
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from server.catalogue import talks
from server.learning import quizzes
from server.people import accounts
from server.pipeline import tus
from server.store import db as database
from server.web.app import create_app
from server.web.middleware import ANON_COOKIE, SESSION_COOKIE, csrf_token
from tests.conftest import CHOSEN, ENGINES
from tests.test_access_matrix import _talk
from tests.webclient import make_user

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 5  # per route, method and role
REQUEST_SECONDS = 60  # a request still running after this has hung
ROLES = ("guest", "viewer", "admin")
ANON = "fuzz-anon"

HOSTILE = [
    "", "0", "-1", "1", "²", "①", "٣", "²²²²", "𝟙𝟚", "99999999999999999999", str(2**63),
    str(-(2**63) - 1), "9" * 400, "1e309", "NaN", "Infinity", "-0", "1.5", "1,5", "0x10",
    "1_000", "+1", " 7 ", "..", "../../etc/passwd", "%2e%2e", "%00", "\x00", "x" * 3000,
    "true", "null", "[]", "{}", "<script>alert(1)</script>", "'; DROP TABLE talks;--",
    "\u202e", "æøå", "2024-13-45T25:61", "a/b", "\r\nX-Injected: 1",
]  # fmt: skip
RAW_BODIES = [
    b"[" * 20_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[1, 2, 3]", b'"text"', b"null",
    b'{"question_id": NaN, "answer": Infinity}', b"\xff\xfe\x00", b"1" * 5000,
    b'{"intervals": [[0, 1e999]], "position": -1e999}', b"a=%zz&b=%&c", b"--x\r\n\r\n",
]  # fmt: skip
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x",
    "text/plain", "application/offset+octet-stream", "",
]  # fmt: skip


def _names(pattern: str, folder: Path, glob: str) -> list[str]:
    found = set()
    for path in folder.rglob(glob):
        found.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return sorted(found)


FIELDS = [*_names(r'name="([a-z_0-9]+)"', ROOT / "templates", "*.html"), "segments", "q1"]
QUERY_NAMES = _names(r'query_params\.get\("([a-z_]+)"', ROOT / "server", "*.py")


@pytest.fixture(scope="module", params=[e for e in ENGINES if CHOSEN in ("", e)])
def world(tmp_path_factory, request):
    """One app for the whole walk, on SQLite and then on PostgreSQL (a database of its own)."""
    if request.param == "postgres":
        with request.getfixturevalue("postgres_server").migrated_database() as url:
            yield from _world(tmp_path_factory, url)
    else:
        yield from _world(tmp_path_factory, "")


def _world(tmp_path_factory, database_url: str):
    from server.core.config import load_settings

    data = tmp_path_factory.mktemp("fuzz") / "data"
    settings = load_settings(env={}, data_dir=data).replace(
        embedded_worker=False, live_captions=False, max_body_bytes=256 * 1024,
        database_url=database_url,
    )  # fmt: skip
    settings.ensure_dirs()
    database.init(settings)
    users = {role: make_user(settings, role) for role in ("viewer", "organiser", "admin")}
    users["target"] = make_user(settings, "viewer", email="maal@kommune.no")
    app = create_app(settings)
    world = {"settings": settings, "users": users, "app": app, "counts": collections.Counter()}
    _ensure(world)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        world["client"] = client
        yield world
    counts = world["counts"]
    combos = [k for k in counts if isinstance(k, tuple)]
    print(f"\nfuzz: {counts['requests']} requests, {len({k[0] for k in combos})} routes, "
          f"{len(combos)} route × method × role, {len(ROLES)} roles, "
          f"{counts['server_errors']} server errors; answers: "
          f"{', '.join(f'{k} {counts[k]}' for k in ('2xx', '3xx', '4xx'))}")  # fmt: skip


def _ensure(world: dict) -> None:
    """The talk (with a quiz and a timed question) and the people, as they were: an admin
    may have deleted the talk or changed a person."""
    settings, users = world["settings"], world["users"]
    with database.session(settings) as db:
        with database.write(db):
            for user in users.values():
                db.execute("UPDATE users SET active = 1, role = ? WHERE id = ?",
                           [user.role, user.id])  # fmt: skip
        talk = world.get("talk")
        if talk is None or talks.get(db, talk.id) is None:
            talk = _talk(db, settings, users["organiser"], "internal", "Fuzzing forklart")
            question = quizzes.QuestionInput("single", "Hvor mange?", at="0:01",
                                             options=("To", "Tre"), correct=(0,))  # fmt: skip
            world["question"] = quizzes.save_question(db, talk, question, users["organiser"])
            quizzes.save_settings(db, talk, "50", True, True, users["organiser"])
            world["talk"] = talk
        if world.get("upload") is None or tus.get(db, world["upload"]) is None:
            owner = {"ktl_owner": str(users["admin"].id)}
            world["upload"] = tus.create(db, settings, 64, owner).id


def _valid(world: dict) -> dict[str, list[str]]:
    talk, users = world["talk"], world["users"]
    return {
        "key": [talk.slug, str(talk.id)], "talk_id": [str(talk.id)],
        "user_id": [str(users["target"].id)], "question_id": [str(world["question"])],
        "qid": ["1"], "version": ["0", "1"], "upload_id": [world["upload"]],
        "fmt": ["json", "vtt", "srt", "txt"], "path": ["master.m3u8", "css/site.css"],
        "department": ["Kultur"], "code": ["feil-kode"], "token": ["x" * 43],
        "part": ["part-0001"], "name": ["seg-00001.ts"],
    }  # fmt: skip


def _cases(app) -> list[tuple[str, str, str]]:
    """(route name, URL template, method) for every route: GET and its own methods; the
    WebSocket route and the static mount by their HTTP form."""
    cases = []
    for route in app.routes:
        if isinstance(route, Mount):
            cases.append((route.name, route.path + "/{path}", "GET"))
        elif isinstance(route, WebSocketRoute):
            cases.append((route.name, route.path_format, "GET"))
        elif isinstance(route, Route):
            for method in sorted((route.methods - {"HEAD"}) | {"GET"}):
                cases.append((route.name, route.path_format, method))
    return cases


def _segment(valid: list[str], slashes: bool) -> st.SearchStrategy[str]:
    def encode(value: str) -> str:
        return quote(value, safe="/" if slashes else "")

    raw = st.sampled_from(["%2e%2e", "%2F", "%ff", "%00", "..", "-", "%20"])
    texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
    numbers = st.integers(-(2**70), 2**70).map(str)
    return st.one_of(
        st.sampled_from(valid).map(encode), st.sampled_from(HOSTILE).map(encode),
        numbers, texts.map(encode), raw,
    )  # fmt: skip


VALUES = st.one_of(
    st.sampled_from(HOSTILE), st.integers(-(2**70), 2**70).map(str),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)  # fmt: skip
JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(),
        st.sampled_from(HOSTILE),
    ),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
BODIES = st.one_of(
    st.none(),
    st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=8).map(
        lambda pairs: urlencode(pairs).encode()
    ),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5).map(
        lambda d: json.dumps(d, allow_nan=True).encode()
    ),
    JSON.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.sampled_from(RAW_BODIES),
)  # fmt: skip


def _request(world: dict, role: str, method: str, url: str, body, headers: dict) -> int:
    settings, client = world["settings"], world["client"]
    token = None
    if role != "guest":
        with database.session(settings) as db:
            token = accounts.start_session(db, world["users"][role].id, 1)
    cookie = f"{ANON_COOKIE}={ANON}" + (f"; {SESSION_COOKIE}={token}" if token else "")
    headers = {**headers, "cookie": cookie,
               "x-csrf-token": csrf_token(world["app"].state.secret, token, ANON)}  # fmt: skip
    result: dict = {}

    def send() -> None:
        client.cookies.clear()
        try:
            raw = {k: v.encode() for k, v in headers.items()}  # UTF-8 bytes, as sent
            response = client.request(method, url, content=body, headers=raw)
            result["status"] = response.status_code
        except BaseException as exc:  # reported below, in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(REQUEST_SECONDS)
    assert not thread.is_alive(), f"{method} {url} as {role}: no answer in {REQUEST_SECONDS} s"
    if "error" in result:
        raise result["error"]
    return result["status"]


def _check_route(world: dict, name: str, template: str, method: str, role: str) -> None:
    params = re.findall(r"{(\w+)}", template)
    valid = _valid(world)
    segments = st.fixed_dictionaries(
        {p: _segment(valid.get(p, ["x"]), slashes=(p == "path")) for p in params}
    )
    queries = st.dictionaries(st.sampled_from(QUERY_NAMES + FIELDS[:10]), VALUES, max_size=3)
    headers = st.fixed_dictionaries({
        "accept": st.sampled_from(["text/html", "application/json", "*/*"]),
        "content-type": st.sampled_from(CONTENT_TYPES),
        "upload-length": st.sampled_from(["64", "-1", "²", "99999999999999999999", "9" * 400]),
        "upload-offset": st.sampled_from(["0", "-1", "①", "18446744073709551616", "9" * 400]),
        "tus-resumable": st.just("1.0.0"),
    })  # fmt: skip

    @hypothesis_settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @given(segments=segments, query=queries, body=BODIES, headers=headers)
    def attempt(segments, query, body, headers):
        path = template
        for key, value in segments.items():
            path = path.replace("{" + key + "}", value)
        url = path + ("?" + urlencode(query) if query else "")
        status = _request(world, role, method, url, body if method != "GET" else None, headers)
        world["counts"]["requests"] += 1
        world["counts"][(name, method, role)] += 1
        world["counts"][f"{status // 100}xx"] += 1
        if status >= 500:
            world["counts"]["server_errors"] += 1
        _ensure(world)
        assert status < 500, f"{method} {url} as {role}: {status}"

    attempt()


def test_no_hostile_request_gets_a_server_error_or_hangs(world):
    cases = _cases(world["app"])
    names = {name for name, _, _ in cases}
    assert names == {r.name for r in world["app"].routes}, "every route is walked"
    for name, template, method in cases:
        for role in ROLES:
            _check_route(world, name, template, method, role)
    counts = world["counts"]
    assert counts["server_errors"] == 0
    assert len([k for k in counts if isinstance(k, tuple)]) == len(cases) * len(ROLES)
