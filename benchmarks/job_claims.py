"""Job claims per second with 1, 2, 4 and 8 worker processes on one SQLite database.

    .venv/bin/python benchmarks/job_claims.py [--jobs 2000] [--workers 1,2,4,8]
                                              [--only translate]

For each count of workers: a fresh data folder, one talk and `--jobs` queued jobs whose
one stage does nothing (kind "translate", no media); the worker processes start together,
and each claims a job (server.pipeline.jobs.claim, limited to `--only` like
`ktl worker --only`), records its stage as done and finishes it, until the queue is empty.
Prints jobs per second (claim + stage done + finish: three write units per job) and each
worker's share, and checks that every job was claimed and finished exactly once: each id
claimed by one worker only, every job 'done', one job_stages row per job. Not a test:
nothing here asserts a time.
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
        start.wait()
        began = time.perf_counter()
        while (job := jobs.claim(db, name, 60, stages)) is not None:
            claimed.append(job.id)
            stage = job.next_stage or KIND
            if not (jobs.stage_done(db, job.id, name, stage) and jobs.finish(db, job.id, name)):
                raise SystemExit(f"{name} lost job {job.id}")
        results.put((name, claimed, time.perf_counter() - began))


def run(count: int, workers: int, only: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="ktl-claims-") as folder:
        settings = load_settings(env={}, data_dir=Path(folder))
        settings.ensure_dirs()
        database.init(settings.db_path)
        fill(settings.db_path, count)
        ctx = multiprocessing.get_context("spawn")
        start, results = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=work, args=(str(settings.db_path), f"bench:{n}:", only, start,
                                           results))
            for n in range(workers)
        ]  # fmt: skip
        for proc in procs:
            proc.start()
        time.sleep(1.0)  # every process has opened its connection and waits for the start
        began = time.perf_counter()
        start.set()
        reports = [results.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - began
        for proc in procs:
            proc.join()
        return {"wall": wall, "reports": reports, **check(settings.db_path, count, reports)}


def check(db_path: Path, count: int, reports: list) -> dict:
    """Every job claimed by exactly one worker and finished exactly once."""
    ids = [job_id for _, claimed, _ in reports for job_id in claimed]
    twice = [i for i, n in collections.Counter(ids).items() if n > 1]
    with database.session(db_path) as db:
        done = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_stages").fetchone()
    ok = not twice and len(ids) == count == done == rows[0] == rows[1]
    return {"ok": ok, "claimed": len(ids), "twice": len(twice), "done": done,
            "stage_rows": rows[0]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--only", default=KIND, help="the stages the workers take (--only)")
    args = parser.parse_args()
    print(f"SQLite {database_version()}, {multiprocessing.cpu_count()} CPUs, {args.jobs} jobs")
    print("workers  jobs/s  seconds  per worker (jobs)           exactly once")
    failed = False
    for workers in [int(n) for n in args.workers.split(",")]:
        result = run(args.jobs, workers, args.only)
        shares = sorted((len(claimed) for _, claimed, _ in result["reports"]), reverse=True)
        verdict = "yes" if result["ok"] else (
            f"NO: claimed {result['claimed']}, twice {result['twice']}, done {result['done']}, "
            f"stage rows {result['stage_rows']}"
        )  # fmt: skip
        print(f"{workers:>7}  {args.jobs / result['wall']:>6.0f}  {result['wall']:>7.2f}  "
              f"{shares!s:<27}  {verdict}")  # fmt: skip
        failed |= not result["ok"]
    return 1 if failed else 0


def database_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    sys.exit(main())
