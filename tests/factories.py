"""Factories for test data: media generated on the spot with ffmpeg and espeak-ng, and rows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import sqlite_utils

from server.catalogue import talks
from server.store import write

ENGLISH_SPEECH = (
    "Welcome to the lunch talk. Today we explain how the library lends electric bicycles "
    "to every citizen. The bicycles are charged in the basement. Thank you for listening."
)


# About forty seconds of varied English: a text repeated inside one 30-second window looks
# like a decoding loop to Whisper (high compression ratio) and sends it to random sampling.
LONG_ENGLISH_SPEECH = (
    "Good afternoon, and welcome to the lunch talk from the building department. "
    "Every spring we receive more than four hundred planning applications. "
    "A case officer first checks that the drawings and the site plan are complete. "
    "Then the neighbours are notified, and they have two weeks to send their comments. "
    "Small extensions and garden sheds are usually decided within three weeks. "
    "Larger projects, such as apartment blocks, can take several months. "
    "If your application lacks a document, we send you a letter explaining what is missing. "
    "You can follow your own case online, or call the service desk on weekdays. "
    "Thank you for listening, and enjoy your lunch."
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


def hls_media(db: sqlite_utils.Database, settings, talk: dict, scratch: Path, seconds: int) -> dict:
    """Real on-demand HLS (a test picture and a tone, remuxed by ffmpeg; no Whisper) in
    place of whatever media a ready talk has, and the recording's length to match."""
    vod = settings.paths.vod(talk.id)
    for old in vod.rglob("*"):
        if old.is_file():
            old.unlink()
    clip = video(scratch / "clip.mp4", seconds=seconds, size="320x180")
    ffmpeg("-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "2",
           "-hls_playlist_type", "vod",
           "-hls_segment_filename", str(vod / "stream_0" / "seg_%05d.ts"),
           str(vod / "stream_0" / "index.m3u8"))  # fmt: skip
    (vod / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180\nstream_0/index.m3u8\n"
    )
    with write(db):
        db.execute("UPDATE recordings SET duration = ? WHERE talk_id = ?", [seconds, talk.id])
    return talk


def audio_only(dest: Path, audio: Path | None = None, seconds: float = 3.0) -> Path:
    source = ["-i", str(audio)] if audio else ["-f", "lavfi", "-i", f"sine=duration={seconds}"]
    ffmpeg(*source, str(dest))
    return dest


def silent_video(dest: Path, seconds: float = 2.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:duration={seconds}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(dest))  # fmt: skip
    return dest


def sound(
    dest: Path, audio: Path, acodec: str, seconds: float = 3.0, extra: tuple[str, ...] = ()
) -> Path:
    """The first seconds of `audio` encoded with `acodec`, in the container dest's suffix
    implies (or the `-f` in extra)."""
    ffmpeg("-i", str(audio), "-t", str(seconds), "-c:a", acodec, *extra, str(dest))
    return dest


def picture(dest: Path, frames: int = 1) -> Path:
    """A still picture (png, jpg, gif by the suffix); with frames > 1 an animated GIF."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-frames:v", str(frames),
           str(dest))  # fmt: skip
    return dest


def data_only(dest: Path, seconds: float = 2.0) -> Path:
    """An MPEG-TS whose one stream is data: PCM has no MPEG-TS mapping, so the muxer writes
    it as a private stream that ffprobe reports as codec_type data."""
    ffmpeg("-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "pcm_s16le",
           "-f", "mpegts", str(dest))  # fmt: skip
    return dest


def talk(db: sqlite_utils.Database, organiser=None, **overrides: str) -> dict:
    data = {"title": "Bli kjent med biblioteket", "speaker": "Ola", "department": "Kultur",
            "language": "en", "visibility": "public", **overrides}  # fmt: skip
    return talks.create(db, talks.TalkInput(**data), organiser)
