"""Pipeline figures on this machine: Whisper alone vs upload-complete-to-searchable, remux
vs transcode, and search latency over a synthetic index of a million segments.

    .venv/bin/python benchmarks/pipeline.py [--minutes 3] [--segments 1000000]

Not a test: it prints figures; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.catalogue import talks
from server.core.config import load_settings
from server.pipeline import ffargs, runner
from server.pipeline.transcribe import FasterWhisperEngine
from server.pipeline.worker import Worker
from server.store import db as database
from tests import factories


def duration_of(path: Path) -> float:
    args = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    return float(runner.run_capture([*args, str(path)]).stdout)


def make_clip(folder: Path, minutes: float) -> Path:
    # The paragraph is about 40 s long, so no 30-second Whisper window holds a repeat.
    repeats = max(1, round(minutes * 60 / 40))
    text = " ".join([factories.LONG_ENGLISH_SPEECH] * repeats)
    speech = factories.speech_wav(folder / "speech.wav", text)
    return factories.video(folder / "talk.mp4", audio=speech, seconds=duration_of(speech) + 0.5)


def timed(func, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def pipeline_figures(minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(data_dir=folder / "data").replace(embedded_worker=False)
        settings.ensure_dirs()
        database.init(settings.db_path)
        clip = make_clip(folder, minutes)
        duration = duration_of(clip)
        engine = FasterWhisperEngine(settings)  # loaded once, as in a running worker
        wav = folder / "audio.wav"
        runner.run(ffargs.extract_audio(clip, wav))
        whisper_s, _ = timed(engine.transcribe, wav, "en", duration, lambda share: None)

        remux_s, _ = timed(runner.run, ffargs.hls_remux(clip, folder / "remux", True))
        ladder = ffargs.hls_ladder(clip, folder / "ladder", ffargs.ladder_for(360))
        transcode_s, _ = timed(runner.run, ladder)

        upload = folder / "data" / "media" / ".uploads" / "upload.part"
        upload.write_bytes(clip.read_bytes())
        worker = Worker(settings, engine_factory=lambda: engine)
        start = time.perf_counter()
        with database.session(settings.db_path) as db:
            talk = factories.talk(db, title="Byggesak", language="en")
            talks.attach_recording(db, settings, talk.id, upload, "talk.mp4")
        worker.run_once()
        end_to_end_s = time.perf_counter() - start
        with database.session(settings.db_path) as db:
            assert talks.get(db, talk.id).status == "ready"
    return {
        "audio_s": duration,
        "whisper_s": whisper_s,
        "end_to_end_s": end_to_end_s,
        "remux_s": remux_s,
        "transcode_360p_s": transcode_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--search-db", type=Path, help="reuse a synthetic index built before")
    args = parser.parse_args()

    f = pipeline_figures(args.minutes)
    print(f"clip: {f['audio_s']:.1f} s of English speech, 640x360 H.264/AAC")
    print(f"faster-whisper alone (base, int8, beam 5, VAD): {f['whisper_s']:.1f} s "
          f"(real-time factor {f['whisper_s'] / f['audio_s']:.3f})")  # fmt: skip
    print(f"upload complete -> searchable (probe, HLS, poster, Whisper, index): "
          f"{f['end_to_end_s']:.1f} s")  # fmt: skip
    print(f"ratio end-to-end / Whisper alone: {f['end_to_end_s'] / f['whisper_s']:.2f}")
    print(f"HLS remux of the H.264/AAC input: {f['remux_s']:.2f} s "
          f"({f['audio_s'] / f['remux_s']:.0f}x real time); "
          f"360p transcode of the same: {f['transcode_360p_s']:.1f} s")  # fmt: skip

    from benchmarks import search_latency

    search_latency.print_figures(search_latency.run(args.segments, args.search_db))


if __name__ == "__main__":
    main()
