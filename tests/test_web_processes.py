"""Two `ktl serve` processes on one data folder behind Debian's nginx with the shipped site
(deploy/nginx/kunnskap.conf, both processes in its `ktl` upstream, the first one also its
`ktl_ingest`) behave as one site: a session made through one counts in the other, failed
sign-ins are counted across both, a question asked through one reaches an event stream
opened on the other and both count all viewers, a broadcast's playlist and segments reach
viewers through either process (and its end), a talk created through one is found by a
search through the other at once (the short caches are kept 30 s here, so only their
invalidation can make that true), the organiser's live routes reach the receiving process
only, and when one process is killed the site keeps answering through nginx. All of it on
one SQLite file and again on one PostgreSQL database (KTL_DATABASE_URL): the module's site
is made once per engine."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.catalogue import talks
from server.core.config import Settings, load_settings
from server.live import broadcasts, events, ffargs
from server.store import db as database
from server.store import is_postgres, open_store, write
from tests import nginxserver
from tests.conftest import CHOSEN, ENGINES, need
from tests.liveserver import database_env, free_port
from tests.webclient import PASSWORD, make_user

SEGMENT = b"G" + bytes(range(256)) * 40  # a live segment's bytes (content does not matter)
CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')
ENV = {
    "KTL_EMBEDDED_WORKER": "0",
    "KTL_TRUSTED_PROXIES": "127.0.0.1",
    "KTL_ACCEL_REDIRECT": "/_media/",
    "KTL_LIVE_CAPTIONS": "0",
    "KTL_LOGIN_MAX_ATTEMPTS": "3",
    # Long enough that only invalidation, never the time running out, explains a change
    "KTL_SEARCH_CACHE_SECONDS": "30",
    "KTL_SESSION_CACHE_SECONDS": "30",
}


@pytest.fixture(scope="module", params=[e for e in ENGINES if CHOSEN in ("", e)])
def database_engine(request) -> str:
    """The engine (tests/conftest.py), for the whole module: the site below is started
    once per engine, and the tests run against it in their order (the last one kills B)."""
    return request.param


def _start(settings: Settings, port: int, log: Path, **env: str) -> subprocess.Popen:
    environment = {**os.environ, **ENV, **database_env(settings), **env}
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=environment, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "ktl serve exited early"
        with contextlib.suppress(OSError):
            urllib.request.urlopen(base + "/", timeout=1).close()
            return
        time.sleep(0.2)
    pytest.fail("ktl serve did not start")


def test_events_come_in_order_and_viewers_of_a_stopped_process_stop_counting(settings):
    store = open_store(settings)
    with store.read() as db:
        first = events.append(db, 1, "a", {"type": "question"})
        events.append(db, 1, "b", {"type": "state", "state": "live"})
        assert [(e[1], e[2], e[3]["type"]) for e in events.since(db, 0)] == [
            (1, "a", "question"), (1, "b", "state")]  # fmt: skip
        assert [e[3]["type"] for e in events.since(db, first)] == ["state"]
        events.report(db, "a", {1: (["u1", "a-gjest"], [1])})
        events.report(db, "b", {1: (["u1", "u2"], [1, 2]), 2: (["u3"], [3])})
        assert events.elsewhere(db, "a") == {1: ({"u1", "u2"}, {1, 2}), 2: ({"u3"}, {3})}
        events.report(db, "b", {2: (["u3"], [3])})  # b's viewers of talk 1 left
        assert events.elsewhere(db, "a") == {2: ({"u3"}, {3})}
        with write(db):  # b stopped without saying so: its row grows old
            db.execute("UPDATE live_presence SET seen_at = seen_at - 100 WHERE process = 'b'")
        assert events.elsewhere(db, "a") == {}
        events.prune(db, keep=-1)  # every event counts as old
        assert events.since(db, 0) == []
        assert events.elsewhere(db, "b") == {1: ({"u1", "a-gjest"}, {1})}, "a's row is kept"
        assert events.append(db, 1, "a", {"type": "question"}) > first + 1, "ids only grow"
    store.close()


def _waiting_for_the_events_lock(db) -> bool:
    """Whether a write unit waits for the lock `events.append` takes (PostgreSQL: pg_locks
    shows an advisory lock in this database not granted; SQLite shows no one waiting for its
    write lock, so this answers True)."""
    if not is_postgres(db):
        return True
    sql = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return db.execute(sql).fetchone()[0] == 1


def test_an_event_never_commits_after_a_later_one_was_read(settings):
    """Two processes append at once: the second to draw an id commits after the first one,
    so a process that tails by the last id it read never skips an event. (PostgreSQL commits
    writers side by side; without the lock `append` takes, B's event would be read while A's
    lower id was still to come, and the tail would have passed it for good.)"""
    with database.session(settings) as a, database.session(settings) as reader:
        with write(a):
            events.append(a, 1, "a", {"type": "question"})  # joins: not committed yet

            def append_b() -> None:
                with database.session(settings) as b:
                    events.append(b, 1, "b", {"type": "question"})

            thread = threading.Thread(target=append_b)
            thread.start()
            _wait(lambda: not thread.is_alive() or _waiting_for_the_events_lock(reader))
            thread.join(timeout=1)
            assert events.since(reader, 0) == [], "B's later id was read before A's"
            assert thread.is_alive(), "B's append waits for A's write unit to end"
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert [e[2] for e in events.since(reader, 0)] == ["a", "b"]


def test_viewers_held_by_other_processes_count_and_gather_live_minutes(tmp_path):
    """What the receiving process counts: its own viewers and, read from live_presence,
    those the other processes hold, each person once; all of them gather live minutes."""
    from server.live.manager import LiveManager

    manager = LiveManager(load_settings(env={}, data_dir=tmp_path / "data"))
    runtime = manager.runtime(7)
    manager.join(7, "u1", 1)
    runtime.others, runtime.others_present = {"u1", "u2", "a-gjest"}, {1, 2}
    assert manager.viewer_count(runtime) == 3
    runtime.state = broadcasts.LIVE
    manager.count_watching(runtime, 4.0)
    assert runtime.watching == {1: 4.0, 2: 4.0}


@pytest.fixture(scope="module")
def site_database(request, database_engine: str) -> Iterator[str]:
    """The site's database: "" (the data folder's SQLite file), or the URL of a new, empty
    PostgreSQL database (no schema yet: the two processes make it, starting together)."""
    if database_engine != "postgres":
        yield ""
        return
    with request.getfixturevalue("postgres_server").database() as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory, site_database: str) -> Iterator[dict]:
    need("nginx", "openssl")
    root = tmp_path_factory.mktemp("processes")
    settings = load_settings(env={}, data_dir=root / "data").replace(database_url=site_database)
    ports = free_port(), free_port()
    logs = root / "a.log", root / "b.log"
    # Both start together on a new data folder and database (the schema and the secret
    # key are made once); A receives live broadcasts, B does not.
    processes = [
        _start(settings, ports[0], logs[0]),
        _start(settings, ports[1], logs[1], KTL_LIVE_INGEST="0"),
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, process in zip(bases, processes, strict=True):
            _wait_up(base, process)
        users = {role: make_user(settings, role) for role in ("viewer", "organiser", "admin")}
        users["guest2"] = make_user(settings, "viewer", email="seer@kommune.no")
        users["locked"] = make_user(settings, "viewer", email="glemsk@kommune.no")
        with database.session(settings) as db:  # on air (no ffmpeg needed here)
            live = talks.create(db, talks.TalkInput(title="Sendes nå", visibility="internal"),
                                users["organiser"])  # fmt: skip
            broadcasts.ensure(db, live)
            broadcasts.set_state(db, live.id, broadcasts.LIVE)
        with nginxserver.nginx_in_front(
            root / "nginx", ports[0], settings.media_dir, more_ports=(ports[1],)
        ) as front:
            yield {"a": bases[0], "b": bases[1], "nginx": front.https, "users": users,
                   "processes": processes, "logs": logs, "live": live,
                   "settings": settings}  # fmt: skip
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def _client(base: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base, verify=False, timeout=30, headers=headers)


def _token(client: httpx.Client, path: str = "/logg-inn") -> str:
    return CSRF.search(client.get(path).text).group(1)


def _sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    data = {"email": email, "password": password, "csrf_token": _token(client)}
    return client.post("/logg-inn", data=data)


def _signed_in_as(client: httpx.Client, base: str, email: str) -> bool:
    """Whether `base` sees the client's session (the page names the signed-in person)."""
    page = httpx.get(base + "/", cookies=client.cookies, timeout=30).text
    return "/logg-ut" in page


def test_a_session_made_through_one_process_counts_in_the_other(site):
    with _client(site["nginx"]) as client:
        assert _sign_in(client, site["users"]["organiser"].email).status_code == 303
        for base in (site["a"], site["b"]):
            assert _signed_in_as(client, base, "organiser@kommune.no"), base
        # Each process has now remembered the session (KTL_SESSION_CACHE_SECONDS=30);
        # signing out through B ends it in A at once.
        with _client(site["b"]) as b:
            b.cookies = client.cookies
            assert b.post("/logg-ut", data={"csrf_token": _token(b, "/")}).status_code == 303
        assert not _signed_in_as(client, site["a"], "organiser@kommune.no")


def test_failed_sign_ins_are_counted_across_processes(site):
    """KTL_LOGIN_MAX_ATTEMPTS=3: three wrong passwords, through A, B and A, and the
    fourth try is refused by B even with the right password (one person's address,
    forwarded by nginx, so that the other tests' sign-ins are not held back)."""
    email = site["users"]["locked"].email
    a, b = (_client(site[k], **{"X-Forwarded-For": "203.0.113.9"}) for k in ("a", "b"))
    with a, b:
        for client in (a, b, a):
            assert _sign_in(client, email, "feil-passord").status_code == 401
        refused = _sign_in(b, email)
        assert refused.status_code == 429
        assert "For mange" in refused.text or "forsøk" in refused.text


def _read_events(base: str, path: str, cookies, found: dict, stop: threading.Event) -> None:
    """Reads an event stream in a thread; keeps every event by kind, the latest last."""
    with (
        contextlib.suppress(httpx.HTTPError),  # the process stopped (the last test kills B)
        httpx.Client(base_url=base, cookies=cookies, timeout=30) as client,
        client.stream("GET", path) as response,
    ):
        found["status"] = response.status_code
        kind = None
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                found.setdefault(kind, []).append(json.loads(line[6:]))


def _wait(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_question_asked_through_one_process_reaches_the_others_event_stream(site):
    """Two viewers watch, one through each process; both processes count two viewers.
    A question asked through A reaches the stream B holds (the organiser's page fetches
    the list on it), and one marked answered through B reaches the stream A holds."""
    slug = site["live"].slug
    viewers = []
    for base, email in ((site["a"], "viewer@kommune.no"), (site["b"], "seer@kommune.no")):
        client = _client(base)
        assert _sign_in(client, email).status_code == 303
        viewers.append(client)
    streams, stop, threads = [{}, {}], threading.Event(), []
    for client, found in zip(viewers, streams, strict=True):
        args = (str(client.base_url), f"/live/{slug}/hendelser?ser=1", client.cookies, found, stop)
        threads.append(threading.Thread(target=_read_events, args=args, daemon=True))
        threads[-1].start()
    try:
        assert _wait(lambda: all("state" in s for s in streams)), streams
        assert all(s["status"] == 200 for s in streams)

        def counted_by_both() -> bool:
            return all(s.get("state") and s["state"][-1]["viewers"] == 2 for s in streams)

        assert _wait(counted_by_both), [s.get("state") for s in streams]
        asker = viewers[0]
        sent = asker.post(f"/talks/{slug}/sporsmal", json={"text": "Når kommer opptaket?"},
                          headers={"X-CSRF-Token": _token(asker, "/")})  # fmt: skip
        assert sent.status_code == 201
        assert _wait(lambda: "question" in streams[1]), "B's stream heard of A's question"
        assert streams[1]["question"] == [{"type": "question"}], "no text to the viewers"

        organiser = _client(site["b"])
        viewers.append(organiser)  # closed with the viewers
        assert _sign_in(organiser, site["users"]["organiser"].email).status_code == 303
        listed = organiser.get(f"/talks/{slug}/sporsmal.json").json()["questions"]
        assert [q["text"] for q in listed] == ["Når kommer opptaket?"]
        marked = organiser.post(
            f"/talks/{slug}/sporsmal/{listed[0]['id']}/besvart",
            data={"answered": "1", "csrf_token": _token(organiser, "/")},
        )
        assert marked.status_code == 303
        assert _wait(lambda: len(streams[0].get("question", [])) >= 2), "A heard B's change"
    finally:
        stop.set()
        for client in viewers:
            client.close()
    for thread in threads:
        thread.join(timeout=1)  # a stream ends at its next event or keepalive


def test_viewers_reach_the_broadcast_through_either_process(site):
    """The parts of a broadcast are on disk (here a part as ffmpeg leaves it in A): the
    playlist through B names its segment, nginx sends the segment, and once the broadcast
    has ended (the receiving process writes that to the database) B's playlist says so."""
    settings, slug = site["settings"], site["live"].slug
    part = settings.paths.live(site["live"].id) / "part-0001"
    part.mkdir(parents=True)
    (part / "seg-00001.ts").write_bytes(SEGMENT)
    (part / ffargs.PLAYLIST).write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000,\nseg-00001.ts\n"
    )
    with _client(site["b"]) as b, _client(site["nginx"]) as front:
        for client in (b, front):
            assert _sign_in(client, site["users"]["viewer"].email).status_code == 303
        playlist = b.get(f"/live/{slug}/index.m3u8")
        assert playlist.status_code == 200 and "part-0001/seg-00001.ts" in playlist.text
        assert "#EXT-X-ENDLIST" not in playlist.text
        assert front.get(f"/live/{slug}/part-0001/seg-00001.ts").content == SEGMENT
        with database.session(settings) as db:
            broadcasts.set_state(db, site["live"].id, broadcasts.ENDED)
        assert "#EXT-X-ENDLIST" in b.get(f"/live/{slug}/index.m3u8").text


def test_a_talk_created_through_one_process_is_found_through_the_other_at_once(site):
    with _client(site["b"]) as searcher:
        before = searcher.get("/sok", params={"q": "kvanteberegning"})
        link = 'href="/talks/kvanteberegning-for-saksbehandlere"'
        assert before.status_code == 200 and link not in before.text
        with _client(site["a"]) as organiser:
            assert _sign_in(organiser, site["users"]["organiser"].email).status_code == 303
            token = _token(organiser, "/talks/ny")
            form = {"title": "Kvanteberegning for saksbehandlere", "language": "nb",
                    "visibility": "public", "csrf_token": token}  # fmt: skip
            assert organiser.post("/talks", data=form).status_code == 303
        # The same query, well within KTL_SEARCH_CACHE_SECONDS=30 of the first one
        after = searcher.get("/sok", params={"q": "kvanteberegning"})
        assert link in after.text


def test_the_organisers_live_routes_reach_the_receiving_process_only(site):
    slug = site["live"].slug
    with _client(site["nginx"]) as client:
        assert _sign_in(client, site["users"]["organiser"].email).status_code == 303
        for _ in range(4):
            assert client.get(f"/talks/{slug}/direkte").status_code == 200
        for _ in range(4):  # the rest of the site: either process
            assert client.get("/").status_code == 200
    logs = [log.read_text() for log in site["logs"]]
    assert f"/talks/{slug}/direkte" in logs[0] and f"/talks/{slug}/direkte" not in logs[1]
    with _client(site["b"]) as direct:  # B asked all the same (nginx set up otherwise)
        assert _sign_in(direct, site["users"]["organiser"].email).status_code == 303
        refused = direct.post(
            f"/talks/{slug}/direkte/koder",
            data={"csrf_token": _token(direct, "/")}, headers={"Accept": "application/json"},
        )  # fmt: skip
        assert refused.status_code == 503
        assert "KTL_LIVE_INGEST" in refused.json()["error"]


def test_the_site_keeps_answering_when_one_process_is_killed(site):
    """Run last in this module: it kills B."""
    b = site["processes"][1]
    b.send_signal(signal.SIGKILL)
    b.wait(timeout=10)
    with _client(site["nginx"]) as client:
        for path in ("/", "/program", "/sok?q=kvanteberegning", "/logg-inn"):
            for _ in range(3):  # round robin would have sent every other one to B
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
        assert _sign_in(client, site["users"]["admin"].email).status_code == 303
        assert "/logg-ut" in client.get("/").text
