"""The site scaled out, as README «Scaling out» draws it: Debian's PostgreSQL (a throwaway
cluster, tests/pgserver.py), one data folder shared by every process (the media mount),
two `ktl serve` processes without embedded workers behind Debian's nginx with the shipped
site (the first one also takes live ingest), and two `ktl worker` processes, each with a
KTL_WORK_DIR of its own, all on one KTL_DATABASE_URL.

An organiser uploads five short talks (espeak-ng speech over an ffmpeg test picture) with
the tus client tuspy through nginx. While the workers process them, one worker and one web
process are killed (SIGKILL). Then every talk is ready exactly once (one job each, finished;
each stage recorded once, the killed worker's unfinished stage finished by the other; each
transcript segment in the search index once), and each talk is found by a word of its
speech through the surviving web process and through nginx.

Real processes, real ffmpeg, the real Whisper base model, a real PostgreSQL and nginx.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from server.core.config import Settings, load_settings
from server.pipeline import jobs
from server.store import PgStore, write
from server.store import db as database
from tests import factories, nginxserver
from tests.conftest import need
from tests.liveserver import database_env, free_port, stop
from tests.test_web_processes import _client, _sign_in, _start, _token, _wait_up
from tests.webclient import make_user

pytestmark = [
    pytest.mark.integration,
    # nginx's certificate is self-signed: tuspy (requests) is told not to check it
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

# One word per talk that only its speech says (not its title): the search must find it in
# the transcript the workers wrote.
SPEECH = {
    "library": "Welcome to the lunch talk. Today the library opens a new reading room. "
    "The library is open every day.",
    "hospital": "Welcome to the lunch talk. The hospital has a new emergency room. "
    "The hospital needs more nurses.",
    "garden": "Welcome to the lunch talk. The school garden grows potatoes and apples. "
    "The garden needs water in summer.",
    "football": "Welcome to the lunch talk. The football field gets new grass this year. "
    "Football is played every evening.",
    "computer": "Welcome to the lunch talk. Every teacher gets a new computer. "
    "The computer keeps the lessons.",
}
WORKER_ENV = {
    "KTL_JOB_LEASE_SECONDS": "3",  # a killed worker's job is taken over after 3 s
    "KTL_WORKER_POLL_SECONDS": "0.2",
    "KTL_SLIDES": "0",  # no OCR: the test picture has no slides
}
HEADING = re.compile(r'<h2><a href="/talks/([^"?#]+)"')
DEADLINE = 420  # seconds for the five talks on a busy 2-core machine


@dataclass
class Site:
    settings: Settings
    nginx: str
    web: list[str]  # each `ktl serve` process's own address
    serve: list[subprocess.Popen]
    workers: list[subprocess.Popen]
    work_dirs: list[Path]


def test_the_caches_version_is_read_without_a_second_pooled_connection(postgres_schema_url):
    """Every request asks the short caches, which ask Store.version, while it holds a
    pooled connection: with as many requests as the pool lends, a version needing one more
    would leave them all waiting for the pool (the search under 20 clients stopped so)."""
    store = PgStore(postgres_schema_url, max_size=1)
    try:
        with store.read() as db:  # the pool's one connection, as a request holds it
            before = store.version()
            with write(db):
                db.execute("INSERT INTO audit_log (at, actor, action, target) "
                           "VALUES ('2026-01-01', 'test', 'la til', 'x')")  # fmt: skip
            assert store.version() != before, "a commit changes the version"
    finally:
        store.close()


def _worker(settings: Settings, work_dir: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, **WORKER_ENV, **database_env(settings), "KTL_WORK_DIR": str(work_dir)}
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.fixture
def site(tmp_path: Path, postgres_schema_url: str) -> Iterator[Site]:
    need("nginx", "openssl", "ffmpeg", "espeak-ng")
    settings = load_settings(env={}, data_dir=tmp_path / "data", database_url=postgres_schema_url)
    settings.ensure_dirs()
    ports = free_port(), free_port()
    fresh = {"KTL_SEARCH_CACHE_SECONDS": "0"}
    serve = [
        _start(settings, ports[0], tmp_path / "serve-a.log", **fresh),
        _start(settings, ports[1], tmp_path / "serve-b.log", KTL_LIVE_INGEST="0", **fresh),
    ]
    work_dirs = [tmp_path / "work-1", tmp_path / "work-2"]
    workers: list[subprocess.Popen] = []  # started by the test, stopped here
    try:
        web = [f"http://127.0.0.1:{port}" for port in ports]
        for base, process in zip(web, serve, strict=True):
            _wait_up(base, process)
        with nginxserver.nginx_in_front(
            tmp_path / "nginx", ports[0], settings.media_dir, more_ports=(ports[1],)
        ) as front:
            yield Site(settings, front.https, web, serve, workers, work_dirs)
    finally:
        for process in [*workers, *serve]:
            stop(process)


def _recordings(folder: Path) -> dict[str, Path]:
    """A few seconds of speech over a small H.264 test picture for each word."""
    clips = {}
    for word, text in SPEECH.items():
        speech = factories.speech_wav(folder / f"{word}.wav", text)
        clips[word] = factories.video(folder / f"{word}.mp4", audio=speech, seconds=8,
                                      size="320x180")  # fmt: skip
    return clips


def _upload(site: Site, client: httpx.Client, number: int, clip: Path) -> str:
    """A new talk made through nginx, its recording sent there by tuspy; the talk's slug."""
    form = {"title": f"Skalering {number}", "language": "en", "visibility": "public",
            "csrf_token": _token(client, "/talks/ny")}  # fmt: skip
    created = client.post("/talks", data=form)
    assert created.status_code == 303, created.text
    slug = created.headers["location"].split("#")[0].rsplit("/", 1)[1]
    token = _token(client, "/")
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = {"Cookie": cookie, "X-CSRF-Token": token}
    with clip.open("rb") as stream:
        uploader = tus_client.TusClient(f"{site.nginx}/uploads/", headers=headers).uploader(
            file_stream=stream, chunk_size=64 * 1024, metadata={"filename": clip.name},
            verify_tls_cert=False,
        )  # fmt: skip
        uploader.upload()
    assert uploader.url.startswith(f"{site.nginx}/uploads/"), uploader.url
    upload_id = uploader.url.rsplit("/", 1)[1]
    attached = client.post(f"/talks/{slug}/opptak", json={"upload_id": upload_id},
                           headers={"X-CSRF-Token": token})  # fmt: skip
    assert attached.status_code == 201, attached.text
    return slug


def _until(settings: Settings, predicate, what: str, timeout: float = DEADLINE):
    """Poll the database until `predicate(db)` returns something true; that value."""
    deadline = time.monotonic() + timeout
    with database.session(settings) as db:
        while time.monotonic() < deadline:
            value = predicate(db)
            if value:
                return value
            time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


def _held_in_stage(db, worker: subprocess.Popen) -> jobs.Job | None:
    """The job `worker` holds while it transcribes (the longest stage; its partial
    transcript is already searchable, so a second run could index it twice)."""
    prefix = jobs.worker_prefix(worker.pid)
    for row in db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall():
        job = jobs.get(db, row["id"])
        if job.worker.startswith(prefix) and job.stage == "transcribe":
            return job
    return None


def _all_done(db) -> bool:
    states = [row[0] for row in db.execute("SELECT state FROM jobs").fetchall()]
    assert "failed" not in states, _failures(db)
    return len(states) == len(SPEECH) and set(states) == {"done"}


def _failures(db) -> list:
    sql = "SELECT talk_id, stage, error FROM jobs WHERE state = 'failed'"
    return [tuple(row) for row in db.execute(sql).fetchall()]


def _found(base: str, word: str) -> tuple[list[str], bool]:
    """The talks a search for `word` lists (by slug), and whether it shows transcript hits."""
    with _client(base) as client:
        answer = client.get("/sok", params={"q": word})
    assert answer.status_code == 200, (base, answer.status_code)
    return HEADING.findall(answer.text), 'class="hit"' in answer.text


def test_two_web_processes_and_two_workers_survive_a_kill_each(site: Site, tmp_path: Path):
    settings = site.settings
    clips = _recordings(tmp_path)
    organiser = make_user(settings, "organiser")
    with _client(site.nginx) as client:
        assert _sign_in(client, organiser.email).status_code == 303
        slugs = {word: _upload(site, client, n, clip) for n, (word, clip) in
                 enumerate(clips.items(), 1)}  # fmt: skip

    # The workers start once the five jobs wait, so that each takes some of them; in the
    # middle of processing, the first worker transcribing a talk: kill it and B.
    for n, work_dir in enumerate(site.work_dirs, 1):
        work_dir.mkdir()
        site.workers.append(_worker(settings, work_dir, tmp_path / f"worker-{n}.log"))
    victim, survivor = site.workers
    held = _until(settings, lambda db: _held_in_stage(db, victim), "the first worker works")
    victim.send_signal(signal.SIGKILL)
    site.serve[1].send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    site.serve[1].wait(timeout=10)

    _until(settings, _all_done, "every talk processed")
    with database.session(settings) as db:
        ids = {w: db.execute("SELECT id FROM talks WHERE slug = ?", [s]).fetchone()[0]
               for w, s in slugs.items()}  # fmt: skip
        for word, talk_id in ids.items():
            status = db.execute("SELECT status FROM talks WHERE id = ?", [talk_id]).fetchone()[0]
            assert status == "ready", (word, status)
            rows = db.execute("SELECT id, state FROM jobs WHERE talk_id = ?", [talk_id]).fetchall()
            assert [row[1] for row in rows] == ["done"], (word, "one job, finished")
            job = jobs.get(db, rows[0][0])
            assert list(job.stages_done) == list(jobs.STAGES), word
            finished = db.execute(
                "SELECT stage FROM job_stages WHERE job_id = ? ORDER BY stage", [job.id]
            ).fetchall()
            assert [row[0] for row in finished] == sorted(jobs.STAGES), "each stage once"
            segments = json.loads(settings.paths.transcript_json(talk_id).read_text())["segments"]
            indexed = db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT idx) FROM search_segments WHERE talk_id = ?",
                [talk_id],
            ).fetchone()
            assert tuple(indexed) == (len(segments), len(segments)) and segments, word
            assert (settings.paths.vod(talk_id) / "master.m3u8").is_file(), word
        # The stage the killed worker was in was finished by the survivor, once.
        by_stage = jobs.stage_workers(db, held.id)
        assert by_stage[held.stage].startswith(jobs.worker_prefix(survivor.pid)), by_stage
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(SPEECH)

    for word, slug in slugs.items():
        for base in (site.web[0], site.nginx):
            listed, hits = _found(base, word)
            assert listed == [slug] and hits, (word, base, listed)
    leftovers = list(site.work_dirs[1].iterdir())
    assert leftovers == [], f"the surviving worker left scratch behind: {leftovers}"
    assert site.serve[0].poll() is None and survivor.poll() is None
