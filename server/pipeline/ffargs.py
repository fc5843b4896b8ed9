"""Pure ffmpeg argument builders (through ffmpeg-python). No process is started here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

GLOBAL = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]
PROGRESS = ["-progress", "pipe:1"]
HLS_SEGMENT_SECONDS = 6
AUDIO_BITRATE = "128k"


@dataclass(frozen=True)
class Rung:
    height: int
    video_bitrate: str
    max_rate: str


LADDER = (Rung(720, "2800k", "3000k"), Rung(360, "800k", "900k"))


def ladder_for(source_height: int | None) -> tuple[Rung, ...]:
    """The rungs not taller than the source; a small source gets one rung at its own height."""
    height = source_height or LADDER[-1].height
    rungs = tuple(r for r in LADDER if r.height <= height)
    if rungs:
        return rungs
    even = max(2, height - height % 2)
    return (Rung(even, LADDER[-1].video_bitrate, LADDER[-1].max_rate),)


def _hls_options(out_dir: Path, var_stream_map: str) -> dict[str, object]:
    return {
        "f": "hls",
        "hls_time": HLS_SEGMENT_SECONDS,
        "hls_playlist_type": "vod",
        "hls_flags": "independent_segments",
        "hls_segment_type": "mpegts",
        "hls_segment_filename": str(out_dir / "stream_%v" / "seg_%05d.ts"),
        "master_pl_name": "master.m3u8",
        "var_stream_map": var_stream_map,
    }


def _command(stream: ffmpeg.nodes.OutputStream) -> list[str]:
    return ["ffmpeg", *GLOBAL, *PROGRESS, *stream.get_args()]


def hls_remux(src: Path, out_dir: Path, copy_audio: bool) -> list[str]:
    """H.264 video is copied as is; audio is copied when it is AAC, otherwise encoded."""
    source = ffmpeg.input(str(src))
    audio_opts = {"c:a": "copy"} if copy_audio else {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 2}
    out = ffmpeg.output(
        source["v:0"],
        source["a:0"],
        str(out_dir / "stream_%v" / "index.m3u8"),
        **{"c:v": "copy", **audio_opts, **_hls_options(out_dir, "v:0,a:0")},
    )
    return _command(out)


def hls_ladder(src: Path, out_dir: Path, rungs: tuple[Rung, ...]) -> list[str]:
    """Transcode a small H.264/AAC ladder, one variant stream per rung, with a master playlist."""
    source = ffmpeg.input(str(src))
    split = source["v:0"].filter_multi_output("split", len(rungs))
    streams: list[object] = []
    options: dict[str, object] = {
        "c:v": "libx264",
        "preset": "veryfast",
        "profile:v": "main",
        "pix_fmt": "yuv420p",
        "force_key_frames": f"expr:gte(t,n_forced*{HLS_SEGMENT_SECONDS})",
        "sc_threshold": 0,
        "c:a": "aac",
        "b:a": AUDIO_BITRATE,
        "ac": 2,
    }
    for index, rung in enumerate(rungs):
        streams += [split[index].filter("scale", -2, rung.height), source["a:0"]]
        options[f"b:v:{index}"] = rung.video_bitrate
        options[f"maxrate:v:{index}"] = rung.max_rate
        options[f"bufsize:v:{index}"] = rung.max_rate
    var_map = " ".join(f"v:{i},a:{i}" for i in range(len(rungs)))
    out = ffmpeg.output(
        *streams,
        str(out_dir / "stream_%v" / "index.m3u8"),
        **{**options, **_hls_options(out_dir, var_map)},
    )
    return _command(out)


def hls_audio(src: Path, out_dir: Path, copy_audio: bool) -> list[str]:
    """Audio-only talks: one audio rendition."""
    source = ffmpeg.input(str(src))
    audio_opts = {"c:a": "copy"} if copy_audio else {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 2}
    out = ffmpeg.output(
        source["a:0"],
        str(out_dir / "stream_%v" / "index.m3u8"),
        **{**audio_opts, **_hls_options(out_dir, "a:0")},
    )
    return _command(out)


def poster_from_video(src: Path, dest: Path, at_seconds: float) -> list[str]:
    stream = ffmpeg.input(str(src), ss=f"{at_seconds:.3f}")
    out = ffmpeg.output(stream["v:0"].filter("scale", -2, 720), str(dest), vframes=1, **{"q:v": 3})
    return ["ffmpeg", *GLOBAL, *out.get_args()]


def plain_poster(dest: Path, color: str = "0x1d4f5c") -> list[str]:
    """A plain poster for audio-only talks: one coloured 16:9 frame."""
    stream = ffmpeg.input(f"color=c={color}:s=1280x720:d=1", f="lavfi")
    out = ffmpeg.output(stream, str(dest), vframes=1, **{"q:v": 3})
    return ["ffmpeg", *GLOBAL, *out.get_args()]


def extract_audio(src: Path, dest: Path) -> list[str]:
    """16 kHz mono PCM, what Whisper wants."""
    source = ffmpeg.input(str(src))
    out = ffmpeg.output(source["a:0"], str(dest), ac=1, ar=16000, **{"c:a": "pcm_s16le"})
    return _command(out)


def decode_check(src: Path, from_end_seconds: float) -> list[str]:
    """Decode the last seconds of a file: a truncated recording fails here."""
    stream = ffmpeg.input(str(src), sseof=f"-{from_end_seconds:.3f}")
    out = ffmpeg.output(stream, "-", f="null")
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *out.get_args()]


def probe(src: Path) -> list[str]:
    return [
        "ffprobe", "-hide_banner", "-loglevel", "error",
        "-print_format", "json", "-show_format", "-show_streams", str(src),
    ]  # fmt: skip
