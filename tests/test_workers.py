"""Workers limited to some stages (`ktl worker --only`), each with a work folder of its own,
sharing one data folder: every stage is done by a worker that takes it, exactly once, also
when one is killed in the middle of a stage.

Real `ktl worker` processes, real ffmpeg, the real Whisper base model, espeak-ng speech.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from server.catalogue import talks
from server.cli import import_recording
from server.ops import doctor
from server.pipeline import jobs, presence
from server.pipeline import status as processing
from server.store import db as database
from server.store import open_store, write
from server.transcript import model as transcript
from tests import factories
from tests.conftest import need
from tests.liveserver import database_env, stop

pytestmark = pytest.mark.integration
REST = "package,index,slides,translate"


def _worker(settings, only: str, work_dir: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "KTL_DATA_DIR": str(settings.data_dir), "KTL_JOB_LEASE_SECONDS": "3",
           "KTL_WORKER_POLL_SECONDS": "0.2", "KTL_WORK_DIR": str(work_dir),
           **database_env(settings)}  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker", "--only", only],
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _until(settings, predicate, what: str, timeout: float = 240, watch=None):
    """Poll the jobs until `predicate(db)` is true; `watch()` runs at every poll."""
    deadline = time.monotonic() + timeout
    with database.session(settings) as db:
        while time.monotonic() < deadline:
            if watch is not None:
                watch()
            value = predicate(db)
            if value:
                return value
            time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout} s")


def _job(db, talk_id: int) -> jobs.Job:
    return jobs.latest_for_talk(db, talk_id)


@pytest.fixture
def other_disk(tmp_path):
    """A folder on another file system (tmpfs) where there is one, removed afterwards."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else tmp_path, prefix="ktl-work-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_workers_split_by_stage_each_stage_once_and_a_killed_one_is_taken_over(
    settings, tmp_path, other_disk
):
    need("ffmpeg", "espeak-ng")
    long_speech = factories.speech_wav(tmp_path / "long.wav", factories.LONG_ENGLISH_SPEECH)
    short_speech = factories.speech_wav(tmp_path / "short.wav", factories.ENGLISH_SPEECH)
    ids = [
        import_recording(settings, factories.audio_only(tmp_path / f"{n}.m4a", speech),
                         talks.TalkInput(title=f"Arbeidere {n}", language="en")).id
        for n, speech in enumerate([long_speech, short_speech])
    ]  # fmt: skip
    # The rest's work folder on another file system: its package is copied into the media
    # folder instead of renamed.
    rest_work = other_disk
    gpu_work, logs = tmp_path / "work-gpu", tmp_path
    rest = _worker(settings, REST, rest_work, logs / "rest.log")
    first = second = None
    try:
        # Only the rest runs: it packages both and hands them back for a transcriber.
        def handed_back(db):
            found = [_job(db, i) for i in ids]
            return all(jobs.handed_back(j) == "transcribe" for j in found) and found

        for job in _until(settings, handed_back, "both packaged and handed back"):
            assert job.stages_done == ("package",) and job.state == "queued"
            assert job.worker.startswith(jobs.worker_prefix(rest.pid))
        time.sleep(2)  # ten polls of the rest: it leaves the transcription alone
        with database.session(settings) as db:
            for talk_id in ids:
                job = _job(db, talk_id)
                assert (job.state, job.stages_done) == ("queued", ("package",))
                status = processing.for_talk(db, settings, talks.get(db, talk_id))
                assert status.notice == "Venter på en arbeider som kan transkribere"
                assert status.waiting_for_worker and status.waiting_for_stage == "transcribe"
                assert status.stages[0].state == "done"
            present = presence.running(db, settings.job_lease_seconds)
            assert [(w.pid, w.stages) for w in present] == [(rest.pid, set(REST.split(",")))]
            assert presence.unserved(db, settings.job_lease_seconds) == {"transcribe": 2}

        # A transcriber comes; it is killed while it transcribes the long talk.
        first = _worker(settings, "transcribe", gpu_work, logs / "first.log")

        def transcribing(db):
            job = _job(db, ids[0])
            held = job.worker and job.worker.startswith(jobs.worker_prefix(first.pid))
            return job.state == "running" and job.stage == "transcribe" and held and job

        _until(settings, transcribing, "the first transcriber takes the long talk")
        scratch = f".work-{ids[0]}-{_job_id(settings, ids[0])}-{first.pid}"
        _until(settings, lambda db: (gpu_work / scratch).is_dir(), "its scratch folder")
        time.sleep(0.5)  # extracting the audio or decoding: in the middle of the stage
        first.send_signal(signal.SIGKILL)
        first.wait()
        left = [p.name for p in gpu_work.glob(".work-*")]
        assert left == [scratch], "the killed transcriber's scratch is in its own work folder"
        assert not list(settings.media_dir.rglob(".work-*"))

        second = _worker(settings, "transcribe", gpu_work, logs / "second.log")

        def finished(db):
            found = [_job(db, i) for i in ids]
            return all(j.state in ("done", "failed") for j in found) and found

        done = _until(settings, finished, "both talks finished")
    finally:
        for process in (rest, first, second):
            if process is not None:
                stop(process)

    takers = {"rest": jobs.worker_prefix(rest.pid), "first": jobs.worker_prefix(first.pid),
              "second": jobs.worker_prefix(second.pid)}  # fmt: skip

    def who(name: str) -> str:
        return next(k for k, prefix in takers.items() if name.startswith(prefix))

    with database.session(settings) as db:
        for job in done:
            assert job.state == "done", job.error
            assert list(job.stages_done) == list(jobs.STAGES)
            assert talks.get(db, job.talk_id).status == "ready"
            rows = db.execute(
                "SELECT stage, worker FROM job_stages WHERE job_id = ?", [job.id]
            ).fetchall()
            assert sorted(r["stage"] for r in rows) == sorted(jobs.STAGES), "each stage once"
            by = {r["stage"]: who(r["worker"]) for r in rows}
            assert {s: w for s, w in by.items() if s != "transcribe"} == dict.fromkeys(
                ["package", "index", "slides", "translate"], "rest"
            )
            assert by["transcribe"] in ("first", "second")
            indexed = db.execute(
                "SELECT COUNT(*) FROM search_segments WHERE talk_id = ?", [job.talk_id]
            ).fetchone()[0]
            segments = talks_segments(settings, job.talk_id)
            assert indexed == segments > 0, "each segment indexed exactly once"
            assert settings.paths.master_playlist(job.talk_id).is_file()
        long_job = done[0]
        assert jobs.stage_workers(db, long_job.id)["transcribe"].startswith(takers["second"]), (
            "the killed transcriber's job was taken over after its lease and finished by the next"
        )
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(ids)
        left = [who(r["name"]) for r in db.execute("SELECT name FROM workers")]
        assert left == ["first"], "stopped workers leave the list; a killed one is not seen again"
    leftovers = [
        p for folder in (settings.data_dir, gpu_work, rest_work) for p in folder.rglob(".work-*")
    ]
    assert leftovers == [], f"orphan scratch folders: {leftovers}"


def _job_id(settings, talk_id: int) -> int:
    with database.session(settings) as db:
        return _job(db, talk_id).id


def talks_segments(settings, talk_id: int) -> int:
    return len(transcript.load(settings.paths.transcript_json(talk_id)).segments)


def test_a_limited_claim_takes_only_its_stages_and_a_hand_back_keeps_the_stages(db, settings):
    """In one process on the real database: the claim filter, the hand-back, the retry."""
    talk = factories.talk(db)
    process = jobs.enqueue(db, talk.id)
    again = jobs.enqueue(db, talk.id, "retranscribe")
    assert jobs.get(db, process).next_stage == "package"
    assert jobs.get(db, again).next_stage == "transcribe"

    gpu = frozenset({"transcribe"})
    job = jobs.claim(db, "gpu", 30, gpu)
    assert job.id == again, "the transcriber skips the job that needs packaging first"
    assert jobs.claim(db, "gpu", 30, gpu) is None
    cheap = jobs.claim(db, "cheap", 30, frozenset({"package", "index"}))
    assert cheap.id == process and cheap.attempts == 1
    with write(db):
        assert jobs.stage_done(db, cheap.id, "cheap", "package")
        assert jobs.hand_back(db, cheap.id, "cheap")
    back = jobs.get(db, process)
    assert (back.state, back.stages_done, back.next_stage, back.lease_until, back.attempts) == (
        "queued", ("package",), "transcribe", None, 0,
    )  # fmt: skip
    assert jobs.handed_back(back) == "transcribe"
    assert jobs.claim(db, "cheap", 30, frozenset({"package", "index"})) is None
    assert not jobs.hand_back(db, process, "cheap"), "only the holder hands a job back"

    taken = jobs.claim(db, "gpu-2", 30, gpu)
    assert (taken.id, taken.attempts, taken.stages_done) == (process, 1, ("package",))
    assert jobs.handed_back(taken) is None
    assert jobs.stage_done(db, process, "gpu-2", "transcribe")
    assert not jobs.stage_done(db, process, "gpu", "index"), "not the holder: refused"
    assert jobs.get(db, process).next_stage == "index"
    assert jobs.stage_workers(db, process) == {"package": "cheap", "transcribe": "gpu-2"}

    # A failed job retried keeps what was done and waits for the same stage.
    assert jobs.fail(db, process, "gpu-2", "stoppet")
    assert jobs.retry(db, process)
    retried = jobs.get(db, process)
    assert (retried.next_stage, retried.worker, jobs.handed_back(retried)) == ("index", None, None)


def test_stage_lists_are_checked(tmp_path):
    assert jobs.parse_stages("") is None and jobs.parse_stages(",".join(jobs.STAGES)) is None
    assert jobs.parse_stages(" Transcribe , index") == {"transcribe", "index"}
    with pytest.raises(jobs.StagesError, match="Ukjent trinn «transcode»"):
        jobs.parse_stages("transcode")
    env = {**os.environ, "KTL_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-m", "server.cli", "worker", "--only", "pakking"],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2
    assert "Feil: Ukjent trinn «pakking». Velg blant package, transcribe" in run.stderr


def test_a_worker_whose_postgresql_does_not_answer_says_so(tmp_path):
    from tests.liveserver import free_port

    url = f"postgresql://ktl:pg-passord-9@127.0.0.1:{free_port()}/ktl"  # nothing listens
    env = {**os.environ, "KTL_DATA_DIR": str(tmp_path / "data"), "KTL_DATABASE_URL": url}
    run = subprocess.run([sys.executable, "-m", "server.cli", "worker"],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "Feil: Fikk ikke kontakt med PostgreSQL på postgresql://ktl:***@127.0.0.1" in run.stderr
    assert "Traceback" not in run.stderr and "pg-passord-9" not in run.stderr


def test_the_claim_statements_take_each_job_once_on_postgresql(postgres_url):
    """The claim's own statements (jobs.claim_sql), with PostgreSQL's placeholder and FOR
    UPDATE SKIP LOCKED, run by six concurrent claimers on a throwaway PostgreSQL: every job
    is taken once, and a claimer limited to transcription takes only transcription."""
    from psycopg.rows import dict_row

    from server.store import postgres

    with postgres.connect(postgres_url, autocommit=True) as conn:
        postgres.migrate(conn)
        talk_id = conn.execute(
            "INSERT INTO talks (slug, title, created_at, updated_at) "
            "VALUES ('k', 'Kø', 'nå', 'nå') RETURNING id"
        ).fetchone()[0]
        for n in range(300):
            conn.execute(
                "INSERT INTO jobs (talk_id, kind, next_stage, created_at, updated_at) "
                "VALUES (%s, 'process', %s, 'nå', 'nå')",
                [talk_id, "transcribe" if n % 3 == 0 else "package"],
            )
    taken: dict[str, list[tuple[int, str]]] = {}

    def claimer(name: str, stages: list[str] | None) -> None:
        probe, take = jobs.claim_sql(
            None if stages is None else len(stages), "%s", "FOR UPDATE SKIP LOCKED"
        )
        mine = taken.setdefault(name, [])
        with postgres.connect(postgres_url, autocommit=True) as own:
            own.row_factory = dict_row
            while True:
                now, extra = time.time(), stages or []
                if own.execute(probe, [now, *extra]).fetchone() is None:
                    return
                row = own.execute(take, [name, now + 60, "nå", now, *extra]).fetchone()
                if row is not None:  # another claimer may have taken the last one
                    mine.append((row["id"], row["next_stage"]))

    threads = [
        threading.Thread(target=claimer, args=(f"w{n}", ["transcribe"] if n < 3 else None))
        for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    ids = [job_id for claims in taken.values() for job_id, _ in claims]
    assert sorted(ids) == list(range(1, 301)), "every job claimed exactly once"
    for name in ("w0", "w1", "w2"):
        assert {stage for _, stage in taken[name]} <= {"transcribe"}
    with postgres.connect(postgres_url, autocommit=True) as conn:
        rows = conn.execute("SELECT state, attempts, COUNT(*) FROM jobs GROUP BY 1, 2").fetchall()
    assert rows == [("running", 1, 300)]


def test_workers_claiming_at_once_through_the_store_take_each_job_once(settings, db):
    """jobs.claim as workers call it, four threads with a connection each from the store
    (SQLite: BEGIN IMMEDIATE one at a time; PostgreSQL: FOR UPDATE SKIP LOCKED)."""
    talk = factories.talk(db)
    queued = [jobs.enqueue(db, talk.id) for _ in range(60)]
    store = open_store(settings)
    taken: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        mine = taken.setdefault(name, [])
        with store.read() as own:
            while (job := jobs.claim(own, name, 60)) is not None:
                mine.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        store.close()
    claimed = [job_id for ids in taken.values() for job_id in ids]
    assert sorted(claimed) == queued, "every job claimed exactly once"
    states = db.execute("SELECT state, attempts, COUNT(*) FROM jobs GROUP BY state, attempts")
    assert [tuple(row) for row in states] == [("running", 1, 60)]


def test_the_embedded_worker_is_given_the_server_s_database(settings, monkeypatch):
    """`ktl serve`'s own worker works on the server's database, not on whatever the
    environment names (a server given its settings in code, as the tests do)."""
    from server.pipeline import supervisor

    monkeypatch.setenv("KTL_DATABASE_URL", "postgresql://andre@vert.kommune.no/annen")
    env = supervisor.worker_env(settings)
    assert env.get("KTL_DATABASE_URL") == (settings.database_url or None)
    assert env["KTL_DATA_DIR"] == str(settings.data_dir)


def test_running_workers_and_the_jobs_none_of_them_takes(db, settings):
    """server.pipeline.presence and `ktl doctor`'s check, on the real database."""
    talk = factories.talk(db)
    fresh, waiting = jobs.enqueue(db, talk.id), jobs.enqueue(db, talk.id)
    jobs.claim(db, "cheap", 30, frozenset({"package"}))  # the oldest: `fresh`
    assert jobs.stage_done(db, fresh, "cheap", "package") and jobs.hand_back(db, fresh, "cheap")
    lease = settings.job_lease_seconds

    assert presence.unserved(db, lease) == {"package": 1, "transcribe": 1}
    found = list(doctor.check_workers(settings))
    assert [f.level for f in found] == [doctor.WARN] * 3
    assert found[0].text.startswith("Ingen arbeider kjører nå")
    assert "1 jobb(er) venter på trinnet «transcribe»" in found[2].text
    assert "ktl worker --only transcribe" in found[2].text

    presence.announce(db, "cheap", frozenset({"package", "index"}))
    assert presence.unserved(db, lease) == {"transcribe": 1}
    presence.announce(db, "gpu", frozenset({"transcribe"}))
    assert presence.unserved(db, lease) == {}
    assert [(w.name, w.stages) for w in presence.running(db, lease)] == [
        ("cheap", {"package", "index"}), ("gpu", {"transcribe"}),
    ]  # fmt: skip
    texts = [f.text for f in doctor.check_workers(settings)]
    assert texts[1].startswith("Arbeideren gpu på ") and texts[1].endswith("tar transcribe.")
    assert len(texts) == 2, "no warning while every waiting job has a worker"

    db.execute("UPDATE workers SET seen_at = seen_at - ? WHERE name = 'gpu'", [lease + 1])
    assert presence.unserved(db, lease) == {"transcribe": 1}, "a worker not seen is gone"
    presence.announce(db, "gpu", frozenset({"transcribe"}))
    presence.leave(db, "gpu")
    assert [w.name for w in presence.running(db, lease)] == ["cheap"]
    presence.announce(db, "all", None)
    assert presence.unserved(db, lease) == {} and waiting


def test_metrics_count_running_workers_and_jobs_none_of_them_takes(settings, db):
    """/metrics through the app as it ships (local address, KTL_METRICS_ALLOW's default)."""
    from prometheus_client.parser import text_string_to_metric_families
    from starlette.testclient import TestClient

    from server.web.app import create_app

    talk = factories.talk(db)
    jobs.enqueue(db, talk.id)
    presence.announce(db, "gpu", frozenset({"transcribe"}))
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        text = client.get("/metrics").text
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("ktl_workers", ())] == 1
    assert samples[("ktl_jobs_unserved", (("stage", "package"),))] == 1


def test_a_stopped_worker_leaves_and_ends_its_lease_at_once(settings, tmp_path):
    """SIGTERM (systemd, `ktl serve`'s shutdown) in the middle of transcription: at its next
    progress report or stage the worker ends the lease of its job (the next worker need not
    wait for it to run out), leaves the list of running workers and exits cleanly."""
    need("ffmpeg", "espeak-ng")
    speech = factories.speech_wav(tmp_path / "long.wav", factories.LONG_ENGLISH_SPEECH)
    source = factories.audio_only(tmp_path / "talk.m4a", speech)
    talk = import_recording(settings, source, talks.TalkInput(title="Stopp", language="en"))
    work = tmp_path / "work"
    worker = _worker(settings, ",".join(jobs.STAGES), work, tmp_path / "worker.log")
    try:
        scratch = f".work-{talk.id}-{_job_id(settings, talk.id)}-{worker.pid}"

        def transcribing(db):
            return (work / scratch).is_dir() and _job(db, talk.id).stage == "transcribe"

        _until(settings, transcribing, "transcription under way")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        stop(worker)
    with database.session(settings) as db:
        job = _job(db, talk.id)
        assert (job.state, job.lease_until) == ("running", 0)
        assert job.worker.startswith(jobs.worker_prefix(worker.pid))
        assert job.stalled() and jobs.can_retry(job), "free for the next worker now"
        assert db.execute("SELECT COUNT(*) FROM workers").fetchone()[0] == 0


def test_a_worker_stopped_with_its_process_group_while_packaging_fails_nothing(settings, tmp_path):
    """systemd (KillMode=control-group) and `ktl serve`'s shutdown send SIGTERM to the worker
    and its ffmpeg at once: ffmpeg's ending is the stop, not a broken recording, so the talk
    stays in processing and the job goes to the next worker. (Which of the two notices first
    is a race; tests/test_ops_backup.py stops `ktl serve` while it copies a clip and met the
    other order in about one run of five before the worker knew.)"""
    need("ffmpeg", "espeak-ng")
    # MPEG-4 Part 2 must be encoded again (H.264 would only be copied, in a moment)
    source = factories.video(tmp_path / "long.mkv", None, 240.0, "1280x720", "mpeg4", "mp3")
    talk = import_recording(settings, source, talks.TalkInput(title="Pakkes", language="en"))
    env = {**os.environ, "KTL_DATA_DIR": str(settings.data_dir), "KTL_JOB_LEASE_SECONDS": "3",
           "KTL_WORKER_POLL_SECONDS": "0.2", **database_env(settings)}  # fmt: skip
    with (tmp_path / "worker.log").open("ab") as out:
        command = [sys.executable, "-m", "server.cli", "worker"]
        worker = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _until(settings, lambda db: _job(db, talk.id).stage == "package", "packaging under way")
        time.sleep(1.0)  # ffmpeg is at work
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        stop(worker)
    with database.session(settings) as db:
        job = _job(db, talk.id)
        assert (job.state, job.stage, job.error) == ("running", "package", None)
        assert job.stalled() and jobs.can_retry(job), "free for the next worker now"
        assert talks.get(db, talk.id).status == "processing"


def test_the_page_says_which_worker_a_handed_back_job_waits_for(signed_in, settings, db):
    """The talk page and status.json (Norwegian and English) through the app as it ships."""
    from server.people import accounts

    client = signed_in("organiser")
    talk = factories.talk(db, organiser=accounts.by_email(db, "organiser@kommune.no"))
    job_id = jobs.enqueue(db, talk.id)
    talks.set_status(db, talk.id, "processing")
    jobs.claim(db, "cheap", 60, frozenset({"package"}))
    assert jobs.stage_done(db, job_id, "cheap", "package") and jobs.hand_back(db, job_id, "cheap")
    url = f"/talks/{talk.slug}"

    status = client.get(f"{url}/status.json").json()
    assert status["notice"] == "Venter på en arbeider som kan transkribere"
    assert status["waiting_for_worker"] and status["waiting_for_stage"] == "transcribe"
    assert not status["can_retry"], "a handed-back job is healthy: nothing to retry"
    page = client.get(url).text
    assert '<p class="notice" id="stage-waiting" role="status" >' in page
    assert ">Venter på en arbeider som kan transkribere.</span>" in page
    english = client.get(f"{url}/status.json", headers={"Accept-Language": "en"}).json()
    assert english["notice"] == "Waiting for a worker that can transcribe"

    jobs.claim(db, "gpu", 60, frozenset({"transcribe"}))
    status = client.get(f"{url}/status.json").json()
    assert not status["waiting_for_worker"] and status["notice"] is None
    assert "Venter på en ledig arbeider. Behandlingen" in client.get(url).text, "the usual text"
