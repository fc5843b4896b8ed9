"""Validate an uploaded file with ffprobe and describe what it holds."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from server.pipeline import ffargs, runner

ACCEPTED = "mp4, mov, mkv, webm, m4a, mp3, wav eller ogg"
FORMATS = {"mov", "mp4", "m4a", "3gp", "matroska", "webm", "mp3", "wav", "ogg"}
MIN_SECONDS = 0.5


class MediaError(ValueError):
    """The file cannot be used; the message says so in Norwegian, for the person uploading."""


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float
    has_video: bool
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    pix_fmt: str | None

    @property
    def h264_video(self) -> bool:
        return self.video_codec == "h264" and self.pix_fmt in ("yuv420p", "yuvj420p")

    @property
    def aac_audio(self) -> bool:
        return self.audio_codec == "aac"


def _not_media(name: str) -> MediaError:
    return MediaError(
        f"«{name}» er ikke et lyd- eller videoopptak vi kan lese. "
        f"Last opp en fil i formatet {ACCEPTED}."
    )


def _ffprobe(path: Path, name: str) -> dict:
    try:
        result = runner.run_capture(ffargs.probe(path), timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise _not_media(name) from exc
    if result.returncode != 0:
        if "moov atom not found" in result.stderr:
            raise MediaError(
                f"«{name}» er ufullstendig (slutten av filen mangler). "
                "Last opp hele opptaket på nytt."
            )
        raise _not_media(name)
    return json.loads(result.stdout or "{}")


def _first(streams: list[dict], kind: str) -> dict | None:
    return next((s for s in streams if s.get("codec_type") == kind), None)


def _describe(data: dict) -> MediaInfo:
    streams = data.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = _first(streams, "audio")
    fmt = data.get("format", {})
    return MediaInfo(
        format_name=fmt.get("format_name", ""),
        duration=float(fmt.get("duration") or 0.0),
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        pix_fmt=video.get("pix_fmt") if video else None,
    )


def _decodes_to_the_end(path: Path, duration: float) -> bool:
    result = runner.run_capture(ffargs.decode_check(path, min(3.0, duration)), timeout=300)
    return result.returncode == 0 and not result.stderr.strip()


def inspect(path: Path, name: str, need_audio: bool = True) -> MediaInfo:
    """Describe a recording, or raise MediaError saying in Norwegian what is wrong with it."""
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(f"«{name}» er tom (0 byte). Velg opptaket på nytt og last det opp igjen.")
    info = _describe(_ffprobe(path, name))
    if not FORMATS.intersection(info.format_name.split(",")):
        raise _not_media(name)
    if not (info.has_audio or info.has_video) or info.duration < MIN_SECONDS:
        raise _not_media(name)
    if need_audio and not info.has_audio:
        raise MediaError(
            f"«{name}» har ikke noe lydspor, så vi kan ikke lage transkripsjon og teksting. "
            "Last opp et opptak med lyd."
        )
    if not _decodes_to_the_end(path, info.duration):
        raise MediaError(
            f"«{name}» er skadet eller ufullstendig og kan ikke spilles av til slutt. "
            "Last opp hele opptaket på nytt."
        )
    return info
