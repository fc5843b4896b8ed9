"""The English caption track: Whisper's translate task on the talk's Norwegian speech.

Whisper translates speech into English itself (``task="translate"``): the same model
that transcribes, the same decoding settings, no text-to-text model or second download.
The stage runs after the talk is watchable (server.pipeline.jobs.AFTER_READY) and never
fails the talk: a failure is recorded on the track (server.transcript.translation) for
the organiser to see and retry. A talk that does not want a track passes straight through.

Word timestamps are off: in the translate task Whisper's cross-attention aligns English
words to Norwegian sounds poorly, and captions need only the segments' times.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from server.core.config import Settings
from server.core.i18n import N_
from server.pipeline import ffargs, runner
from server.pipeline.transcribe import WHISPER_LANGUAGE, Engine, decode_options
from server.transcript import translation
from server.transcript.model import Segment, Transcript

log = logging.getLogger("ktl.translate")
NO_ENGINE = N_("Denne Whisper-motoren kan ikke oversette.")
BATCH_ONLY = ("batch_size", "no_repeat_ngram_size")


def translate_options(settings: Settings, language: str) -> dict:
    """faster-whisper's transcribe() keyword arguments for the translate task (pure)."""
    options = decode_options(settings, WHISPER_LANGUAGE.get(language, "no"), None)
    for name in BATCH_ONLY:  # always sequential: the batched pipeline has no fallback
        options.pop(name, None)
    options.update(task="translate", word_timestamps=False)
    return options


def translate_audio(
    engine: Engine, audio: Path, language: str, duration: float, progress: Callable[[float], None]
) -> Transcript:
    """English segments for 16 kHz mono `audio` in `language` (Whisper's translate task)."""
    model = getattr(engine, "sequential_model", None) or getattr(engine, "model", None)
    settings = getattr(engine, "settings", None)
    if model is None or settings is None:
        raise RuntimeError(NO_ENGINE)
    segments, info = model.transcribe(str(audio), **translate_options(settings, language))
    total = duration or info.duration or 1.0
    result = []
    for seg in segments:
        text = " ".join(seg.text.split())
        if text:
            result.append(Segment(round(seg.start, 3), round(seg.end, 3), text))
        progress(min(1.0, seg.end / total))
    name = Path(getattr(engine, "model_path", "") or settings.whisper_model).name
    meta = {"task": "translate", "source_language": language}
    return Transcript(translation.LANGUAGE, tuple(result), float(info.duration), name, meta)


def stage(
    db: sqlite_utils.Database, settings: Settings, talk, recording, media_dir: Path,
    scratch: Path, engine: Engine, progress: Callable[[float], None],
) -> None:  # fmt: skip
    """Make the talk's English track if it wants one; record a failure on the track."""
    state = translation.get(db, talk.id)
    if not translation.wanted(settings, talk, state):
        shutil.rmtree(scratch, ignore_errors=True)  # the worker made it for this stage
        if state.state in ("waiting", "running"):  # turned off after it was asked for
            translation.mark(db, talk.id, "done" if translation.made(state) else "none")
        progress(1.0)
        return
    translation.mark(db, talk.id, "running")
    started = time.monotonic()
    try:
        wav = scratch / "audio.wav"
        runner.run(ffargs.extract_audio(media_dir / recording.path, wav), None, None)
        result = translate_audio(engine, wav, talk.language, recording.duration, progress)
        seconds = time.monotonic() - started
        translation.store_machine(db, settings, talk.id, result, seconds)
    except Exception as exc:  # any failure here is the track's, never the talk's
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        log.warning("Foredrag %s: engelsk teksting feilet: %s", talk.id, detail, exc_info=True)
        translation.mark(db, talk.id, "failed", translation.FAILED % {"detail": detail})
        return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "Foredrag %s: %d engelske segmenter på %.1f s (%.0f s lyd)",
        talk.id, len(result.segments), seconds, recording.duration,
    )  # fmt: skip
