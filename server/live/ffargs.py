"""Pure ffmpeg argument builders for live ingest and for joining the parts afterwards.

Every live part is one ffmpeg process writing HLS with 1-second MPEG-TS segments and a
playlist that lists all of them (`-hls_list_size 0`): the viewers' short live playlist is
built from it (server.live.playlist), and the segments joined in order are the recording.
Video is always encoded again (x264 `veryfast`, `zerolatency`, a keyframe every second,
at most 720 lines), so that segments are 1 second whatever the publisher sends; audio is
encoded to AAC (browsers record Opus).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

SEGMENT_SECONDS = 1
PLAYLIST = "stream.m3u8"
SEGMENT_PATTERN = "seg-%05d.ts"
SRT_LATENCY_US = 200_000
SRT_KEY_LENGTH = 16


def _encode_and_package(part_dir: Path) -> list[str]:
    return [
        "-map", "0:v:0?", "-map", "0:a:0?",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-vf", "scale=-2:'min(720,ih)'",
        "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})", "-sc_threshold", "0",
        "-fps_mode", "vfr",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0",
        "-hls_segment_type", "mpegts",
        "-hls_flags", "independent_segments+program_date_time+temp_file",
        "-hls_segment_filename", str(part_dir / SEGMENT_PATTERN),
        str(part_dir / PLAYLIST),
    ]  # fmt: skip


def _base() -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-y"]


# Start writing after one second of input instead of ffmpeg's default five of probing.
FAST_START = ["-analyzeduration", "1000000", "-probesize", "1000000"]


def browser_ingest(part_dir: Path) -> list[str]:
    """MediaRecorder chunks (WebM or MP4, any codecs) on stdin → live HLS in part_dir."""
    base = [a for a in _base() if a != "-nostdin"]
    return [*base, *FAST_START, "-i", "pipe:0", *_encode_and_package(part_dir)]


def srt_url(host: str, port: int, passphrase: str, mode: str) -> str:
    query = urlencode(
        {"mode": mode, "latency": SRT_LATENCY_US, "passphrase": passphrase,
         "pbkeylen": SRT_KEY_LENGTH}
    )  # fmt: skip
    return f"srt://{host}:{port}?{query}"


def srt_ingest(bind: str, port: int, passphrase: str, part_dir: Path) -> list[str]:
    """An SRT listener that only a publisher with the passphrase gets through (the SRT
    handshake refuses the others) → live HLS in part_dir. Exits when the publisher leaves."""
    return [*_base(), *FAST_START, "-i", srt_url(bind, port, passphrase, "listener"),
            *_encode_and_package(part_dir)]  # fmt: skip


def join_parts(list_file: Path, dest: Path) -> list[str]:
    """The parts (MPEG-TS files named in an ffconcat list) joined into one MP4 without
    re-encoding."""
    return [*_base(), "-f", "concat", "-safe", "0", "-i", str(list_file),
            "-map", "0", "-c", "copy", "-bsf:a", "aac_adtstoasc",
            "-movflags", "+faststart", str(dest)]  # fmt: skip
