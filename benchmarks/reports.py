"""How long the admin reports take for a municipality-sized organisation.

Makes PEOPLE users in DEPARTMENTS departments and TALKS ready talks (rows only, no media),
gives a third of the people watch progress on each talk and some of them a completion, then
times the report matrix (/rapporter), one department's drill-down and the CSV export.

    .venv/bin/python benchmarks/reports.py --people 2000 --talks 12
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from server.core.clock import now_iso
from server.learning import reports
from server.store import db as database


def _fill(db, people: int, talks: int, departments: int) -> None:
    rng = random.Random(7)
    now = now_iso()
    with db.conn:
        for i in range(people):
            db.execute(
                "INSERT INTO users (email, name, role, department, active, created_at) "
                "VALUES (?, ?, 'viewer', ?, 1, ?)",
                [f"p{i}@kommune.no", f"Person {i}", f"Avdeling {i % departments}", now],
            )
        for t in range(talks):
            talk_id = db.execute(
                "INSERT INTO talks (slug, title, status, visibility, created_at, updated_at) "
                "VALUES (?, ?, 'ready', 'internal', ?, ?)",
                [f"t{t}", f"Foredrag {t}", now, now],
            ).lastrowid
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, created_at) VALUES (?, 'o.mp4', 'original.mp4', 1, 1800, 1, ?)",
                [talk_id, now],
            )
            for user_id in rng.sample(range(1, people + 1), people // 3):
                watched = rng.uniform(60, 1800)
                db.execute(
                    "INSERT INTO watch_progress (user_id, talk_id, intervals, watched_seconds, "
                    "duration, position, updated_at) VALUES (?, ?, ?, ?, 1800, ?, ?)",
                    [user_id, talk_id, json.dumps([[0, watched]]), watched, watched, now],
                )


def _time(label: str, func) -> None:
    started = time.perf_counter()
    func()
    print(f"{label:<32} {time.perf_counter() - started:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--talks", type=int, default=12)
    parser.add_argument("--departments", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ktl.db"
        database.init(path)
        with database.session(path) as db:
            _fill(db, args.people, args.talks, args.departments)
            print(f"{args.people} people, {args.talks} talks, {args.departments} departments")
            _time("first matrix (stores completions)", lambda: reports.matrix(db))
            _time("matrix again", lambda: reports.matrix(db))
            _time("one department's people", lambda: reports.person_rows(db, "Avdeling 3"))
            _time("CSV export (everyone)", lambda: reports.csv_text(db))


if __name__ == "__main__":
    main()
