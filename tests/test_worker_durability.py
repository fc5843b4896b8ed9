"""Kill the worker in the middle of a stage: a new worker finishes the talk exactly once;
and `ktl serve` starts its embedded worker again after every kill."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.catalogue import talks
from server.cli import import_recording
from server.pipeline import jobs
from server.store import db as database
from tests import factories, liveserver
from tests.conftest import need

pytestmark = pytest.mark.integration


def _start_worker(settings) -> subprocess.Popen:
    env = {**os.environ, "KTL_DATA_DIR": str(settings.data_dir), "KTL_JOB_LEASE_SECONDS": "3",
           "KTL_WORKER_POLL_SECONDS": "0.2", **liveserver.database_env(settings)}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _wait(settings, talk_id: int, predicate, timeout: float = 180) -> jobs.Job:
    deadline = time.monotonic() + timeout
    with database.session(settings) as db:
        while time.monotonic() < deadline:
            job = jobs.latest_for_talk(db, talk_id)
            if job and predicate(job):
                return job
            time.sleep(0.1)
    pytest.fail(f"job for talk {talk_id} did not reach the expected state in {timeout} s")


@pytest.mark.parametrize("stage", ["package", "transcribe"])
def test_killed_worker_job_resumes_and_finishes_once(stage, settings, tmp_path):
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.LONG_ENGLISH_SPEECH)
    # A VP9 source makes packaging a real transcode that takes a few seconds.
    source = factories.video(
        tmp_path / "talk.webm", audio=speech, seconds=45, size="640x360",
        vcodec="libvpx-vp9", acodec="libopus", extra=("-deadline", "realtime", "-cpu-used", "8"),
    )  # fmt: skip
    talk = import_recording(settings, source, talks.TalkInput(title="Robust", language="en"))

    first = _start_worker(settings)
    try:
        if stage == "package":
            _wait(settings, talk.id, lambda j: j.stage == stage and j.progress > 0.05)
        else:  # batched decoding reports progress per batch: a 45 s clip is one batch
            _wait(settings, talk.id, lambda j: j.stage == stage)
            time.sleep(1.0)  # loading the model or decoding: in the middle of the stage
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert _wait(settings, talk.id, lambda j: True).state == "running"

    second = _start_worker(settings)
    try:
        job = _wait(settings, talk.id, lambda j: j.state in ("done", "failed"))
    finally:
        second.terminate()
        second.wait(timeout=20)

    assert job.state == "done" and job.worker.startswith(jobs.worker_prefix(second.pid))
    assert job.attempts == 1, "a finished stage starts the count of attempts again"
    assert list(job.stages_done) == list(jobs.STAGES)
    with database.session(settings) as db:
        assert talks.get(db, talk.id).status == "ready"
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
        indexed = db.execute(
            "SELECT COUNT(*) FROM search_segments WHERE talk_id = ?", [talk.id]
        ).fetchone()[0]
    data = json.loads((settings.paths.transcript_json(talk.id)).read_text())
    assert indexed == len(data["segments"]) > 0, "each segment indexed exactly once"
    leftovers = [p for p in settings.data_dir.rglob(".work-*")]
    assert leftovers == [], f"orphan scratch folders: {leftovers}"
    assert (settings.paths.vod(talk.id) / "master.m3u8").is_file()


# --- `ktl serve` supervises its worker: kill -9 it twenty times, every talk still ends ready ---

KILLS = 20
SEED = 20240611
SERVE_ENV = {
    "KTL_EMBEDDED_WORKER": "1", "KTL_JOB_LEASE_SECONDS": "3", "KTL_WORKER_POLL_SECONDS": "0.2",
    "KTL_WORKER_RESTART_MAX_SECONDS": "1", "KTL_LIVE_CAPTIONS": "0",
}  # fmt: skip


@dataclass(frozen=True)
class Kill:
    talk_id: int
    stage: str  # the stage the job was in when its worker was killed
    attempts: int  # the claim's count of attempts at that stage
    pickup: float  # seconds from the kill until a new worker held the job
    progress: float  # seconds from the kill until the job moved forward again


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in task.read_text().split()]
    return found


def _proc(pid: int) -> tuple[str, str] | None:
    """(state letter, command line) of a process, or None when it is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return state, cmdline


def _serve_pid() -> int:
    serving = [p for p in _children(os.getpid()) if "server.cli serve" in (_proc(p) or ("", ""))[1]]
    assert len(serving) == 1, f"one `ktl serve` child of the test expected: {serving}"
    return serving[0]


def _worker_pid(serve_pid: int) -> int | None:
    """The live embedded worker; a zombie child of `ktl serve` fails the test at once."""
    live = []
    for pid in _children(serve_pid):
        proc = _proc(pid)
        if proc is None:
            continue
        assert proc[0] != "Z", f"worker {pid} was left a zombie"
        if "server.cli worker" in proc[1]:
            live.append(pid)
    assert len(live) <= 1, f"one embedded worker at a time: {live}"
    return live[0] if live else None


def _until(predicate, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout} s")


def _held(db, prefix: str) -> jobs.Job | None:
    row = db.execute(
        "SELECT id FROM jobs WHERE state = 'running' AND substr(worker, 1, ?) = ?",
        [len(prefix), prefix],
    ).fetchone()
    return jobs.get(db, row["id"]) if row else None


def _unfinished(db) -> int:
    sql = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
    return db.execute(sql).fetchone()[0]


def _clips(tmp_path: Path) -> list[Path]:
    """Two short recordings: VP9 (packaging transcodes) and H.264 (packaging remuxes)."""
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.ENGLISH_SPEECH)
    vp9 = factories.video(
        tmp_path / "a.webm", audio=speech, seconds=8, size="640x360", vcodec="libvpx-vp9",
        acodec="libopus", extra=("-deadline", "realtime", "-cpu-used", "8"),
    )  # fmt: skip
    return [vp9, factories.video(tmp_path / "b.mp4", audio=speech, seconds=8, size="320x180")]


def _import(settings, clips: list[Path], number: int) -> int:
    data = talks.TalkInput(title=f"Robust {number}", language="en")
    return import_recording(settings, clips[number % len(clips)], data).id


def _kill_once(db, serve_pid: int, rng: random.Random) -> Kill | None:
    """Kill the worker at a random moment of the job it holds; None when it held none then.
    A claim that is the job's last allowed attempt at its stage is let through (the poison
    limit is for jobs that never move forward; this test moves forward)."""
    pid = _until(lambda: _worker_pid(serve_pid), "a live embedded worker")
    prefix = jobs.worker_prefix(pid)
    held = _until(lambda: _held(db, prefix) or not _unfinished(db), "the worker claims a job")
    if held is True or held.attempts >= jobs.MAX_ATTEMPTS:
        return None
    time.sleep(rng.uniform(0.1, 2.5))
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # a zombie for a moment is normal; `ktl serve` must reap it (then the next look at its
    # children, which fails on any zombie, cannot meet this one half-reaped)
    _until(lambda: _proc(pid) is None, f"`ktl serve` reaps the killed worker {pid}", timeout=30)
    job = _held(db, prefix)  # the dead worker cannot change it any more
    if job is None:
        return None
    done_before = len(job.stages_done)
    stage = job.stage if job.stage not in job.stages_done else f"after {job.stage}"

    def taken() -> jobs.Job | None:
        now = jobs.get(db, job.id)
        return now if now.worker and not now.worker.startswith(prefix) else None

    def moved(now: jobs.Job) -> bool:
        return now.state == "done" or len(now.stages_done) > done_before or now.progress > 0

    _until(taken, f"a new worker takes job {job.id} over")
    pickup = time.monotonic() - killed_at
    _until(lambda: (now := taken()) is not None and moved(now), f"job {job.id} moves on")
    return Kill(job.talk_id, stage, job.attempts, pickup, time.monotonic() - killed_at)


def _check_talks(settings, talk_ids: list[int]) -> None:
    with database.session(settings) as db:
        for talk_id in talk_ids:
            assert talks.get(db, talk_id).status == "ready", f"talk {talk_id}"
            rows = db.execute("SELECT * FROM jobs WHERE talk_id = ?", [talk_id]).fetchall()
            assert len(rows) == 1 and rows[0]["state"] == "done", f"one job for talk {talk_id}"
            assert json.loads(rows[0]["stages_done"]) == list(jobs.STAGES)
            indexed = db.execute(
                "SELECT COUNT(*) FROM search_segments WHERE talk_id = ?", [talk_id]
            ).fetchone()[0]
            path = settings.paths.transcript_json(talk_id)
            segments = json.loads(path.read_text())["segments"]
            assert indexed == len(segments) > 0, f"talk {talk_id} indexed exactly once"
            assert (settings.paths.vod(talk_id) / "master.m3u8").is_file()
    leftovers = list(settings.data_dir.rglob(".work-*"))
    assert leftovers == [], f"orphan scratch folders: {leftovers}"


def _figures(kills: list[Kill], talk_ids: list[int]) -> str:
    stages = collections.Counter(k.stage for k in kills)
    per_talk = collections.Counter(k.talk_id for k in kills)
    attempts = collections.Counter(k.attempts for k in kills)
    lines = [f"{len(kills)} kills over {len(talk_ids)} talks; kills per stage: {dict(stages)}",
             f"kills per talk: {sorted(per_talk.values(), reverse=True)}; "
             f"attempt at the stage when killed: {dict(attempts)}"]  # fmt: skip
    for name in ("pickup", "progress"):
        values = [getattr(k, name) for k in kills]
        lines.append(f"kill -> {name}: min {min(values):.1f} s, median "
                     f"{statistics.median(values):.1f} s, max {max(values):.1f} s")  # fmt: skip
    lines += [f"  talk {k.talk_id} {k.stage:<16} attempt {k.attempts}  pickup {k.pickup:4.1f} s  "
              f"progress {k.progress:4.1f} s" for k in kills]  # fmt: skip
    return "\n".join(lines)


@pytest.mark.engine_independent  # the supervisor's restarts; one kill per stage runs on both
def test_serve_keeps_its_worker_alive_through_twenty_kills(settings, tmp_path):
    need("ffmpeg", "ffprobe", "espeak-ng")
    clips = _clips(tmp_path)
    rng = random.Random(SEED)
    talk_ids = [_import(settings, clips, number) for number in range(3)]
    kills: list[Kill] = []
    log_path = tmp_path / "serve.log"
    env = {**SERVE_ENV, **liveserver.database_env(settings)}
    with liveserver.serve(settings.data_dir, log_path, **env) as base:
        serve_pid = _serve_pid()
        with database.session(settings) as db:
            while len(kills) < KILLS:
                if not _unfinished(db):
                    talk_ids.append(_import(settings, clips, len(talk_ids)))
                kill = _kill_once(db, serve_pid, rng)
                kills += [kill] if kill else []
            _until(lambda: not _unfinished(db), "every job finishes", timeout=180)
        assert _serve_pid() == serve_pid and _proc(serve_pid)[0] != "Z", "the same `ktl serve`"
        last_worker = _worker_pid(serve_pid)
        assert last_worker, "a live worker at the end"
        assert urllib.request.urlopen(base + "/").status == 200
    assert _proc(last_worker) is None, "stopping `ktl serve` stopped and reaped its worker"
    _check_talks(settings, talk_ids)
    log = log_path.read_text()
    assert log.count("stoppet (signal SIGKILL)") >= KILLS, "each death is logged"
    assert log.count("Startet arbeider") > KILLS, "and each restart"
    print("\n" + _figures(kills, talk_ids))


def test_the_embedded_worker_goes_with_a_killed_serve(settings, tmp_path):
    """`ktl serve` killed without a shutdown leaves no orphan worker behind."""
    env = {"KTL_EMBEDDED_WORKER": "1", **liveserver.database_env(settings)}
    with liveserver.serve(settings.data_dir, tmp_path / "serve.log", **env):
        serve_pid = _serve_pid()
        worker = _until(lambda: _worker_pid(serve_pid), "the embedded worker starts", timeout=30)
        os.kill(serve_pid, signal.SIGKILL)
        try:
            _until(lambda: _proc(worker) is None or _proc(worker)[0] == "Z", "the worker ends", 30)
        finally:  # an orphan left by a failure here is ended, not left running
            if "server.cli worker" in (_proc(worker) or ("", ""))[1]:
                os.kill(worker, signal.SIGKILL)
