"""A throwaway PostgreSQL cluster for the tests and the benchmarks: Debian's PostgreSQL
(initdb, pg_ctl) in a temp folder, on a free TCP port of 127.0.0.1 with its unix socket in
the same folder, fsync off (nothing in it has to survive a crash), trust authentication
for the local superuser `postgres`. Each test that asks gets a database of its own, copied
from an empty template (`CREATE DATABASE ... TEMPLATE`, cheap). Stopped and removed at the
end.

initdb and postgres refuse to run as root (tests and CI run as root), so as root the
cluster belongs to the `postgres` system user the Debian package creates (runuser).

    with PgServer() as server:
        url = server.create_database()   # postgresql://postgres@127.0.0.1:PORT/ktl_test_1
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from tests.liveserver import free_port

TEMPLATE = "ktl_template"
MIGRATED = "ktl_migrated"  # the template with the project's schema
PREFIX = "ktl-pg-"
OWNER_FILE = "owner.pid"  # the process that started the cluster (see sweep_stale)
SYSTEM_USER = "postgres"
# Only settings that make a throwaway cluster quick: it never has to survive a crash.
FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "64MB",
}


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("PostgreSQL is missing: run bash scripts/install.sh --dev")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_stale(parent: Path) -> None:
    """Stop and remove the clusters of test runs that died without stopping them (a killed
    pytest): those whose owner process is gone. Others' running clusters are left alone."""
    for folder in parent.glob(f"{PREFIX}*"):
        owner = folder / OWNER_FILE
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        stale = PgServer.__new__(PgServer)
        stale.bindir, stale.folder, stale.data = postgres_bindir(), folder, folder / "data"
        stale._as_root = os.geteuid() == 0
        stale.stop()


class PgServer:
    """One cluster; `create_database()` hands out a fresh, empty database per caller."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.folder / "data"
        self.port = 0
        self._numbers = itertools.count(1)
        self._as_root = os.geteuid() == 0
        self._migrated = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> PgServer:
        sweep_stale(self.folder.parent)
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        if self._as_root:
            owner = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        for _attempt in range(3):  # another process may take the free port before us
            self.port = free_port()
            options = {**FAST, "port": str(self.port), "unix_socket_directories": str(self.folder)}
            flags = " ".join(f"-c {name}={value}" for name, value in options.items())
            started = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                "-o", flags, "-w", "-t", "60", "start", check=False,
            )  # fmt: skip
            if started.returncode == 0:
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}")
        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(TEMPLATE)
                )
            )
        return self

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------
    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> psycopg.Connection:
        """A superuser connection in autocommit (CREATE/DROP DATABASE need it)."""
        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, name: str | None = None, template: str = TEMPLATE) -> str:
        """A new database copied from a template (by default the empty one); its URL."""
        name = name or f"ktl_test_{os.getpid()}_{next(self._numbers)}"
        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)

    @contextlib.contextmanager
    def migrated_database(self) -> Iterator[str]:
        """A fresh database with the project's whole schema, copied from a template that is
        migrated once per cluster (a copy takes milliseconds, migrating takes a second)."""
        if not self._migrated:
            from server.store import postgres

            conn = psycopg.connect(self.create_database(MIGRATED), autocommit=True)
            try:
                postgres.migrate(conn)
            finally:
                conn.close()
            self._migrated = True
        url = self.create_database(template=MIGRATED)
        try:
            yield url
        finally:
            self.drop_database(url)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database for a `with` block, dropped after it."""
        url = self.create_database()
        try:
            yield url
        finally:
            self.drop_database(url)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    # -- helpers -----------------------------------------------------------------------
    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stderr}")
        return done
