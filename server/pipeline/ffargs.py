"""Pure ffmpeg argument builders (through ffmpeg-python). No process is started here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

GLOBAL = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]
PROGRESS = ["-progress", "pipe:1"]
# checks: errors on stderr, the time reached as `out_time_us=` on stdout
CHECK = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", *PROGRESS]
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


def _audio_options(copy_audio: bool) -> dict[str, object]:
    return {"c:a": "copy"} if copy_audio else {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 2}


def _advertised(option: str, bitrate: int | None) -> dict[str, object]:
    """The master playlist's BANDWIDTH for a copied stream. Copied from a container that
    stores no per-stream bitrate (Matroska, MPEG-TS), a stream has none, and ffmpeg then
    leaves the master playlist without its variant; the source's overall bitrate is used
    (unknown: the top rung's, as a single variant's figure only needs to be there)."""
    return {option: str(bitrate) if bitrate else LADDER[0].max_rate}


def hls_remux(src: Path, out_dir: Path, copy_audio: bool, bitrate: int | None = None) -> list[str]:
    """H.264 video is copied as is; audio is copied when it is AAC, otherwise encoded."""
    source = ffmpeg.input(str(src))
    out = ffmpeg.output(
        source["v:0"],
        source["a:0"],
        str(out_dir / "stream_%v" / "index.m3u8"),
        **{"c:v": "copy", **_advertised("b:v", bitrate), **_audio_options(copy_audio)},
        **_hls_options(out_dir, "v:0,a:0"),
    )
    return _command(out)


def hls_ladder(
    src: Path, out_dir: Path, rungs: tuple[Rung, ...], deinterlace: bool = False
) -> list[str]:
    """Transcode a small H.264/AAC ladder, one variant stream per rung, with a master playlist.
    Interlaced video (camcorders' 1080i) is deinterlaced first: browsers show it combed."""
    source = ffmpeg.input(str(src))
    video = source["v:0"].filter("yadif") if deinterlace else source["v:0"]
    split = video.filter_multi_output("split", len(rungs))
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


def hls_audio(src: Path, out_dir: Path, copy_audio: bool, bitrate: int | None = None) -> list[str]:
    """Audio-only talks: one audio rendition."""
    source = ffmpeg.input(str(src))
    advertised = _advertised("b:a", bitrate) if copy_audio else {}
    out = ffmpeg.output(
        source["a:0"],
        str(out_dir / "stream_%v" / "index.m3u8"),
        **{**_audio_options(copy_audio), **advertised, **_hls_options(out_dir, "a:0")},
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


def decode_check(src: Path, from_seconds: float, audio: bool, video: bool) -> list[str]:
    """Decode the streams the pipeline uses from `from_seconds` (the last few seconds) to
    the end: a truncated recording fails here. Only the video's keyframes are decoded: in
    a container without an index (MPEG-TS) the seek lands between keyframes, and frames
    that refer to pictures before it would be reported as errors."""
    stream = ffmpeg.input(str(src), ss=f"{from_seconds:.3f}", skip_frame="nokey")
    picked = [stream[kind] for kind, wanted in (("a:0", audio), ("v:0", video)) if wanted]
    out = ffmpeg.output(*picked, "-", f="null")
    return [*CHECK, *out.get_args()]


def measure_duration(src: Path, audio: bool) -> list[str]:
    """Copy one stream to nowhere and report the time reached (`out_time_us=` on stdout)."""
    stream = ffmpeg.input(str(src))
    out = ffmpeg.output(stream["a:0" if audio else "v:0"], "-", f="null", c="copy")
    return [*CHECK, *out.get_args()]


def probe(src: Path) -> list[str]:
    return [
        "ffprobe", "-hide_banner", "-loglevel", "error",
        "-print_format", "json", "-show_format", "-show_streams", str(src),
    ]  # fmt: skip


def slide_scan(
    src: Path, frames: Path, scores: Path, fps: float, size: tuple[int, int]
) -> list[str]:
    """Slide detection's one pass: the video at `fps`, shrunk to `size` and grey, as raw
    bytes into `frames`, and each frame's scene score (lavfi.scene_score, the change from
    the frame before) printed with its time into `scores`."""
    width, height = size
    video = (
        ffmpeg.input(str(src))["v:0"]
        .filter("fps", fps)
        .filter("scale", width, height, flags="area")
        .filter("format", "gray")
        .filter("select", "gte(scene,0)")
        .filter("metadata", mode="print", key="lavfi.scene_score", file=str(scores))
    )
    out = ffmpeg.output(video, str(frames), f="rawvideo", pix_fmt="gray")
    return _command(out)


def slide_grab(src: Path, at_seconds: float, picture: Path, thumb: Path, width: int) -> list[str]:
    """One frame at `at_seconds`: full size as lossless PNG (for OCR) and a small JPEG."""
    source = ffmpeg.input(str(src), ss=f"{at_seconds:.3f}")
    split = source["v:0"].filter_multi_output("split", 2)
    full = ffmpeg.output(split[0], str(picture), vframes=1)
    small = ffmpeg.output(split[1].filter("scale", width, -2), str(thumb), vframes=1, **{"q:v": 4})
    return ["ffmpeg", *GLOBAL, *ffmpeg.merge_outputs(full, small).get_args()]
