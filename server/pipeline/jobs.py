"""A durable job queue: claim with a lease, extend it by heartbeat.

A worker that dies leaves its lease to run out (or its supervisor expires it at once, see
``expire_leases``); the next worker claims the job again and skips the stages already
recorded as done. Finishing is conditional on still holding the lease, so a job is finished
exactly once.

``attempts`` counts the claims of the job's current stage: a claim adds one, a finished
stage sets it back to one (the claim goes on with the next stage). A job that keeps dying
at the same stage is given up after MAX_ATTEMPTS claims; a job that moves forward never is.

Workers limited to some stages (``ktl worker --only transcribe``, KTL_WORKER_STAGES): each
job carries ``next_stage``, the stage it needs next (its kind's first stage when queued; the
one after each finished stage; the last one while done but not yet finished). A worker
claims only jobs whose next stage it takes, and a worker whose next stage is not its own
hands the job back (``hand_back``: queued, lease cleared, stages done kept) for a worker
that takes it. Which worker finished each stage is in ``job_stages`` (one row per job and
stage: a second finish of the same stage would break its primary key).

The claim is one statement, the same shape on both engines: ``UPDATE jobs SET ... WHERE
id = (SELECT id ... ORDER BY id LIMIT 1) RETURNING *``. On SQLite it runs inside
``write(db)`` (BEGIN IMMEDIATE), which serialises claims: two workers never see the same
row as free. On PostgreSQL the inner SELECT gets ``FOR UPDATE SKIP LOCKED`` (``claim_sql``
with lock=...), so concurrent claims skip each other's locked row instead of waiting for it;
the claimer holds the row until it commits. tests/test_workers.py runs the same statements
on a throwaway PostgreSQL with concurrent claimers. A poll first reads whether anything is
free, so idle workers take no write lock.

Why the database and not a task queue (Celery, RQ, a broker): a job is already a durable row
that the status pages, retry and metrics read; claims are rare (one per stage of a talk,
minutes apart), which SKIP LOCKED serves for any number of workers; and operators run no
other service than the database they already back up and watch.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass

import sqlite_utils

from server.core.clock import now_iso
from server.core.i18n import N_
from server.store import inserted_id, is_postgres, write

PROCESS = "process"
STAGES = ("package", "transcribe", "index", "slides", "translate")
# Stages that run once the talk is watchable (it is marked ready before them); a failure
# there is recorded for the organiser and never fails the talk.
AFTER_READY = ("slides", "translate")
MAX_ATTEMPTS = 3
# The stages a job of each kind goes through, in order (the worker runs them; see
# server.pipeline.worker.Worker.KINDS). A kind not listed has no next stage: only a worker
# that takes every stage claims it (and fails it with a clear message).
KIND_STAGES: dict[str, tuple[str, ...]] = {
    PROCESS: STAGES,
    "retranscribe": ("transcribe",),  # another model, into a pending version
    "translate": ("translate",),  # the English track of a ready talk
    "slides": ("slides",),  # slides and chapters of a ready talk (`ktl slides`)
}
# Appended to the claim's inner SELECT: "" on SQLite (BEGIN IMMEDIATE serialises claims),
# "FOR UPDATE SKIP LOCKED" on PostgreSQL.
CLAIM_LOCK = ""
PG_CLAIM_LOCK = "FOR UPDATE SKIP LOCKED"


class StagesError(ValueError):
    """A list of stages names one that does not exist; the message says which."""


def parse_stages(text: str) -> frozenset[str] | None:
    """``package,transcribe`` (KTL_WORKER_STAGES, ``ktl worker --only``) as a set of stages;
    None (every stage) for an empty text or one naming all of them."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(STAGES))
    if unknown:
        message = N_("Ukjent trinn «%(stage)s». Velg blant %(stages)s, skilt med komma.")
        raise StagesError(message % {"stage": unknown[0], "stages": ", ".join(STAGES)})
    return None if not names or names == set(STAGES) else frozenset(names)


def next_stage(kind: str, done: tuple[str, ...] | list[str]) -> str | None:
    """The stage a job of `kind` needs next: the first not done, or its last one when all
    are done (the job is then only waiting to be finished)."""
    stages = KIND_STAGES.get(kind)
    if not stages:
        return None
    return next((stage for stage in stages if stage not in done), stages[-1])


@dataclass(frozen=True)
class Job:
    id: int
    talk_id: int
    kind: str
    state: str
    stage: str | None
    stages_done: tuple[str, ...]
    progress: float
    attempts: int
    worker: str | None
    error: str | None
    lease_until: float | None = None
    next_stage: str | None = None

    def stalled(self, now: float | None = None) -> bool:
        """Running, but its worker stopped extending the lease: it waits for a free worker."""
        now = time.time() if now is None else now
        return self.state == "running" and self.lease_until is not None and self.lease_until < now


def _job(row: object) -> Job:
    return Job(
        id=row["id"],
        talk_id=row["talk_id"],
        kind=row["kind"],
        state=row["state"],
        stage=row["stage"],
        stages_done=tuple(json.loads(row["stages_done"])),
        progress=row["progress"],
        attempts=row["attempts"],
        worker=row["worker"],
        error=row["error"],
        lease_until=row["lease_until"],
        next_stage=row["next_stage"],
    )


def worker_prefix(pid: int) -> str:
    """The start of the name of every worker that runs in process ``pid`` on this host."""
    return f"{socket.gethostname()}:{pid}:"


def enqueue(db: sqlite_utils.Database, talk_id: int, kind: str = PROCESS) -> int:
    """Insert a job; call inside the caller's transaction so the job and its cause land together."""
    stamp = now_iso()
    with write(db):
        cursor = db.execute(
            "INSERT INTO jobs (talk_id, kind, next_stage, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            [talk_id, kind, next_stage(kind, ()), stamp, stamp],
        )
        return inserted_id(cursor)


def claim(
    db: sqlite_utils.Database,
    worker: str,
    lease_seconds: float,
    stages: frozenset[str] | None = None,
) -> Job | None:
    """Take the oldest queued job, or one whose worker's lease ran out (its unfinished stage
    starts over, so its progress does too); with `stages`, only a job whose next stage is
    one of them. A poll that finds nothing free (read first) takes no write lock."""
    now = time.time()
    wanted = sorted(stages) if stages is not None else []
    lock = PG_CLAIM_LOCK if is_postgres(db) else CLAIM_LOCK
    probe, take = claim_sql(len(wanted) if stages is not None else None, lock=lock)
    if db.execute(probe, [now, *wanted]).fetchone() is None:
        return None  # an idle worker's poll reads only: no write lock while there is no work
    with write(db):
        params = [worker, now + lease_seconds, now_iso(), now, *wanted]
        row = db.execute(take, params).fetchone()
    return _job(row) if row else None


def claim_sql(stages: int | None, mark: str = "?", lock: str = CLAIM_LOCK) -> tuple[str, str]:
    """The claim's two statements: a read that tells whether any job is free, and the one
    UPDATE that takes the oldest. Parameters: (now, *stages) and (worker, lease_until,
    updated_at, now, *stages); `stages` is how many stages the worker is limited to (None:
    all). PostgreSQL runs it with lock=PG_CLAIM_LOCK (through PgDatabase, which turns `?`
    into psycopg's %s; raw psycopg callers pass mark="%s")."""
    only = "" if stages is None else f"AND next_stage IN ({', '.join([mark] * stages)})"
    free = f"(state = 'queued' OR (state = 'running' AND lease_until < {mark})) {only}"
    probe = f"SELECT 1 FROM jobs WHERE {free} LIMIT 1"
    take = f"""
        UPDATE jobs SET state = 'running', worker = {mark}, lease_until = {mark},
            attempts = attempts + 1, progress = 0, updated_at = {mark}
        WHERE id = (SELECT id FROM jobs WHERE {free} ORDER BY id LIMIT 1 {lock})
        RETURNING *
    """
    return probe, take


def heartbeat(db: sqlite_utils.Database, job: Job, worker: str, lease_seconds: float) -> bool:
    """Extend the lease; False when another worker has taken the job over."""
    with write(db):
        cursor = db.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
            [time.time() + lease_seconds, job.id, worker],
        )
    return cursor.rowcount == 1


def expire_leases(db: sqlite_utils.Database, prefix: str) -> int:
    """End the leases of a worker process that is known to be dead, so that the next worker
    takes its jobs over at once instead of waiting for the leases to run out."""
    with write(db):
        cursor = db.execute(
            "UPDATE jobs SET lease_until = 0 WHERE state = 'running' AND substr(worker, 1, ?) = ?",
            [len(prefix), prefix],
        )
    return cursor.rowcount


def report(db: sqlite_utils.Database, job: Job, worker: str, stage: str, progress: float) -> None:
    with write(db):
        db.execute(
            "UPDATE jobs SET stage = ?, progress = ?, updated_at = ? "
            "WHERE id = ? AND worker = ? AND state = 'running'",
            [stage, round(progress, 4), now_iso(), job.id, worker],
        )


def stage_done(db: sqlite_utils.Database, job_id: int, worker: str, stage: str) -> bool:
    """Record a finished stage and the worker that did it; False when this worker no longer
    holds the job. The count of attempts starts again for the next stage."""
    with write(db):
        row = db.execute("SELECT kind, stages_done FROM jobs WHERE id = ?", [job_id]).fetchone()
        done = json.loads(row["stages_done"]) if row else []
        if stage not in done:
            done.append(stage)
        cursor = db.execute(
            "UPDATE jobs SET stages_done = ?, next_stage = ?, progress = 1, attempts = 1, "
            "updated_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
            [json.dumps(done), next_stage(row["kind"], done) if row else None, now_iso(),
             job_id, worker],
        )  # fmt: skip
        if cursor.rowcount != 1:
            return False
        db.execute(
            "INSERT INTO job_stages (job_id, stage, worker, finished_at) VALUES (?, ?, ?, ?)",
            [job_id, stage, worker, now_iso()],
        )
    return True


def hand_back(db: sqlite_utils.Database, job_id: int, worker: str) -> bool:
    """Put a job this worker holds back in the queue for a worker that takes its next stage:
    the stages done are kept, and its next claim counts as the first attempt of that stage.
    ``worker`` keeps the name of the one that handed it back (a queued job with a worker
    was handed back; see ``handed_back``). False when this worker no longer holds it."""
    with write(db):
        cursor = db.execute(
            "UPDATE jobs SET state = 'queued', lease_until = NULL, stage = NULL, "
            "attempts = 0, progress = 0, updated_at = ? "
            "WHERE id = ? AND worker = ? AND state = 'running'",
            [now_iso(), job_id, worker],
        )
    return cursor.rowcount == 1


def handed_back(job: Job | None) -> str | None:
    """The stage a job waits for when a worker that does not take it handed it back."""
    return job.next_stage if job and job.state == "queued" and job.worker else None


def stage_workers(db: sqlite_utils.Database, job_id: int) -> dict[str, str]:
    """stage -> the worker that finished it, for one job."""
    rows = db.execute("SELECT stage, worker FROM job_stages WHERE job_id = ?", [job_id])
    return {row["stage"]: row["worker"] for row in rows}


def finish(db: sqlite_utils.Database, job_id: int, worker: str) -> bool:
    with write(db):
        cursor = db.execute(
            "UPDATE jobs SET state = 'done', stage = NULL, lease_until = NULL, finished_at = ?, "
            "updated_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
            [now_iso(), now_iso(), job_id, worker],
        )
    return cursor.rowcount == 1


def fail(db: sqlite_utils.Database, job_id: int, worker: str | None, message: str) -> bool:
    query = (
        "UPDATE jobs SET state = 'failed', lease_until = NULL, error = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running'"
    )
    params: list[object] = [message, now_iso(), job_id]
    if worker is not None:
        query += " AND worker = ?"
        params.append(worker)
    with write(db):
        return db.execute(query, params).rowcount == 1


def retry(db: sqlite_utils.Database, job_id: int) -> bool:
    """Queue a failed job again, or a running one whose worker stopped extending its lease;
    the stages already done are kept. False when the job is neither (it is healthy)."""
    with write(db):
        cursor = db.execute(
            "UPDATE jobs SET state = 'queued', error = NULL, attempts = 0, worker = NULL, "
            "lease_until = NULL, progress = 0, updated_at = ? WHERE id = ? "
            "AND (state = 'failed' OR (state = 'running' AND lease_until < ?))",
            [now_iso(), job_id, time.time()],
        )
    return cursor.rowcount == 1


def can_retry(job: Job | None) -> bool:
    return job is not None and (job.state == "failed" or job.stalled())


def why_not_retry(job: Job | None) -> str:
    """Why a job cannot be started again (see ``retry``), as a sentence for the organiser."""
    if job is None:
        return N_("Foredraget har ikke noe opptak som kan behandles. Last opp et opptak først.")
    if job.state == "done":
        return N_("Opptaket er allerede ferdig behandlet; det er ikke noe å prøve igjen.")
    if job.state == "queued":
        return N_("Behandlingen står allerede i kø og starter når en arbeider er ledig.")
    return N_(
        "Behandlingen er i gang og går som den skal, så den kan ikke startes på nytt nå. "
        "Last siden på nytt for å se hvor langt den har kommet."
    )


def latest_for_talk(db: sqlite_utils.Database, talk_id: int) -> Job | None:
    row = db.execute(
        "SELECT * FROM jobs WHERE talk_id = ? ORDER BY id DESC LIMIT 1", [talk_id]
    ).fetchone()
    return _job(row) if row else None


def get(db: sqlite_utils.Database, job_id: int) -> Job | None:
    row = db.execute("SELECT * FROM jobs WHERE id = ?", [job_id]).fetchone()
    return _job(row) if row else None
