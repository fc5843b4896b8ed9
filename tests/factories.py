"""Factories for test data: media generated on the spot with ffmpeg and espeak-ng, and rows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import sqlite_utils

from server import talks

ENGLISH_SPEECH = (
    "Welcome to the lunch talk. Today we explain how the library lends electric bicycles "
    "to every citizen. The bicycles are charged in the basement. Thank you for listening."
)


def speech_wav(dest: Path, text: str = ENGLISH_SPEECH, voice: str = "en") -> Path:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-w", str(dest), text],
        check=True, capture_output=True,
    )  # fmt: skip
    return dest


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def video(
    dest: Path,
    audio: Path | None = None,
    seconds: float = 4.0,
    size: str = "640x360",
    vcodec: str = "libx264",
    acodec: str = "aac",
    extra: tuple[str, ...] = (),
) -> Path:
    """A test picture with speech (or a tone) as sound, in the container dest's suffix implies."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio is not None:
        inputs += ["-i", str(audio)]
    else:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    codecs = ["-c:v", vcodec, "-pix_fmt", "yuv420p", "-c:a", acodec]
    if vcodec == "libx264":
        codecs += ["-preset", "ultrafast"]
    ffmpeg(*inputs, *codecs, "-shortest", *extra, str(dest))
    return dest


def audio_only(dest: Path, audio: Path | None = None, seconds: float = 3.0) -> Path:
    source = ["-i", str(audio)] if audio else ["-f", "lavfi", "-i", f"sine=duration={seconds}"]
    ffmpeg(*source, str(dest))
    return dest


def silent_video(dest: Path, seconds: float = 2.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:duration={seconds}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(dest))  # fmt: skip
    return dest


def talk(db: sqlite_utils.Database, **overrides: str) -> dict:
    data = {"title": "Bli kjent med biblioteket", "speaker": "Ola", "department": "Kultur",
            "language": "en", "visibility": "public", **overrides}  # fmt: skip
    return talks.create(db, talks.TalkInput(**data))
