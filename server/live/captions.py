"""Live captions: Whisper on the broadcast's audio in short windows.

The captioner reads the live segments as they appear (the same files the viewers get),
decodes their audio to 16 kHz mono, and whenever at least MIN_WINDOW seconds are waiting
it cuts at the quietest tenth of a second after MIN_WINDOW (so words are rarely split;
at most MAX_WINDOW seconds) and transcribes that window with beam 1 in a thread. Each
recognised line goes to the viewers as a caption event with its time on the broadcast's
timeline. The full-quality transcript is made from the recording afterwards, as for any
upload; these captions are not kept.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import numpy as np

from server import db as database
from server import talks
from server.config import Settings
from server.live import broadcasts, ffargs
from server.pipeline.transcribe import WHISPER_LANGUAGE

log = logging.getLogger("ktl.live.captions")

RATE = 16_000
MIN_WINDOW = 3.0  # seconds of audio before a window is cut
MAX_WINDOW = 6.0
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


class WhisperWindows:
    """One Whisper model for all live captions of this process, loaded at first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                from server.pipeline.transcribe import resolve_model

                self._model = WhisperModel(
                    resolve_model(self.settings), device=self.settings.whisper_device,
                    compute_type=self.settings.whisper_compute_type,
                    cpu_threads=self.settings.whisper_threads, local_files_only=True,
                )  # fmt: skip
            return self._model

    def transcribe(self, audio: np.ndarray, language: str) -> list[tuple[float, float, str]]:
        model = self._load()
        whisper_language = self.settings.whisper_language or WHISPER_LANGUAGE.get(language, "no")
        segments, _ = model.transcribe(
            audio, language=whisper_language, beam_size=1, vad_filter=True,
            condition_on_previous_text=False,
        )  # fmt: skip
        return [(s.start, s.end, s.text.strip()) for s in segments if s.text.strip()]


def decode(data: bytes) -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(io.BytesIO(data), sampling_rate=RATE)


class LiveCaptioner:
    """Follows one broadcast's segments; started by the manager when it goes live."""

    def __init__(self, manager, runtime, windows: WhisperWindows) -> None:
        self.manager, self.runtime, self.windows = manager, runtime, windows
        self.task = asyncio.create_task(self._run())

    def stop(self) -> None:
        self.task.cancel()

    async def _language(self) -> str:
        def read():
            with database.session(self.manager.settings.db_path) as db:
                talk = talks.get(db, self.runtime.talk_id)
            return talk["language"] if talk else "nb"

        return await asyncio.to_thread(read)

    async def _run(self) -> None:
        language = await self._language()
        consumed = 0  # segments read so far, over all parts
        waiting = np.zeros(0, dtype=np.float32)
        offset = 0.0  # the broadcast time where `waiting` starts
        try:
            while self.runtime.state != broadcasts.ENDED:
                await asyncio.sleep(POLL_SECONDS)
                flat = [(f, s) for f, part in self._parts() for s in part]
                if len(flat) > consumed:
                    fresh = flat[consumed:]
                    consumed = len(flat)
                    data = await asyncio.to_thread(_read, fresh)
                    if data:
                        waiting = np.concatenate([waiting, await asyncio.to_thread(decode, data)])
                cut = cut_point(waiting)
                if cut is None:
                    continue
                window, waiting = waiting[:cut], waiting[cut:]
                lines = await asyncio.to_thread(self.windows.transcribe, window, language)
                for start, end, text in lines:
                    self.manager.publish(
                        self.runtime, {"type": "caption", "start": round(offset + start, 2),
                                       "end": round(offset + end, 2), "text": text},
                    )  # fmt: skip
                offset += cut / RATE
        except asyncio.CancelledError:
            raise
        except Exception:  # captions are a bonus: the broadcast goes on without them
            log.exception("Direkteteksting stoppet for foredrag %s", self.runtime.talk_id)

    def _parts(self):
        folders = self.runtime.part_folders()
        return [(f, self.manager.reader.segments(f / ffargs.PLAYLIST)) for f in folders]


def _read(fresh) -> bytes:
    chunks = []
    for folder, segment in fresh:
        try:
            chunks.append((folder / segment.name).read_bytes())
        except FileNotFoundError:
            continue
    return b"".join(chunks)
