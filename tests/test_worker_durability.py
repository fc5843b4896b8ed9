"""Kill the worker in the middle of a stage: a new worker finishes the talk exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from server import db as database
from server import talks
from server.cli import import_recording
from server.pipeline import jobs
from tests import factories

pytestmark = pytest.mark.integration


def _start_worker(settings) -> subprocess.Popen:
    env = {**os.environ, "KTL_DATA_DIR": str(settings.data_dir), "KTL_JOB_LEASE_SECONDS": "3",
           "KTL_WORKER_POLL_SECONDS": "0.2"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _wait(settings, talk_id: int, predicate, timeout: float = 180) -> jobs.Job:
    deadline = time.monotonic() + timeout
    with database.session(settings.db_path) as db:
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
        _wait(settings, talk["id"], lambda j: j.stage == stage and j.progress > 0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    assert _wait(settings, talk["id"], lambda j: True).state == "running"

    second = _start_worker(settings)
    try:
        job = _wait(settings, talk["id"], lambda j: j.state in ("done", "failed"))
    finally:
        second.terminate()
        second.wait(timeout=20)

    assert job.state == "done" and job.attempts == 2
    assert list(job.stages_done) == list(jobs.STAGES)
    with database.session(settings.db_path) as db:
        assert talks.get(db, talk["id"])["status"] == "ready"
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
        indexed = db.execute(
            "SELECT COUNT(*) FROM search_segments WHERE talk_id = ?", [talk["id"]]
        ).fetchone()[0]
    data = json.loads((settings.transcripts_dir / str(talk["id"]) / "transcript.json").read_text())
    assert indexed == len(data["segments"]) > 0, "each segment indexed exactly once"
    leftovers = [p for p in settings.data_dir.rglob(".work-*")]
    assert leftovers == [], f"orphan scratch folders: {leftovers}"
    assert (settings.media_dir / str(talk["id"]) / "vod" / "master.m3u8").is_file()
