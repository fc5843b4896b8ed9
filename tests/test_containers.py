"""Every kind of recording people have becomes a ready talk: one short clip per container,
made by ffmpeg with espeak-ng speech, through the real probe, packaging and Whisper."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.catalogue import talks
from server.cli import import_recording
from server.pipeline import probe
from server.pipeline.worker import package_args
from tests import factories
from tests.conftest import need

# What each container does to the pipeline does not depend on the database: one engine.
pytestmark = [pytest.mark.integration, pytest.mark.engine_independent]

COPY, TRANSCODE = "copy", "transcode"


@dataclass(frozen=True)
class Case:
    name: str  # the file name, so its suffix picks ffmpeg's muxer
    make: Callable[[Path, Path], Path]  # (speech wav, destination) -> the recording
    video: str | None  # COPY, TRANSCODE, or None for audio only
    audio: str


def _clip(vcodec: str, acodec: str, *extra: str, size: str = "160x90"):
    def make(speech: Path, dest: Path) -> Path:
        return factories.video(dest, speech, 3, size, vcodec, acodec, extra)

    return make


def _sound(acodec: str, *extra: str):
    return lambda speech, dest: factories.sound(dest, speech, acodec, extra=extra)


# A camcorder's AVCHD: interlaced H.264 (so deinterlaced and transcoded), AC-3 at 48 kHz
AVCHD = _clip("libx264", "ac3", "-ar", "48000", "-flags", "+ildct+ilme", "-top", "1",
              "-f", "mpegts", size="160x96")  # fmt: skip
# MPEG-TS with 192-byte packets (Blu-ray, AVCHD's .m2ts), progressive H.264 and AAC
M2TS = _clip("libx264", "aac", "-f", "mpegts", "-mpegts_m2ts_mode", "1")
# What a browser's MediaRecorder (screen recorders) writes: no duration in the header
RECORDED_WEBM = _clip("libvpx", "libopus", "-deadline", "realtime", "-live", "1")
CASES = [
    Case("talk.mp4", _clip("libx264", "aac"), COPY, COPY),
    Case("talk.m4v", _clip("libx264", "aac"), COPY, COPY),
    Case("talk.mov", _clip("libx264", "pcm_s16le"), COPY, TRANSCODE),
    Case("talk.mkv", _clip("libx264", "aac"), COPY, COPY),
    Case("talk.webm", _clip("libvpx", "libvorbis", "-deadline", "realtime"), TRANSCODE, TRANSCODE),
    Case("screen.webm", RECORDED_WEBM, TRANSCODE, TRANSCODE),
    Case("talk.3gp", _clip("libx264", "aac"), COPY, COPY),
    Case("talk.flv", _clip("libx264", "aac"), COPY, COPY),
    Case("talk.avi", _clip("mpeg4", "libmp3lame"), TRANSCODE, TRANSCODE),
    Case("talk.wmv", _clip("wmv2", "wmav2"), TRANSCODE, TRANSCODE),
    Case("talk.ts", _clip("mpeg2video", "mp2"), TRANSCODE, TRANSCODE),
    Case("talk.mts", AVCHD, TRANSCODE, TRANSCODE),
    Case("talk.m2ts", M2TS, COPY, COPY),
    Case("talk.flac", _sound("flac"), None, TRANSCODE),
    Case("talk.wav", _sound("pcm_s16le"), None, TRANSCODE),
    Case("talk.mp3", _sound("libmp3lame"), None, TRANSCODE),
    Case("talk.aac", _sound("aac"), None, COPY),  # raw ADTS
    Case("talk.m4a", _sound("aac"), None, COPY),
    Case("talk.opus", _sound("libopus"), None, TRANSCODE),
    Case("talk.ogg", _sound("libvorbis"), None, TRANSCODE),
    Case("talk.mka", _sound("aac"), None, COPY),  # Matroska stores no stream bitrate
    Case("talk.wma", _sound("wmav2"), None, TRANSCODE),
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    need("ffmpeg", "ffprobe", "espeak-ng")
    return factories.speech_wav(tmp_path_factory.mktemp("speech") / "speech.wav")


def _streams(path: Path) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def _check_packaging(vod: Path, case: Case) -> None:
    master = (vod / "master.m3u8").read_text()
    assert master.startswith("#EXTM3U") and "stream_0/index.m3u8" in master
    streams = _streams(next((vod / "stream_0").glob("seg_*.ts")))
    assert streams["audio"]["codec_name"] == "aac"
    # the sources are mono; the encoder always writes stereo
    assert streams["audio"]["channels"] == (1 if case.audio == COPY else 2)
    if case.video is None:
        assert "video" not in streams
        return
    video = streams["video"]
    assert video["codec_name"] == "h264"
    assert video.get("field_order", "progressive") == "progressive"
    # libx264 ultrafast in the factory writes Constrained Baseline; the ladder writes Main
    profile = "Constrained Baseline" if case.video == COPY else "Main"
    assert video["profile"] == profile, f"video should be {case.video}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recording_becomes_a_ready_talk(case: Case, speech, settings, worker, db, tmp_path):
    source = case.make(speech, tmp_path / case.name)
    data = talks.TalkInput(title=f"Opptak {case.name}", language="en", visibility="public")
    talk = import_recording(settings, source, data)
    assert worker.run_once() is True

    assert talks.get(db, talk.id).status == "ready", talks.recording(db, talk.id)
    _check_packaging(settings.paths.vod(talk.id), case)
    path = settings.paths.transcript_json(talk.id)
    segments = json.loads(path.read_text())["segments"]
    assert segments, "Whisper heard the speech"
    assert "lunch" in " ".join(s["text"] for s in segments).lower()


def _info(format_name: str, **changes) -> probe.MediaInfo:
    fields = dict(format_name=format_name, duration=60.0, has_video=True, has_audio=True,
                  video_codec="h264", audio_codec="aac", width=1920, height=1080,
                  pix_fmt="yuv420p", interlaced=False, audio_channels=2)  # fmt: skip
    return probe.MediaInfo(**{**fields, **changes})


@pytest.mark.parametrize(
    ("info", "video_copied", "audio_copied"),
    [
        (_info("mov,mp4,m4a,3gp,3g2,mj2"), True, True),
        (_info("mpegts"), True, True),
        (_info("flv"), True, True),
        (_info("avi"), False, False),  # no presentation timestamps: B-frames would reorder
        (_info("asf"), False, False),
        # when the video is transcoded, so is the sound
        (_info("mpegts", interlaced=True), False, False),
        (_info("matroska,webm", pix_fmt="yuv420p10le"), False, False),
        (_info("mov,mp4,m4a,3gp,3g2,mj2", audio_channels=6), True, False),
        (_info("mpegts", audio_codec="ac3"), True, False),
    ],
)
def test_packaging_copies_only_what_hls_can_carry(info, video_copied, audio_copied):
    args = package_args(Path("original"), Path("vod"), info)
    assert ("libx264" not in args) is video_copied
    assert ("yadif" in " ".join(args)) is info.interlaced
    codec = args[args.index("-c:a") + 1]
    assert (codec == "copy") is audio_copied
