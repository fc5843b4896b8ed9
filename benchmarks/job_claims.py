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

Both engines run the same domain code (jobs.claim, stage_done, finish) through a
connection of the store's (server.store.db.session): on PostgreSQL (KTL_DATABASE_URL) the
claim locks its row with FOR UPDATE SKIP LOCKED, on SQLite a write unit is BEGIN IMMEDIATE.
"""

from __future__ import annotations

import argparse
import collections
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


def _settings(folder: str, url: str):
    """The settings of one run: the data folder, and PostgreSQL's address when it has one."""
    return load_settings(env={}, data_dir=Path(folder)).replace(database_url=url)


def fill(folder: str, url: str, count: int) -> None:
    with database.session(_settings(folder, url)) as db:
        talk = talks.create(db, talks.TalkInput(title="Kø"))
        for _ in range(count):
            jobs.enqueue(db, talk.id, KIND)


def work(folder: str, url: str, name: str, only: str, start, results) -> None:
    """One worker process: claim until nothing is left; send back the ids it claimed."""
    stages = jobs.parse_stages(only)
    claimed: list[int] = []
    with database.session(_settings(folder, url)) as db:
        results.put("ready")
        start.wait()
        began = time.perf_counter()
        while (job := jobs.claim(db, name, 60, stages)) is not None:
            claimed.append(job.id)
            stage = job.next_stage or KIND
            if not (jobs.stage_done(db, job.id, name, stage) and jobs.finish(db, job.id, name)):
                raise SystemExit(f"{name} lost job {job.id}")
        results.put((name, claimed, time.perf_counter() - began))


def run(count: int, workers: int, only: str, pg=None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ktl-claims-") as folder:
        url = "" if pg is None else pg.create_database()
        settings = _settings(folder, url)
        settings.ensure_dirs()
        database.init(settings)
        fill(folder, url, count)
        ctx = multiprocessing.get_context("spawn")
        start, results = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=work, args=(folder, url, f"bench:{n}:", only, start, results))
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
        counts = count_rows(settings)
        if pg is not None:
            pg.drop_database(url)
        return {"wall": wall, "reports": reports, **check(count, reports, counts)}


def count_rows(settings) -> tuple[int, int, int]:
    with database.session(settings) as db:
        done = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_stages").fetchone()
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
