"""The supervisor of `ktl serve`'s worker, on real child processes (small Python scripts
stand in for `ktl worker`; the real worker under `ktl serve` is in test_worker_durability)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from server.pipeline.supervisor import Backoff, Supervisor

SLEEPER = "import time; time.sleep(120)"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait(predicate, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"{what} did not happen within {timeout} s")


def _alive(pid: int) -> bool:
    """True while pid is a process that has not exited (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_backoff_doubles_to_the_cap_and_resets_after_a_steady_run():
    backoff = Backoff(first=1, cap=30, steady=60)
    assert [backoff.after_run(2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_run(61) == 1, "a worker that ran steadily starts the back-off again"
    assert backoff.after_run(0.1) == 2
    assert Backoff(first=1, cap=0.5).after_run(0) == 0.5, "the cap also bounds the first pause"


def test_a_killed_child_is_reaped_released_and_started_again(caplog):
    caplog.set_level(logging.INFO, logger="ktl.supervisor")
    exited: list[int] = []
    supervisor = Supervisor(_python(SLEEPER), backoff=Backoff(first=0.05, cap=0.2),
                            on_exit=exited.append)  # fmt: skip
    supervisor.start()
    try:
        first = _wait(lambda: supervisor.pid, "first start")
        os.kill(first, signal.SIGKILL)
        second = _wait(lambda: supervisor.pid not in (None, first) and supervisor.pid, "restart")
        assert not _exists(first), "the killed child was reaped, not left as a zombie"
        assert exited == [first], "the exit hook ran once, for the dead child"
        assert _alive(second) and supervisor.starts == 2
    finally:
        supervisor.stop(timeout=5)
    assert not _exists(second), "stop() ends and reaps the running child"
    assert supervisor.pid is None and exited == [first, second]
    time.sleep(0.3)  # longer than the back-off: nothing is started after stop()
    assert supervisor.starts == 2
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert f"pid {first}) stoppet (signal SIGKILL)" in messages
    assert f"Startet arbeider (pid {second})" in messages


def test_a_child_that_keeps_exiting_is_started_again_with_back_off(caplog):
    caplog.set_level(logging.INFO, logger="ktl.supervisor")
    supervisor = Supervisor(_python("raise SystemExit(3)"), backoff=Backoff(first=0.05, cap=0.1))
    supervisor.start()
    try:
        _wait(lambda: supervisor.starts >= 4, "four starts")
    finally:
        supervisor.stop(timeout=5)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("stoppet (kode 3)" in m for m in messages) >= 3, "each exit is logged"
    pauses = [m for m in messages if m.startswith("Starter arbeider på nytt om")]
    assert pauses[:3] == [f"Starter arbeider på nytt om {s:g} s" for s in (0.05, 0.1, 0.1)]


def test_what_the_child_left_running_goes_with_it(tmp_path):
    """A grandchild (as ffmpeg under the worker) is killed with the worker's process group."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '120'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    supervisor = Supervisor(_python(code), backoff=Backoff(first=5, cap=5))
    supervisor.start()
    try:
        child = _wait(lambda: supervisor.pid, "start")
        grandchild = int(_wait(lambda: pid_file.exists() and pid_file.read_text(), "grandchild"))
        assert _alive(grandchild)
        os.kill(child, signal.SIGKILL)
        _wait(lambda: not _alive(grandchild), "the grandchild's end")
    finally:
        supervisor.stop(timeout=5)


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path):
    ready = tmp_path / "ready"
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(120)\n"
    )
    supervisor = Supervisor(_python(code))
    supervisor.start()
    child = _wait(lambda: supervisor.pid, "start")
    _wait(ready.exists, "the child's SIGTERM handler")
    supervisor.stop(timeout=0.5)
    assert not _exists(child) and supervisor.starts == 1
