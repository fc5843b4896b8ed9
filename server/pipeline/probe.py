"""Validate an uploaded file with ffprobe and describe what it holds.

What is accepted is decided by what ffprobe finds in the file, not by its name or container:
any file ffmpeg can read is a recording when it has a sound track that decodes to the end
(FLAC, WMA, AVCHD, AVI, FLV, ... as well as mp4). Pictures, subtitles, data and damaged
files are refused with a sentence that says why.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from server.core.errors import UserError
from server.core.i18n import N_
from server.pipeline import ffargs, runner

# Messages are msgids with the file's name filled in; they are translated where shown.
ACCEPTED = N_(
    "Vi tar imot video- og lydopptak fra mobil, kamera, videokamera, møteverktøy og "
    "lydopptaker, for eksempel mp4, mov, mts, avi, wmv, mkv, webm, mp3, m4a, wav, flac, "
    "wma eller ogg."
)
NOT_MEDIA = N_("«%(name)s» er ikke et lyd- eller videoopptak vi kan lese. %(accepted)s")
PICTURE = N_(
    "«%(name)s» er et bilde, ikke et opptak. Last opp video- eller lydopptaket av foredraget."
)
TRUNCATED = N_(
    "«%(name)s» er ufullstendig (slutten av filen mangler). Last opp hele opptaket på nytt."
)
TOO_SLOW = N_(
    "Vi klarte ikke å lese gjennom «%(name)s» i tide. Prøv igjen senere, eller lagre "
    "opptaket som mp4 og last det opp på nytt."
)
DAMAGED = N_(
    "«%(name)s» er skadet eller ufullstendig og kan ikke spilles av til slutt. "
    "Last opp hele opptaket på nytt."
)
EMPTY = N_("«%(name)s» er tom (0 byte). Velg opptaket på nytt og last det opp igjen.")
NO_AUDIO = N_(
    "«%(name)s» har ikke noe lydspor, så vi kan ikke lage transkripsjon og teksting. "
    "Last opp et opptak med lyd."
)
MIN_SECONDS = 0.5
CHECK_SECONDS = 300
# Containers whose H.264/AAC streams are copied into HLS as they are. Others (AVI, ASF:
# no presentation timestamps, so B-frames come out of order) are transcoded.
COPYABLE_FORMATS = {"mov", "mp4", "matroska", "webm", "mpegts", "flv", "aac"}
# Demuxers for still pictures (ffprobe calls a PNG a one-frame video): png_pipe, jpeg_pipe, ...
PICTURE_FORMATS = {"image2", "gif", "apng", "ico", "webp", "jpegxl"}
INTERLACED = {"tt", "bb", "tb", "bt"}
# Raw streams without an index (ADTS AAC, MP3 without a Xing header, AC-3): ffprobe
# guesses their length from the first frames' bitrate, so it is measured instead.
GUESSED_DURATION = {"aac", "mp3", "ac3", "eac3"}


class MediaError(UserError):
    """The file cannot be used; the message says so in Norwegian, for the person uploading."""

    status = 422


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
    interlaced: bool = False
    audio_channels: int | None = None
    bit_rate: int | None = None  # the whole file's, bit/s

    @classmethod
    def from_row(cls, rec: Mapping) -> MediaInfo:
        """A recordings row; its container is not stored, so it is trusted to allow copying."""
        fields = ("video_codec", "audio_codec", "width", "height", "pix_fmt")
        return cls(
            format_name=rec.get("format_name") or "mp4",
            duration=float(rec.get("duration") or 0.0),
            has_video=bool(rec.get("has_video")),
            has_audio=True,  # a stored recording always has sound (inspect requires it)
            **{name: rec.get(name) for name in fields},
        )

    @property
    def container_allows_copy(self) -> bool:
        return bool(COPYABLE_FORMATS.intersection(self.format_name.split(",")))

    @property
    def h264_video(self) -> bool:
        return self.video_codec == "h264" and self.pix_fmt in ("yuv420p", "yuvj420p")

    @property
    def aac_audio(self) -> bool:
        return self.audio_codec == "aac"

    @property
    def copy_video(self) -> bool:
        """Progressive 8-bit 4:2:0 H.264 in a container with timestamps goes into HLS as is."""
        return self.h264_video and not self.interlaced and self.container_allows_copy

    @property
    def copy_audio(self) -> bool:
        """Mono or stereo AAC is copied; everything else (WMA, FLAC, AC-3, ...) becomes AAC."""
        stereo_at_most = self.audio_channels is None or self.audio_channels <= 2
        return self.aac_audio and stereo_at_most and self.container_allows_copy

    @property
    def picture(self) -> bool:
        name = self.format_name
        return not self.has_audio and (name.endswith("_pipe") or name in PICTURE_FORMATS)


def _not_media(name: str) -> MediaError:
    return MediaError(NOT_MEDIA % {"name": name, "accepted": ACCEPTED})


def _picture(name: str) -> MediaError:
    return MediaError(PICTURE % {"name": name})


def _ffprobe(path: Path, name: str) -> dict:
    try:
        result = runner.run_capture(ffargs.probe(path), timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise _not_media(name) from exc
    if result.returncode != 0:
        if "moov atom not found" in result.stderr:
            raise MediaError(TRUNCATED % {"name": name})
        raise _not_media(name)
    return json.loads(result.stdout or "{}")


def _first(streams: list[dict], kind: str) -> dict | None:
    """The first stream of a kind whose codec ffprobe knows (a cover picture is no video)."""
    return next(
        (
            s
            for s in streams
            if s.get("codec_type") == kind
            and s.get("codec_name") not in (None, "", "none", "unknown")
            and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _describe(data: dict) -> MediaInfo:
    streams = data.get("streams", [])
    video, audio = _first(streams, "video"), _first(streams, "audio")
    fmt = data.get("format", {})
    # A format without a duration (a live-recorded WebM) may still know its streams' lengths.
    duration = _number(fmt.get("duration")) or max(
        (_number(s.get("duration")) for s in streams), default=0.0
    )
    size = _number(fmt.get("size"))
    bit_rate = _number(fmt.get("bit_rate")) or (size * 8 / duration if duration else 0.0)
    return MediaInfo(
        format_name=fmt.get("format_name", ""),
        duration=duration,
        bit_rate=round(bit_rate) or None,
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        interlaced=bool(video) and video.get("field_order") in INTERLACED,
        audio_channels=audio.get("channels") if audio else None,
    )


def describe(path: Path, name: str = "opptaket") -> MediaInfo:
    """What ffprobe finds in a file, without checking that it decodes (see inspect)."""
    return _describe(_ffprobe(path, name))


def _time_reached(progress: str) -> float:
    """The last `out_time_us=` of ffmpeg's -progress output, in seconds."""
    times = [line.split("=", 1)[1] for line in progress.splitlines()
             if line.startswith("out_time_us=")]  # fmt: skip
    return max((_number(t) / 1_000_000 for t in times), default=0.0)


def _check(args: list[str], name: str) -> subprocess.CompletedProcess[str]:
    try:
        return runner.run_capture(args, timeout=CHECK_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(TOO_SLOW % {"name": name}) from exc


def _measured_duration(path: Path, name: str, info: MediaInfo) -> float:
    """Read the whole file (copying, not decoding) to find a length its header lacks."""
    args = ffargs.measure_duration(path, audio=info.has_audio)
    return _time_reached(_check(args, name).stdout)


def _check_decodes_to_the_end(path: Path, name: str, info: MediaInfo) -> None:
    """Decode the last seconds; a file whose header promises more than it holds decodes
    nothing there (or with errors)."""
    start = max(0.0, info.duration - 3.0)
    args = ffargs.decode_check(path, start, audio=info.has_audio, video=info.has_video)
    result = _check(args, name)
    if "Decoder (codec" in result.stderr:  # a codec ffmpeg knows the name of but cannot play
        raise _not_media(name)
    decoded = _time_reached(result.stdout)
    too_little = decoded < min(1.0, (info.duration - start) / 2)
    if result.returncode != 0 or result.stderr.strip() or too_little:
        raise MediaError(DAMAGED % {"name": name})


def inspect(path: Path, name: str, need_audio: bool = True) -> MediaInfo:
    """Describe a recording, or raise MediaError saying in Norwegian what is wrong with it."""
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(EMPTY % {"name": name})
    info = describe(path, name)
    if info.picture:
        raise _picture(name)
    if not (info.has_audio or info.has_video):  # subtitles, text, data only
        raise _not_media(name)
    if need_audio and not info.has_audio:
        raise MediaError(NO_AUDIO % {"name": name})
    if not info.duration or info.format_name in GUESSED_DURATION:
        info = replace(info, duration=_measured_duration(path, name, info))
    if info.duration < MIN_SECONDS:
        raise _not_media(name)
    _check_decodes_to_the_end(path, name, info)
    return info
