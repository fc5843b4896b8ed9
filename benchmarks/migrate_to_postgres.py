"""How long `ktl migrate-to-postgres` takes for an archive of a given size.

    .venv/bin/python benchmarks/migrate_to_postgres.py [--talks 200] [--segments 1000]

Builds a SQLite installation with that many talks, each with that many transcript segments
in the search index (through server.catalogue.search.index_talk, so the vocabulary tables
fill too), users, watch progress and audit rows; starts a throwaway PostgreSQL cluster
(tests/pgserver.py, fsync off: a server with fsync on writes more slowly) and runs the
command. Prints rows, seconds and rows per second. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.catalogue import search  # noqa: E402
from server.core.config import load_settings  # noqa: E402
from server.store import db as database  # noqa: E402
from server.store import write  # noqa: E402
from server.transcript.model import Segment  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

WORDS_TEXT = (
    "kommunen barnehagen skolen helsestasjonen barnevernet byggesak søknad frist nabovarsel "
    "reguleringsplan tilskudd innbyggere tjenester samarbeid økonomi budsjett vedtak politikk "
    "kulturskolen biblioteket sykehjem hjemmetjenesten brannvesenet vannverket veivedlikehold"
)
WORDS = WORDS_TEXT.split()


def build(data_dir: Path, talk_count: int, segments: int) -> None:
    settings = load_settings(env={}, data_dir=data_dir)
    settings.ensure_dirs()
    database.init(settings.db_path)
    rng = random.Random(15)
    with database.session(settings.db_path) as db:
        with write(db):
            db.conn.executemany(
                "INSERT INTO users (email, name, created_at) VALUES (?, ?, '2026-01-01')",
                [(f"ansatt{i}@kommune.no", f"Ansatt {i}") for i in range(2000)],
            )
        for n in range(talk_count):
            with write(db):
                talk_id = db.execute(
                    "INSERT INTO talks (slug, title, status, created_at, updated_at) "
                    "VALUES (?, ?, 'ready', '2026-01-01', '2026-01-01')",
                    [f"foredrag-{n}", f"Foredrag {n}"],
                ).lastrowid
            texts = (" ".join(rng.choices(WORDS, k=14)) for _ in range(segments))
            found = [Segment(5.0 * i, 5.0 * i + 4, t) for i, t in enumerate(texts)]
            search.index_talk(db, talk_id, found, "nb")
            with write(db):
                db.conn.executemany(
                    "INSERT INTO watch_progress (user_id, talk_id, intervals, watched_seconds, "
                    "updated_at) VALUES (?, ?, '[[0, 60]]', 60, '2026-01-02')",
                    [(u, talk_id) for u in rng.sample(range(1, 2001), 50)],
                )
                db.conn.executemany(
                    "INSERT INTO audit_log (at, actor, action, target) "
                    "VALUES ('2026-01-01', 'benchmark', 'la til', ?)",
                    [(f"foredrag-{n}",)] * 20,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=200)
    parser.add_argument("--segments", type=int, default=1000, help="per talk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, PgServer() as server:
        data_dir = Path(tmp) / "data"
        started = time.monotonic()
        build(data_dir, args.talks, args.segments)
        size = (data_dir / "ktl.db").stat().st_size
        print(f"SQLite built in {time.monotonic() - started:.1f} s: {size / 1e6:.0f} MB")
        url = server.create_database("ktl_benchmark")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "--data-dir", str(data_dir),
             "migrate-to-postgres", url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(done.stderr)
        print(done.stdout.strip().splitlines()[-1])
        with server.connect("ktl_benchmark") as pg:
            rows = sum(
                pg.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for (t,) in pg.execute(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename != 'schema_version'"
                ).fetchall()
            )
        print(
            f"{args.talks} talks x {args.segments} segments: {rows} rows in {seconds:.1f} s "
            f"(the command, start to end) = {rows / seconds:.0f} rows/s"
        )


if __name__ == "__main__":
    main()
