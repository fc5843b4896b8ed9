"""Live captions: Whisper on the broadcast's audio in short windows.

Whisper runs in a child process per broadcast (`python -m server.live.captions FOLDER
LANGUAGE`), so its Python work never competes with the web server's event loop for the
GIL (measured: with Whisper in the web process, live media requests were served at about
half the rate). The child reads the live segments as they appear (the same files the viewers get),
decodes their audio to 16 kHz mono, and whenever at least MIN_WINDOW seconds are waiting
it cuts at the quietest tenth of a second after MIN_WINDOW (so words are rarely split;
at most MAX_WINDOW seconds) and transcribes that window in a thread with beam 1 and no
temperature fallback (one decoding pass, so the time per window is bounded). When more
than BEHIND seconds are waiting, it skips to the newest audio instead of falling further
behind. Each
recognised line goes to the viewers as a caption event with its time on the broadcast's
timeline. The full-quality transcript is made from the recording afterwards, as for any
upload; these captions are not kept.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from server.catalogue import talks
from server.core.config import Settings
from server.live.ffargs import PLAYLIST
from server.live.playlist import PartReader, Segment
from server.pipeline import runner
from server.pipeline.transcribe import WHISPER_LANGUAGE

log = logging.getLogger("ktl.live.captions")

RATE = 16_000
MIN_WINDOW = 3.0  # seconds of audio before a window is cut
MAX_WINDOW = 6.0
BEHIND = 2 * MAX_WINDOW
FRAME = 0.1
POLL_SECONDS = 0.3


def cut_point(audio: np.ndarray, rate: int = RATE) -> int | None:
    """Where to cut the waiting audio (a sample index), or None to wait for more: the
    quietest FRAME after MIN_WINDOW, within MAX_WINDOW."""
    if len(audio) < MIN_WINDOW * rate:
        return None
    frame = int(FRAME * rate)
    start, stop = int(MIN_WINDOW * rate), min(len(audio), int(MAX_WINDOW * rate))
    if stop - start < frame:
        return stop if len(audio) >= MAX_WINDOW * rate else None
    energies = [
        float(np.mean(audio[i : i + frame] ** 2)) for i in range(start, stop - frame + 1, frame)
    ]
    quietest = int(np.argmin(energies))
    if len(audio) < MAX_WINDOW * rate and energies[quietest] > 1e-4:
        return None  # nobody paused yet: wait for a pause or for MAX_WINDOW
    return start + quietest * frame + frame // 2


def catch_up(audio: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, float]:
    """When the machine cannot keep up (more than BEHIND seconds waiting), skip to the
    newest MAX_WINDOW: late captions are no help. Returns the audio and the seconds
    skipped."""
    if len(audio) <= BEHIND * rate:
        return audio, 0.0
    keep = int(MAX_WINDOW * rate)
    log.warning("Direkteteksting henger etter: hopper over %.1f s", (len(audio) - keep) / rate)
    return audio[-keep:], (len(audio) - keep) / rate


class WhisperWindows:
    """The Whisper model of the captioning process."""

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import WhisperModel

        from server.pipeline.transcribe import resolve_model

        self.settings = settings
        self.model = WhisperModel(
            resolve_model(settings), device=settings.whisper_device,
            compute_type=settings.whisper_compute_type, cpu_threads=settings.whisper_threads,
            local_files_only=True,
        )  # fmt: skip

    def transcribe(self, audio: np.ndarray, language: str) -> list[tuple[float, float, str]]:
        model = self.model
        whisper_language = self.settings.whisper_language or WHISPER_LANGUAGE.get(language, "no")
        segments, _ = model.transcribe(
            audio, language=whisper_language, beam_size=1, vad_filter=True,
            condition_on_previous_text=False, temperature=0.0,  # one pass: bounded time
        )  # fmt: skip
        return [(s.start, s.end, s.text.strip()) for s in segments if s.text.strip()]


def decode(data: bytes) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(io.BytesIO(data), sampling_rate=RATE)


def _segments(folder: Path, reader: PartReader) -> list[tuple[Path, Segment]]:
    parts = sorted(p for p in folder.glob("part-*") if p.is_dir())
    return [(part, segment) for part in parts for segment in reader.segments(part / PLAYLIST)]


def _read(fresh: list[tuple[Path, Segment]]) -> bytes:
    chunks = []
    for part, segment in fresh:
        try:
            chunks.append((part / segment.name).read_bytes())
        except FileNotFoundError:
            continue
    return b"".join(chunks)


def follow(folder: Path, language: str, windows: WhisperWindows, emit: Callable[[dict], None]):
    """Caption a broadcast's live folder until it disappears (the broadcast was joined
    into a recording) or the process is stopped."""
    reader = PartReader()
    consumed = 0  # segments read so far, over all parts
    waiting = np.zeros(0, dtype=np.float32)
    offset = 0.0  # the broadcast time where `waiting` starts
    while folder.is_dir():
        time.sleep(POLL_SECONDS)
        flat = _segments(folder, reader)
        if len(flat) > consumed:
            data = _read(flat[consumed:])
            consumed = len(flat)
            if data:
                waiting = np.concatenate([waiting, decode(data)])
        waiting, skipped = catch_up(waiting)
        offset += skipped
        cut = cut_point(waiting)
        if cut is None:
            continue
        window, waiting = waiting[:cut], waiting[cut:]
        for start, end, text in windows.transcribe(window, language):
            emit({"type": "caption", "start": round(offset + start, 2),
                  "end": round(offset + end, 2), "text": text})  # fmt: skip
        offset += cut / RATE


class LiveCaptioner:
    """The web server's side: starts the captioning process when a broadcast goes live and
    hands each line it prints to the viewers."""

    def __init__(self, manager, runtime) -> None:
        self.manager, self.runtime = manager, runtime
        self.process: asyncio.subprocess.Process | None = None
        self.task = asyncio.create_task(self._run())

    def stop(self) -> None:
        self.task.cancel()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    async def _language(self) -> str:
        def read():
            with self.manager.store.read() as db:
                talk = talks.get(db, self.runtime.talk_id)
            return talk.language if talk else "nb"

        return await asyncio.to_thread(read)

    async def _run(self) -> None:
        settings = self.manager.settings
        env = {**os.environ, **settings_env(settings)}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.live.captions", str(self.runtime.folder),
            await self._language(), stdout=asyncio.subprocess.PIPE, env=env,
            preexec_fn=runner._die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip
        try:
            assert self.process.stdout is not None
            async for line in self.process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self.manager.publish(self.runtime, event)
        finally:
            if self.process.returncode is None:
                self.process.kill()
            await self.process.wait()


def settings_env(settings: Settings) -> dict[str, str]:
    """The Whisper settings for the captioning process."""
    return {
        "KTL_WHISPER_MODEL": settings.whisper_model,
        "KTL_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "KTL_WHISPER_DEVICE": settings.whisper_device,
        "KTL_WHISPER_COMPUTE_TYPE": settings.whisper_compute_type,
        "KTL_WHISPER_THREADS": str(settings.whisper_threads),
        "KTL_WHISPER_LANGUAGE": settings.whisper_language,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m server.live.captions FOLDER LANGUAGE`: caption lines as JSON, one a line."""
    from server.core.config import load_settings

    folder, language = (argv if argv is not None else sys.argv[1:])[:2]
    windows = WhisperWindows(load_settings())

    def emit(event: dict) -> None:
        print(json.dumps(event, ensure_ascii=False), flush=True)

    try:
        follow(Path(folder), language, windows, emit)
    except KeyboardInterrupt:
        return 0
    except Exception:  # captions are a bonus: the broadcast goes on without them
        log.exception("Direkteteksting stoppet for %s", folder)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
