"""The one place that runs ffmpeg: streams `-progress` output to a callback."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable

ProgressCallback = Callable[[float], None]
PR_SET_PDEATHSIG = 1


class FFmpegError(RuntimeError):
    """ffmpeg exited with an error; `detail` holds the last lines it wrote."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _die_with_parent() -> None:
    """Linux: ffmpeg gets SIGKILL when the worker dies, so a killed worker leaves no ffmpeg
    writing into a scratch folder that the next worker has already cleaned up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    args: list[str],
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Run ffmpeg; report the share done (0..1) from `-progress pipe:1` when a duration is known."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errors:
        with subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            errors="replace",
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        ) as process:
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    _report(line, duration, on_progress)
                code = process.wait()
            except BaseException:
                process.kill()
                raise
        if code != 0:
            errors.seek(0)
            raise FFmpegError(_tail(errors.read()) or f"ffmpeg avsluttet med kode {code}")


def _report(line: str, duration: float | None, on_progress: ProgressCallback | None) -> None:
    if not on_progress or not duration or not line.startswith("out_time_us="):
        return
    value = line.split("=", 1)[1].strip()
    if value.lstrip("-").isdigit():
        on_progress(min(1.0, max(0.0, int(value) / 1_000_000 / duration)))


def run_capture(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ffprobe or a short ffmpeg check and return its output."""
    return subprocess.run(
        args, capture_output=True, text=True, errors="replace", timeout=timeout, check=False
    )
