"""A demo talk made on the spot (test picture + Norwegian speech from espeak-ng), run
through the real pipeline, so a new installation has something to watch and search."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from server.catalogue import talks
from server.core.config import Settings
from server.store import db as database

DEMO_TITLE = "Bli kjent med barnehagene i kommunen"
DEMO_TEXT = (
    "Velkommen til kunnskap til lunsj. I dag forteller barnehageetaten om arbeidet sitt. "
    "Kommunen har tjueto barnehager, og nesten alle barn mellom ett og fem år går i barnehage. "
    "Barnehagene samarbeider med helsestasjonen, skolen og barnevernet. "
    "Hvis du lurer på noe om barnehageplass, kan du kontakte servicetorget. "
    "Takk for at du så på, og velkommen tilbake neste måned."
)


def _speech(text: str, wav: Path) -> None:
    subprocess.run(
        # Slow speech with pauses between words is what Whisper base hears best from espeak.
        ["espeak-ng", "-v", "nb", "-s", "120", "-g", "8", "-w", str(wav), text], check=True,
        capture_output=True,
    )  # fmt: skip


def make_demo_video(dest: Path, text: str = DEMO_TEXT) -> Path:
    """An H.264/AAC mp4: a test picture with the speech as its sound track."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        _speech(text, wav)
        duration = float(ffmpeg.probe(str(wav))["format"]["duration"]) + 1.0
        video = ffmpeg.input(f"testsrc2=size=1280x720:rate=25:duration={duration:.2f}", f="lavfi")
        audio = ffmpeg.input(str(wav))
        out = ffmpeg.output(
            video, audio, str(dest), vcodec="libx264", pix_fmt="yuv420p", preset="veryfast",
            acodec="aac", movflags="+faststart", shortest=None,
        ).overwrite_output()  # fmt: skip
        out.run(quiet=True)
    return dest


def ensure_demo(
    settings: Settings,
    import_recording: Callable[[Settings, Path, talks.TalkInput], Any],
    wait_for_with_worker: Callable[[Settings, Any], int],
) -> int:
    """Add the demo talk once (and wait for it); a second run leaves it as it is. `ktl demo`
    passes its own import and wait (server.cli), so this module never imports the CLI."""
    with database.session(settings) as db:
        existing = db.execute(
            "SELECT id FROM talks WHERE title = ? AND status = 'ready'", [DEMO_TITLE]
        ).fetchone()
    if existing:
        print("Demoforedraget finnes allerede.")
        return 0
    if shutil.which("espeak-ng") is None:
        print("Feil: espeak-ng mangler. Kjør «bash scripts/install.sh».", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        video = make_demo_video(Path(tmp) / "demo.mp4")
        talk = import_recording(
            settings,
            video,
            talks.TalkInput(
                title=DEMO_TITLE, speaker="Kari Nordmann", department="Barnehageetaten",
                description="Et demoforedrag laget av «ktl demo»: testbilde og syntetisk tale.",
                language="nb", visibility="public",
            ),
        )  # fmt: skip
    return wait_for_with_worker(settings, talk)
