"""Job claims per second with 1, 2, 4 and 8 worker processes on one SQLite database (and,
with --postgres, on a throwaway PostgreSQL: tests/pgserver.py).

    .venv/bin/python benchmarks/job_claims.py [--jobs 2000] [--workers 1,2,4,8]
                                              [--only translate] [--postgres]

For each count of workers: a fresh data folder, one talk and `--jobs` queued jobs whose
one stage does nothing (kind "translate", no media); the worker processes start together,
and each claims a job (server.pipeline.jobs.claim, limited to `--only` like
`ktl worker --only`), records its stage as done and finishes it, until the queue is empty.
Prints jobs per second (claim + stage done + finish: three write units per job) and each
worker's share, and checks that every job was claimed and finished exactly once: each id
claimed by one worker only, every job 'done', one job_stages row per job. Not a test:
nothing here asserts a time.

On PostgreSQL the store is not wired yet (KTL_DATABASE_URL), so the workers run the claim's
own statements (jobs.claim_sql with FOR UPDATE SKIP LOCKED) and the SQL of jobs.stage_done
and jobs.finish written out with psycopg's placeholders: the same three transactions per job.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.catalogue import talks
from server.core.config import load_settings
from server.pipeline import jobs
from server.store import db as database

KIND = "translate"  # one stage, so a job is claim -> stage done -> finish


def fill(db_path: Path, count: int) -> None:
    with database.session(db_path) as db:
        talk = talks.create(db, talks.TalkInput(title="Kø"))
        for _ in range(count):
            jobs.enqueue(db, talk.id, KIND)


def work(db_path: str, name: str, only: str, start, results) -> None:
    """One worker process: claim until nothing is left; send back the ids it claimed."""
    stages = jobs.parse_stages(only)
    claimed: list[int] = []
    with database.session(Path(db_path)) as db:
        results.put("ready")
        start.wait()
        began = time.perf_counter()
        while (job := jobs.claim(db, name, 60, stages)) is not None:
            claimed.append(job.id)
            stage = job.next_stage or KIND
            if not (jobs.stage_done(db, job.id, name, stage) and jobs.finish(db, job.id, name)):
                raise SystemExit(f"{name} lost job {job.id}")
        results.put((name, claimed, time.perf_counter() - began))


def work_pg(url: str, name: str, only: str, start, results) -> None:
    """One worker process on PostgreSQL: the same three transactions per job."""
    from psycopg.rows import dict_row

    from server.store import postgres

    stages = jobs.parse_stages(only)
    wanted = sorted(stages) if stages is not None else []
    probe, take = jobs.claim_sql(len(wanted) if stages else None, "%s", "FOR UPDATE SKIP LOCKED")
    claimed: list[int] = []
    with postgres.connect(url, autocommit=True) as conn:
        conn.row_factory = dict_row
        results.put("ready")
        start.wait()
        began = time.perf_counter()
        while True:
            now = time.time()
            if conn.execute(probe, [now, *wanted]).fetchone() is None:
                break
            job = conn.execute(take, [name, now + 60, "nå", now, *wanted]).fetchone()
            if job is None:
                continue
            claimed.append(job["id"])
            stamp, held = "nå", [job["id"], name]
            with conn.transaction():
                conn.execute(
                    "UPDATE jobs SET stages_done = %s, next_stage = %s, progress = 1, "
                    "attempts = 1, updated_at = %s "
                    "WHERE id = %s AND worker = %s AND state = 'running'",
                    [json.dumps([KIND]), KIND, stamp, *held],
                )
                conn.execute(
                    "INSERT INTO job_stages (job_id, stage, worker, finished_at) "
                    "VALUES (%s, %s, %s, %s)",
                    [job["id"], KIND, name, stamp],
                )
            conn.execute(
                "UPDATE jobs SET state = 'done', stage = NULL, lease_until = NULL, "
                "finished_at = %s, updated_at = %s WHERE id = %s AND worker = %s "
                "AND state = 'running'",
                [stamp, stamp, *held],
            )
        results.put((name, claimed, time.perf_counter() - began))


def fill_pg(url: str, count: int) -> None:
    from server.store import postgres

    with postgres.connect(url, autocommit=True) as conn:
        postgres.migrate(conn)
        talk = conn.execute(
            "INSERT INTO talks (slug, title, created_at, updated_at) "
            "VALUES ('ko', 'Kø', 'nå', 'nå') RETURNING id"
        ).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO jobs (talk_id, kind, next_stage, created_at, updated_at) "
                "VALUES (%s, %s, %s, 'nå', 'nå')",
                [(talk, KIND, KIND)] * count,
            )


def run(count: int, workers: int, only: str, pg=None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ktl-claims-") as folder:
        if pg is None:
            settings = load_settings(env={}, data_dir=Path(folder))
            settings.ensure_dirs()
            database.init(settings.db_path)
            fill(settings.db_path, count)
            target, where = work, str(settings.db_path)
        else:
            where = pg.create_database()
            fill_pg(where, count)
            target = work_pg
        ctx = multiprocessing.get_context("spawn")
        start, results = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=target, args=(where, f"bench:{n}:", only, start, results))
            for n in range(workers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:  # every process has imported, connected and waits for the start
            results.get(timeout=300)
        began = time.perf_counter()
        start.set()
        reports = [results.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - began
        for proc in procs:
            proc.join()
        counts = count_sqlite(where) if pg is None else count_pg(where)
        if pg is not None:
            pg.drop_database(where)
        return {"wall": wall, "reports": reports, **check(count, reports, counts)}


def count_sqlite(db_path: str) -> tuple[int, int, int]:
    with database.session(Path(db_path)) as db:
        done = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_stages").fetchone()
    return done, rows[0], rows[1]


def count_pg(url: str) -> tuple[int, int, int]:
    from server.store import postgres

    with postgres.connect(url, autocommit=True) as conn:
        done = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_stages").fetchone()
    return done, rows[0], rows[1]


def check(count: int, reports: list, counts: tuple[int, int, int]) -> dict:
    """Every job claimed by exactly one worker and finished exactly once."""
    ids = [job_id for _, claimed, _ in reports for job_id in claimed]
    twice = [i for i, n in collections.Counter(ids).items() if n > 1]
    done, *rows = counts
    ok = not twice and len(ids) == count == done == rows[0] == rows[1]
    return {"ok": ok, "claimed": len(ids), "twice": len(twice), "done": done,
            "stage_rows": rows[0]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--only", default=KIND, help="the stages the workers take (--only)")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    failed = table(args, None, f"SQLite {database_version()}")
    if args.postgres:
        from tests.pgserver import PgServer

        with PgServer() as pg:
            failed |= table(args, pg, "PostgreSQL (throwaway cluster, fsync off)")
    return 1 if failed else 0


def table(args: argparse.Namespace, pg, engine: str) -> bool:
    print(f"{engine}, {multiprocessing.cpu_count()} CPUs, {args.jobs} jobs")
    print("workers  jobs/s  seconds  per worker (jobs)           exactly once")
    failed = False
    for workers in [int(n) for n in args.workers.split(",")]:
        result = run(args.jobs, workers, args.only, pg)
        shares = sorted((len(claimed) for _, claimed, _ in result["reports"]), reverse=True)
        verdict = "yes" if result["ok"] else (
            f"NO: claimed {result['claimed']}, twice {result['twice']}, done {result['done']}, "
            f"stage rows {result['stage_rows']}"
        )  # fmt: skip
        print(f"{workers:>7}  {args.jobs / result['wall']:>6.0f}  {result['wall']:>7.2f}  "
              f"{shares!s:<27}  {verdict}")  # fmt: skip
        failed |= not result["ok"]
    return failed


def database_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    sys.exit(main())
