"""Seconds from upload complete to the first searchable segment of a long talk.

    python benchmarks/first_searchable.py [--minutes 30] [--full]

Makes a talk of Norwegian speech (espeak-ng sentences, varied, repeated to --minutes, as
AAC in .m4a), imports it as an upload would finish (recording attached, job queued) and
starts `ktl worker` in a process of its own (it loads the model itself, as after a restart).
Prints when the first segment could be found by search (while the talk is still being
transcribed), and with --full also when the whole talk was ready; otherwise the worker is
stopped once the first segment is searchable.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import wer
from server.catalogue import search, talks
from server.cli import import_recording
from server.core.config import load_settings
from server.store import db as dbmod
from tests import factories


def long_talk(folder: Path, minutes: float) -> Path:
    parts = []
    for name, text in wer.NORWEGIAN_CLIPS.items():
        parts.append(factories.speech_wav(folder / f"{name}.wav", text, voice="nb"))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = folder / "talk.m4a"
    factories.ffmpeg("-stream_loop", "-1", "-f", "concat", "-safe", "0", "-i", str(listing),
                     "-t", str(minutes * 60), "-c:a", "aac", "-b:a", "64k", str(out))  # fmt: skip
    return out


def run(minutes: float, full: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(env={}, data_dir=folder / "data")
        settings.ensure_dirs()
        dbmod.init(settings.db_path)
        audio = long_talk(folder, minutes)
        talk = import_recording(settings, audio, talks.TalkInput(title="Langt", language="nb"))
        uploaded = time.monotonic()
        env = {**os.environ, "KTL_DATA_DIR": str(settings.data_dir),
               "KTL_WORKER_POLL_SECONDS": "0.2"}  # fmt: skip
        worker = subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        figures = {"minutes": minutes}
        try:
            with dbmod.session(settings.db_path) as db:
                figures.update(_follow(db, talk.id, uploaded, full))
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    return figures


def _follow(db, talk_id: int, uploaded: float, full: bool) -> dict:
    out: dict = {}
    while True:
        row = db.execute("SELECT text FROM search_segments WHERE talk_id = ? ORDER BY idx",
                         [talk_id]).fetchone()  # fmt: skip
        status = db.execute("SELECT status FROM talks WHERE id = ?", [talk_id]).fetchone()[0]
        if row and "first_searchable_s" not in out:
            word = max(row[0].split(), key=len).strip(".,")
            hit = search.search(db, word).groups
            out["first_searchable_s"] = round(time.monotonic() - uploaded, 1)
            out["first_segment"] = row[0]
            out["found_while_transcribing"] = bool(hit and hit[0].transcribing)
            if not full:
                return out
        if status in ("ready", "failed"):
            out["ready_s" if status == "ready" else "failed_s"] = round(
                time.monotonic() - uploaded, 1
            )
            return out
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--full", action="store_true", help="wait until the talk is ready")
    args = parser.parse_args()
    figures = run(args.minutes, args.full)
    print(figures)


if __name__ == "__main__":
    main()
