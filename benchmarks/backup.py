"""Backup and restore times for a data folder (by default the demo data, made with `ktl demo`
in a temporary folder): `ktl backup` without and with media, `ktl restore` of each, timed
in-process (the work) and as the command an administrator runs (with Python's start-up).

    .venv/bin/python -m benchmarks.backup [--data-dir DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server.core.config import load_settings
from server.ops import backup


def _ktl(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "server.cli", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def _row(label: str, values: list[float]) -> str:
    return f"{label:<34} median {statistics.median(values):6.2f} s  (min {min(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="an installation's data folder (default: demo data)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = Path(args.data_dir) if args.data_dir else root / "demo"
        if not args.data_dir:
            subprocess.run(
                [sys.executable, "-m", "server.cli", "--data-dir", str(data), "demo"],
                check=True, capture_output=True,
            )  # fmt: skip
        settings = load_settings(env={}, data_dir=data)
        figures: dict[str, list[float]] = {}
        for run in range(args.runs):
            for media in (False, True):
                kind = "with media" if media else "without media"
                dest = root / f"backup-{run}-{media}"
                done = backup.backup(settings, dest, with_media=media)
                figures.setdefault(f"backup {kind} (work)", []).append(done.seconds)
                target = load_settings(env={}, data_dir=root / f"restored-{run}-{media}")
                figures.setdefault(f"restore {kind} (work)", []).append(
                    backup.restore(target, dest).seconds
                )
                size = f"{done.files} files, {done.bytes / 1e6:.1f} MB"
                cli = ["--data-dir", str(data), "backup", str(dest) + "-cli"]
                figures.setdefault(f"ktl backup {kind} (command)", []).append(
                    _ktl(*cli, *(["--with-media"] if media else []))
                )
                again = ["--data-dir", str(root / f"cli-restored-{run}-{media}"), "restore"]
                figures.setdefault(f"ktl restore {kind} (command)", []).append(
                    _ktl(*again, str(dest) + "-cli")
                )
                figures.setdefault(f"size {kind}: {size}", [])
        for label, values in figures.items():
            print(_row(label, values) if values else label)


if __name__ == "__main__":
    main()
