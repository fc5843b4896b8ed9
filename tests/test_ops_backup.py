"""`ktl backup` of a busy server and `ktl restore` elsewhere, through the real CLI: a real
`ktl serve` with a job running in its embedded worker and requests going on is backed up;
the backup is restored into an empty folder and a new `ktl serve` on it shows the same
talks, transcripts, versions, quiz attempts, search hits and playable media."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from server.catalogue import talks
from server.cli import import_recording
from server.core.config import Settings
from server.learning import progress, quizzes
from server.ops import backup as ops_backup
from server.people import accounts
from server.pipeline import jobs
from server.pipeline.worker import Worker
from server.store import db as database
from server.transcript import editing
from tests import factories
from tests.conftest import need
from tests.liveserver import serve

KEPT_TABLES = ("talks", "recordings", "transcript_versions", "attempts", "questions",
               "watch_progress", "users", "audit_log", "search_segments")  # fmt: skip
EDITED_WORD = "Bakkebygdvegen"  # only in the edited version: a search hit proves it came along


def _ktl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KTL_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env={**environment, **(env or {})},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _processed_talk(settings: Settings, engine, clip: Path) -> dict:
    """A talk through the real pipeline (package, Whisper, index), then edited, quizzed,
    watched: every kind of thing a backup must keep."""
    talk = import_recording(
        settings, clip,
        talks.TalkInput(title="Byggesak for alle", speaker="Ola", department="Plan og bygg",
                        language="en", visibility="public"),
    )  # fmt: skip
    worker = Worker(settings, engine_factory=lambda: engine)
    while worker.run_once():
        pass
    with database.session(settings) as db:
        assert jobs.latest_for_talk(db, talk.id).state == "done"
        admin = accounts.create_user(db, "admin@kommune.no", "Admin", "admin", password="x" * 12)
        staff = accounts.create_user(db, "kari@kommune.no", "Kari", "viewer", password="x" * 12)
        current = editing.load_current(settings, talk.id)
        first = current.segments[0]
        edited = [first.__class__(first.start, first.end, f"{first.text} {EDITED_WORD}."),
                  *current.segments[1:]]  # fmt: skip
        row = db.execute("SELECT transcript_version FROM talks WHERE id = ?", [talk.id])
        editing.save(db, settings, talk.id, edited, row.fetchone()[0], admin, "stedsnavn")
        question = quizzes.QuestionInput(kind=quizzes.KINDS[0], text="Hvor lang tid tar det?",
                                         options=("Tre uker", "Ett år"), correct=(0,))  # fmt: skip
        talk = talks.get(db, talk.id)
        qid = quizzes.save_question(db, talk, question, admin)
        quizzes.save_settings(db, talk, "80", True, True, admin)
        quizzes.submit(db, staff.id, talk.id, {str(qid): "0"})
        progress.record(db, staff.id, talk.id, {"intervals": [[0, 3]], "position": 3})
    return talk


def _rows(db_path: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        sql = f"SELECT * FROM {table} ORDER BY rowid"
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _keep_busy(base: str, stop: threading.Event, answers: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            for path in ("/", "/arkiv", f"/sok?q={EDITED_WORD}", "/healthz"):
                answers.append(client.get(path).status_code)


def _wait_running(db_path: Path, talk_id: int, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.session(db_path) as db:
            job = jobs.latest_for_talk(db, talk_id)
        if job.state == "running" and job.stage:  # claimed, and at work on a stage
            return job.stage
        assert job.state != "failed", job.error
        time.sleep(0.1)
    pytest.fail("the embedded worker never took the second job")


@pytest.fixture(scope="module")
def world(tmp_path_factory, engine):
    """A source installation, backed up while busy; module-wide (the pipeline is slow)."""
    need("ffmpeg", "espeak-ng")
    root = tmp_path_factory.mktemp("backup")
    from server.core.config import load_settings

    settings = load_settings(env={}, data_dir=root / "source").replace(embedded_worker=False)
    settings.ensure_dirs()
    database.init(settings.db_path)
    speech = factories.speech_wav(root / "speech.wav")
    talk = _processed_talk(settings, engine, factories.video(root / "a.mp4", speech, 12.0))
    busy_clip = factories.video(root / "b.mp4", speech, 20.0)
    second = import_recording(
        settings, busy_clip, talks.TalkInput(title="Under behandling", language="en")
    )
    dest = root / "backup"
    with serve(settings.data_dir, root / "source.log", KTL_WORKER_POLL_SECONDS="0.2") as base:
        stop, answers = threading.Event(), []
        busy = threading.Thread(target=_keep_busy, args=(base, stop, answers))
        busy.start()
        try:
            stage = _wait_running(settings.db_path, second.id)
            done = _ktl("--data-dir", str(settings.data_dir), "backup", str(dest), "--with-media")
            with database.session(settings) as db:
                after = jobs.latest_for_talk(db, second.id).state
        finally:
            stop.set()
            busy.join()
    return {"settings": settings, "talk": talk, "second": second, "dest": dest, "root": root,
            "backup": done, "stage": stage, "after": after, "answers": answers}  # fmt: skip


def test_a_busy_server_is_backed_up_consistently(world):
    done = world["backup"]
    assert done.returncode == 0, done.stderr
    assert "Sikkerhetskopien er i" in done.stdout
    assert world["stage"] in jobs.STAGES  # a job was running in the embedded worker ...
    assert world["answers"] and set(world["answers"]) == {200}  # ... and requests went on
    dest: Path = world["dest"]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["schema_version"] == len(database.all_migrations())
    paths = {f["path"] for f in manifest["files"]}
    talk_id = world["talk"].id
    assert {"ktl.db", f"transcripts/{talk_id}/transcript.json"} <= paths
    assert any(p.startswith(f"media/{talk_id}/vod/") and p.endswith(".ts") for p in paths)
    assert not any("/.work-" in p or "/.uploads/" in p for p in paths)
    for entry in manifest["files"]:
        size, digest = ops_backup.sha256_copy(dest / entry["path"], None)
        assert (size, digest) == (entry["size"], entry["sha256"]), entry["path"]
    assert not (dest / "ktl.db-wal").exists()  # one self-contained database file
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".backup")]
    conn = sqlite3.connect(dest / "ktl.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    speed = conn.execute(  # the worker recorded its real-time factor (for /metrics)
        "SELECT audio_seconds, wall_seconds FROM transcription_stats WHERE talk_id = ?", [talk_id]
    ).fetchall()
    conn.close()
    assert len(speed) == 1 and speed[0][0] > 5 and speed[0][1] > 0


def test_restore_refuses_a_folder_that_is_not_empty(world, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "ktl.db").write_text("noe annet")
    done = _ktl("--data-dir", str(taken), "restore", str(world["dest"]))
    assert done.returncode == 2
    assert "er ikke tom" in done.stderr and "tom eller ny mappe" in done.stderr
    assert (taken / "ktl.db").read_text() == "noe annet"


def test_restore_refuses_a_damaged_backup_and_writes_nothing(world, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(world["dest"], damaged)
    transcript = next((damaged / "transcripts").rglob("transcript.json"))
    transcript.write_text(transcript.read_text().replace("e", "E", 1))
    target = tmp_path / "target"
    done = _ktl("--data-dir", str(target), "restore", str(damaged))
    assert done.returncode == 2
    assert "stemmer ikke med sjekksummen" in done.stderr
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".target")]


def test_backup_refuses_an_existing_destination(world):
    done = _ktl("--data-dir", str(world["settings"].data_dir), "backup", str(world["dest"]))
    assert done.returncode == 2 and "finnes allerede" in done.stderr


def test_restored_installation_serves_the_same_things(world, tmp_path):
    target = tmp_path / "restored"
    done = _ktl("--data-dir", str(target), "restore", str(world["dest"]))
    assert done.returncode == 0, done.stderr
    assert "Gjenopprettet til" in done.stdout
    source, talk = world["settings"], world["talk"]
    for table in KEPT_TABLES:
        restored = _rows(target / "ktl.db", table)
        original = _rows(source.data_dir / "ktl.db", table)
        if table in ("talks", "recordings", "search_segments"):  # the second talk moved on
            first = {r[0] for r in original if table != "search_segments" or r[1] == talk.id}
            original = [r for r in original if r[0] in first]
            restored = [r for r in restored if r[0] in first]
        assert restored == original, table
    assert (target / "secret.key").stat().st_mode & 0o077 == 0
    tid = talk.id
    same = target / "transcripts" / str(tid) / "transcript.json"
    assert same.read_bytes() == (source.paths.transcript_json(tid)).read_bytes()
    log = tmp_path / "restored.log"
    with serve(target, log, KTL_EMBEDDED_WORKER="0") as base, httpx.Client(base_url=base) as client:
        page = client.get(f"/talks/{talk.slug}")
        hits = client.get("/sok", params={"q": EDITED_WORD})
        master = client.get(f"/media/{tid}/vod/master.m3u8")
        variant, segment = _first_segment(client, tid, master.text)
        ready = client.get("/readyz")
    assert page.status_code == 200 and "Byggesak for alle" in page.text
    assert hits.status_code == 200 and "Byggesak for alle" in hits.text
    assert master.status_code == 200 and variant.status_code == 200
    assert segment.status_code == 200 and len(segment.content) > 1000
    assert ready.status_code == 200, ready.text


def _first_segment(client: httpx.Client, talk_id: int, master: str):
    """The first variant playlist named by the master playlist, and its first segment."""
    name = next(line for line in master.splitlines() if line and not line.startswith("#"))
    variant = client.get(f"/media/{talk_id}/vod/{name}")
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    uri = re.search(r'#EXT-X-MAP:URI="([^"]+)"', variant.text)
    segment_name = (
        uri.group(1)
        if uri
        else next(line for line in variant.text.splitlines() if line and not line.startswith("#"))
    )
    return variant, client.get(f"/media/{talk_id}/vod/{folder}{segment_name}")


def test_backup_and_restore_on_postgresql_point_to_pg_dump(postgres_schema_url, tmp_path):
    """On PostgreSQL the database is not a file here: both commands refuse (exit 2) with a
    sentence naming pg_dump and pg_restore, and write nothing."""
    env = {"KTL_DATA_DIR": str(tmp_path / "data"), "KTL_DATABASE_URL": postgres_schema_url}
    taken = _ktl("backup", str(tmp_path / "kopi"), env=env)
    assert taken.returncode == 2, taken.stdout + taken.stderr
    assert "Ta sikkerhetskopi av PostgreSQL med pg_dump" in taken.stderr
    assert "Traceback" not in taken.stderr and not (tmp_path / "kopi").exists()
    (tmp_path / "kilde").mkdir()
    restored = _ktl("restore", str(tmp_path / "kilde"), env=env)
    assert restored.returncode == 2, restored.stdout + restored.stderr
    assert "«ktl restore» gjelder bare den innebygde SQLite-databasen" in restored.stderr
    assert "pg_restore" in restored.stderr
