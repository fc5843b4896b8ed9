"""Keeps `ktl serve`'s embedded worker process alive.

A thread starts the worker, waits for it (which also reaps it, so no zombie is left) and
starts it again when it exits for any reason, SIGKILL included. Restarts back off: 1 s,
doubling up to a cap, and back to 1 s once a worker has run steadily for a minute, so a
worker that cannot start does not spin. Each death and restart is logged.

After a death the supervisor ends the leases the dead process held (jobs.expire_leases), so
the next worker takes its job over at once and skips the stages already done.

The worker runs in its own process group: Ctrl-C in the terminal reaches `ktl serve`, whose
shutdown stops the worker in order, and a stop reaches the worker's ffmpeg children too.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.core.config import Settings
from server.pipeline import jobs
from server.store import db as database

log = logging.getLogger("ktl.supervisor")
FIRST_DELAY = 1.0
STEADY_SECONDS = 60.0
STOP_TIMEOUT = 10.0
PARENT_ENV = "KTL_SUPERVISOR_PID"  # set for the embedded worker only; not a setting
PR_SET_PDEATHSIG = 1


@dataclass
class Backoff:
    """Seconds to wait before the next restart, from how long the last run lasted."""

    first: float = FIRST_DELAY
    cap: float = 30.0
    steady: float = STEADY_SECONDS
    _next: float | None = None

    def after_run(self, ran_seconds: float) -> float:
        if self._next is None or ran_seconds >= self.steady:
            self._next = min(self.first, self.cap)
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay


class Supervisor:
    """Runs `command` in a child process and restarts it whenever it exits, until stop()."""

    def __init__(
        self,
        command: Sequence[str],
        env: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        on_exit: Callable[[int], None] | None = None,
        name: str = "arbeider",
    ) -> None:
        self.command, self.env, self.name = list(command), env, name
        self.backoff = backoff or Backoff()
        self.on_exit = on_exit
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="ktl-supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        """The running child's pid (only the supervisor's thread reaps it)."""
        process = self.process
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop restarting, then end the child (SIGTERM, SIGKILL after `timeout`); the
        supervisor's thread reaps it."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None and process.returncode is None:
            _signal_group(process, signal.SIGTERM)
        if self._thread.ident is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive() and process is not None:
            log.warning("%s (pid %s) stoppet ikke; avslutter den", self.name, process.pid)
            _signal_group(process, signal.SIGKILL)
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            process = self._spawn()
            if process is not None:
                self._wait(process, started)
            if self._stopping.is_set():
                return
            delay = self.backoff.after_run(time.monotonic() - started)
            log.info("Starter %s på nytt om %g s", self.name, delay)
            self._stopping.wait(delay)

    def _spawn(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            try:
                process = subprocess.Popen(self.command, env=self.env, start_new_session=True)
            except OSError as exc:
                log.error("Kunne ikke starte %s: %s", self.name, exc)
                return None
            self.process = process
            self.starts += 1
        log.info("Startet %s (pid %s)", self.name, process.pid)
        return process

    def _wait(self, process: subprocess.Popen, started: float) -> None:
        """Wait for the child to exit; end what it left in its process group while its pid
        is still held by the unreaped zombie (so the group id cannot have been reused); then
        reap it and release its jobs."""
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        _signal_group(process, signal.SIGKILL)
        code = process.wait()
        if self._stopping.is_set():
            log.info("%s (pid %s) er stoppet", self.name.capitalize(), process.pid)
        else:
            log.warning(
                "%s (pid %s) stoppet (%s) etter %.1f s",
                self.name.capitalize(), process.pid, _describe(code), time.monotonic() - started,
            )  # fmt: skip
        if self.on_exit is not None:
            try:
                self.on_exit(process.pid)
            except Exception:
                log.exception("Opprydding etter %s (pid %s) feilet", self.name, process.pid)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"kode {code}"


def end_with_supervisor() -> None:
    """Called by the worker: an embedded worker ends with the `ktl serve` that started it,
    also one killed without a shutdown, instead of living on as an orphan (Linux: the
    parent-death signal; the parent is the supervisor's thread, which outlives the child)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # it was gone before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env[PARENT_ENV] = str(os.getpid())
    env["KTL_DATA_DIR"] = str(settings.data_dir)
    env["KTL_WHISPER_MODEL"] = settings.whisper_model
    env["KTL_MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    env["KTL_JOB_LEASE_SECONDS"] = str(settings.job_lease_seconds)
    env["KTL_WORKER_STAGES"] = settings.worker_stages
    env["KTL_WORK_DIR"] = settings.work_dir
    # The worker uses the server's database: PostgreSQL's address, or none (the SQLite file
    # in the data folder), whatever the environment said.
    env.pop("KTL_DATABASE_URL", None)
    if settings.database_url:
        env["KTL_DATABASE_URL"] = settings.database_url
    return env


def embedded_worker(settings: Settings) -> Supervisor:
    """The supervisor of `ktl serve`'s own worker (`ktl worker` in a child process)."""

    def release(pid: int) -> None:
        with database.session(settings) as db:  # one connection, not a pool
            count = jobs.expire_leases(db, jobs.worker_prefix(pid))
        if count:
            log.info("Jobbene til arbeider %s er ledige for neste arbeider (%s)", pid, count)

    return Supervisor(
        [sys.executable, "-m", "server.cli", "worker"],
        env=worker_env(settings),
        backoff=Backoff(cap=settings.worker_restart_max_seconds),
        on_exit=release,
    )
