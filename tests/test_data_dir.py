"""What the server writes into its data folder stays private: the key that signs every
session is owner-only, and nothing a real run writes is picked up by git (the data folder is
the checkout by default, so one `git add .` must not publish it)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.cli import import_recording
from server.web.app import create_app
from tests import factories
from tests.conftest import need

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def test_a_real_run_in_a_checkout_leaves_nothing_for_git(settings, worker, tmp_path):
    need("git", "ffmpeg", "espeak-ng")
    checkout = settings.data_dir
    _git(checkout, "init", "-q")
    shutil.copy(REPO / ".gitignore", checkout / ".gitignore")
    for folder in ("media", "transcripts"):
        (checkout / folder / ".gitkeep").touch()
    speech = factories.speech_wav(tmp_path / "speech.wav")
    source = factories.video(tmp_path / "talk.mp4", audio=speech, seconds=3, size="160x90")
    talk = import_recording(
        settings, source, talks.TalkInput(title="Privat", language="en", visibility="public")
    )
    while worker.run_once():
        pass
    with TestClient(create_app(settings)) as client:  # the lifespan writes what serve writes
        assert client.get(f"/talks/{talk.slug}").status_code == 200

    key = checkout / "secret.key"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (checkout / "transcripts" / str(talk.id) / "transcript.json").is_file()
    untracked = _git(checkout, "status", "--porcelain", "--untracked-files=all").split("\n")
    untracked = sorted(line[3:] for line in untracked if line)
    assert untracked == [".gitignore", "media/.gitkeep", "transcripts/.gitkeep"]
    if settings.database_url:  # on PostgreSQL the data folder holds media only, no database
        assert not list(checkout.glob("ktl.db*")), "no SQLite file beside PostgreSQL"


def test_a_key_file_readable_by_others_is_made_owner_only(settings):
    key = settings.data_dir / "secret.key"
    key.write_text("a" * 64)
    key.chmod(0o644)
    app = create_app(settings)
    assert app.state.secret == b"a" * 64
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_recording_gone_from_disk_is_a_404_with_a_sentence(settings, tmp_path):
    """An original removed by hand (or a half-restored data folder) must not give a 500."""
    need("ffmpeg")
    source = factories.video(tmp_path / "talk.mp4", seconds=2, size="160x90")
    data = talks.TalkInput(title="Borte", language="en", visibility="public")
    talk = import_recording(settings, source, data)
    (settings.media_dir / str(talk.id) / "original.mp4").unlink()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get(f"/talks/{talk.slug}/original")
    assert response.status_code == 404
    assert "Filen finnes ikke lenger på serveren" in response.text
