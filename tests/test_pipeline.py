"""The whole flow with the real parts: ffprobe, ffmpeg HLS packaging, Whisper base, FTS5."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from server.catalogue import search, talks
from server.cli import import_recording
from server.pipeline import jobs
from server.store import write
from tests import factories

pytestmark = pytest.mark.integration


def _ffprobe_streams(path: Path) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)["streams"]


def _variants(master: Path) -> list[str]:
    return [line for line in master.read_text().splitlines() if line and not line.startswith("#")]


def _process(settings, worker, path: Path, **talk) -> dict:
    data = talks.TalkInput(title=talk.pop("title", "Foredrag"), language=talk.pop("language", "en"),
                           visibility="public", **talk)  # fmt: skip
    created = import_recording(settings, path, data)
    assert worker.run_once() is True
    return created


def test_h264_aac_talk_becomes_watchable_and_searchable(settings, worker, db, tmp_path):
    speech = factories.speech_wav(tmp_path / "speech.wav")
    source = factories.video(tmp_path / "talk.mp4", audio=speech, seconds=12)
    talk = _process(settings, worker, source, title="Elsykler på biblioteket")

    row = talks.get(db, talk.id)
    assert row.status == "ready"
    vod = settings.paths.vod(talk.id)
    variants = _variants(vod / "master.m3u8")
    assert len(variants) == 1, "H.264/AAC input is remuxed into one rendition"
    segment = next((vod / "stream_0").glob("seg_*.ts"))
    codecs = {s["codec_type"]: s for s in _ffprobe_streams(segment)}
    assert codecs["video"]["codec_name"] == "h264" and codecs["audio"]["codec_name"] == "aac"
    assert (codecs["video"]["width"], codecs["video"]["height"]) == (640, 360)
    assert (vod / "poster.jpg").stat().st_size > 1000
    assert (settings.media_dir / str(talk.id) / "original.mp4").is_file()

    folder = settings.transcripts_dir / str(talk.id)
    data = json.loads((folder / "transcript.json").read_text())
    text = " ".join(s["text"] for s in data["segments"]).lower()
    for word in ("library", "bicycles", "basement"):
        assert word in text
    assert all(s["words"] for s in data["segments"]), "word timestamps are kept"
    assert (folder / "transcript.vtt").read_text().startswith("WEBVTT")
    assert " --> " in (folder / "transcript.srt").read_text()
    assert "basement" in (folder / "transcript.txt").read_text().lower()

    expected = next(s["start"] for s in data["segments"] if "basement" in s["text"].lower())
    results = search.search(db, "basement")
    assert [g.talk_id for g in results.groups] == [talk.id]
    hit = results.groups[0].hits[0]
    assert abs(hit.start - expected) < 2.0
    assert hit.url == f"/talks/{talk.slug}?t={int(hit.start)}"


def test_spoken_time_matches_search_hit(settings, worker, db, tmp_path):
    """Speech starting at 6 s into the recording is found at about 6 s."""
    speech = factories.speech_wav(
        tmp_path / "s.wav", "Welcome everyone. The electric bicycles are charged in the basement."
    )
    delayed = tmp_path / "delayed.wav"
    factories.ffmpeg("-i", str(speech), "-af", "adelay=6000:all=1", str(delayed))
    source = factories.video(tmp_path / "t.mp4", audio=delayed, seconds=14)
    talk = _process(settings, worker, source)
    hit = search.search(db, "bicycles").groups[0].hits[0]
    assert talks.get(db, talk.id).status == "ready"
    assert 4.0 <= hit.start <= 8.0


def test_vp9_webm_is_transcoded_to_a_ladder(settings, worker, tmp_path):
    source = factories.video(
        tmp_path / "talk.webm", seconds=3, size="1280x720", vcodec="libvpx-vp9", acodec="libopus",
        extra=("-deadline", "realtime", "-cpu-used", "8"),
    )  # fmt: skip
    talk = _process(settings, worker, source)
    vod = settings.paths.vod(talk.id)
    master = (vod / "master.m3u8").read_text()
    assert "RESOLUTION=1280x720" in master and "RESOLUTION=640x360" in master
    for index, height in ((0, 720), (1, 360)):
        streams = _ffprobe_streams(next((vod / f"stream_{index}").glob("seg_*.ts")))
        video = next(s for s in streams if s["codec_type"] == "video")
        assert (video["codec_name"], video["height"]) == ("h264", height)


def test_audio_only_gets_audio_hls_and_a_plain_poster(settings, worker, tmp_path):
    source = factories.audio_only(tmp_path / "talk.mp3", seconds=4)
    talk = _process(settings, worker, source)
    vod = settings.paths.vod(talk.id)
    streams = _ffprobe_streams(next((vod / "stream_0").glob("seg_*.ts")))
    assert [s["codec_type"] for s in streams] == ["audio"]
    assert streams[0]["codec_name"] == "aac"
    assert (vod / "poster.jpg").is_file()


def test_norwegian_talk_is_transcribed_in_norwegian(settings, worker, tmp_path):
    speech = factories.speech_wav(tmp_path / "nb.wav", "Barnehagen er åpen hver dag.", voice="nb")
    source = factories.audio_only(tmp_path / "nb.m4a", audio=speech)
    talk = _process(settings, worker, source, language="nb")
    data = json.loads((settings.paths.transcript_json(talk.id)).read_text())
    assert data["language"] == "nb"
    assert data["segments"], "Norwegian speech gives a transcript"
    assert re.search(r"[a-zæøå]", " ".join(s["text"] for s in data["segments"]).lower())


def test_failed_stage_is_shown_and_retry_finishes(settings, worker, db, tmp_path):
    source = factories.video(tmp_path / "talk.mp4", seconds=3)
    talk = import_recording(settings, source, talks.TalkInput(title="Feil", language="en"))
    original = settings.media_dir / str(talk.id) / "original.mp4"
    hidden = original.with_name("moved-away.mp4")
    original.rename(hidden)
    worker.run_once()
    job = jobs.latest_for_talk(db, talk.id)
    assert job.state == "failed" and job.stage == "package"
    assert "Kunne ikke pakke opptaket" in job.error
    assert talks.get(db, talk.id).status == "failed"
    assert not list((settings.media_dir / str(talk.id)).glob(".work-*"))

    hidden.rename(original)
    with write(db):
        assert jobs.retry(db, job.id)
    worker.run_once()
    assert jobs.latest_for_talk(db, talk.id).state == "done"
    assert talks.get(db, talk.id).status == "ready"


def test_retranscribe_with_another_model_waits_for_acceptance(settings, worker, db, tmp_path):
    """The new transcript is a pending version; the current one stays until it is accepted."""
    from server.transcript import editing

    speech = factories.speech_wav(tmp_path / "speech.wav")
    talk = _process(settings, worker, factories.audio_only(tmp_path / "t.m4a", audio=speech))
    folder = settings.transcripts_dir / str(talk.id)
    before = (folder / "transcript.json").read_text()
    editing.request_retranscribe(db, settings, talk.id, "base", None)
    assert worker.run_once() is True
    job = jobs.latest_for_talk(db, talk.id)
    assert (job.kind, job.state) == ("retranscribe", "done")
    waiting = editing.pending(db, settings, talk.id)
    assert waiting is not None and waiting.model == "base"
    assert (folder / "transcript.json").read_text() == before, "current kept until accepted"
    version = editing.accept_pending(db, settings, talk.id, 0, None)
    assert version >= 1 and editing.pending(db, settings, talk.id) is None
    assert "bicycles" in editing.load_current(settings, talk.id).text.lower()
    assert talks.get(db, talk.id).status == "ready"
