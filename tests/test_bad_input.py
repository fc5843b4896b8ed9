"""Anything that is not a usable recording gets a Norwegian message and leaves nothing behind."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from server.catalogue import talks
from server.cli import import_recording
from server.pipeline import probe
from tests import factories

pytestmark = pytest.mark.integration


def _pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")
    return path


def _zip(path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notat.txt", "ikke et opptak")
    path.write_bytes(buffer.getvalue())
    return path


def _random(path: Path) -> Path:
    path.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(200_000)))
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated(path: Path) -> Path:
    full = factories.video(path.with_name("full.mp4"), seconds=4)
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    return path


def _truncated_faststart(path: Path) -> Path:
    full = factories.video(path.with_name("fs.mp4"), seconds=6, extra=("-movflags", "+faststart"))
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    return path


def _no_audio(path: Path) -> Path:
    return factories.silent_video(path)


def _subtitles(path: Path) -> Path:
    path.write_text("1\n00:00:01,000 --> 00:00:04,000\nVelkommen til lunsjforedraget.\n\n")
    return path


def _text(path: Path) -> Path:
    path.write_text("Notater fra lunsjforedraget.\n" * 50)
    return path


def _animated_gif(path: Path) -> Path:
    return factories.picture(path, frames=20)


CASES = {
    "pdf": ("rapport.pdf", _pdf, "er ikke et lyd- eller videoopptak"),
    "zip": ("opptak.zip", _zip, "er ikke et lyd- eller videoopptak"),
    "random": ("opptak.mp4", _random, "er ikke et lyd- eller videoopptak"),
    "empty": ("tom.mp4", _empty, "er tom (0 byte)"),
    "truncated": ("halv.mp4", _truncated, "ufullstendig"),
    "truncated_faststart": ("halv2.mp4", _truncated_faststart, "ufullstendig"),
    "no_audio": ("stille.mp4", _no_audio, "har ikke noe lydspor"),
    "png": ("lysbilde.png", factories.picture, "er et bilde, ikke et opptak"),
    "jpeg": ("foto.jpg", factories.picture, "er et bilde, ikke et opptak"),
    "gif": ("animasjon.gif", _animated_gif, "er et bilde, ikke et opptak"),
    "subtitles": ("teksting.srt", _subtitles, "er ikke et lyd- eller videoopptak"),
    "text": ("notater.txt", _text, "er ikke et lyd- eller videoopptak"),
    "data_only": ("data.ts", factories.data_only, "er ikke et lyd- eller videoopptak"),
}


def _leftovers(settings) -> list[Path]:
    return [p for p in settings.media_dir.rglob("*") if p.is_file()]


def _counts(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("recordings", "jobs", "uploads")}  # fmt: skip


@pytest.mark.engine_independent  # the refusal is ffprobe's; test_bad_import_creates_no_talk
@pytest.mark.parametrize("case", CASES)  # checks the database on both engines
def test_bad_upload_is_refused_and_leaves_nothing(case, settings, db, tmp_path):
    name, make, expected = CASES[case]
    talk = factories.talk(db)
    upload = make(tmp_path / name).rename(settings.uploads_dir / "upload.part")
    with pytest.raises(talks.RecordingError) as caught:
        talks.attach_recording(db, settings, talk.id, upload, name)
    assert expected in str(caught.value)
    assert name in str(caught.value)
    if "ikke et lyd- eller videoopptak" in expected:
        assert "video- og lydopptak" in str(caught.value), "the refusal says what is taken"
        assert "mts" in str(caught.value) and "flac" in str(caught.value)
    assert caught.value.status == 422
    assert _leftovers(settings) == []
    assert _counts(db) == {"recordings": 0, "jobs": 0, "uploads": 0}
    assert talks.get(db, talk.id).status == "planned", "the talk can take a new upload"


@pytest.mark.parametrize("case", ["pdf", "no_audio", "truncated"])
def test_bad_import_creates_no_talk(case, settings, db, tmp_path):
    name, make, expected = CASES[case]
    source = make(tmp_path / name)
    with pytest.raises(talks.RecordingError, match=expected):
        import_recording(settings, source, talks.TalkInput(title="Import"))
    assert db.execute("SELECT COUNT(*) FROM talks").fetchone()[0] == 0
    assert _leftovers(settings) == []
    assert source.is_file(), "import never deletes the caller's own file"


def test_check_that_takes_too_long_is_refused_and_leaves_nothing(
    settings, db, tmp_path, monkeypatch
):
    """A file ffmpeg cannot read through within the limit (here: a limit of zero seconds)
    gets a sentence instead of a server error, and the upload is removed."""
    monkeypatch.setattr(probe, "CHECK_SECONDS", 0)
    talk = factories.talk(db)
    source = factories.audio_only(tmp_path / "lang.mp3", seconds=4)
    upload = source.rename(settings.uploads_dir / "upload.part")
    with pytest.raises(talks.RecordingError, match="i tide") as caught:
        talks.attach_recording(db, settings, talk.id, upload, "lang.mp3")
    assert caught.value.status == 422
    assert not upload.exists() and _leftovers(settings) == []
    assert _counts(db) == {"recordings": 0, "jobs": 0, "uploads": 0}
