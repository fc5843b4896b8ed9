"""The transcription stage before Whisper's first figure: the worker reports that it has
begun (the model is loaded, the audio extracted) before the engine is asked; the page shows a
moving bar and "laster talemodellen …" instead of a bar frozen at 0 %, then real progress.

The worker runs the real engine on real speech; the page runs in Chromium against
`ktl serve`, with a job whose reports come from a worker elsewhere (written to the store)."""

from __future__ import annotations

import pytest

from server import cli
from server.catalogue import talks
from server.pipeline import jobs
from server.pipeline.worker import TRANSCRIBE_STARTED, Worker
from server.store import db as database
from server.store import write
from tests import factories
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
from tests.webclient import make_user

ELSEWHERE = "elsewhere:4242:1"


class _Watched:
    """The real engine, and what the job reported when the worker asked it to transcribe."""

    def __init__(self, engine, settings) -> None:
        self.engine, self.settings, self.seen = engine, settings, []

    def transcribe(self, audio, language, duration, progress, vocabulary=(), on_segment=None):
        with database.session(self.settings) as db:
            job = jobs.latest_for_talk(db, self.talk_id)
        self.seen.append((job.stage, job.progress))
        return self.engine.transcribe(audio, language, duration, progress, vocabulary, on_segment)

    def __getattr__(self, name):
        return getattr(self.engine, name)


@pytest.mark.integration
def test_the_worker_reports_that_transcription_began_before_whispers_first_figure(
    settings, engine, tmp_path
):
    speech = factories.speech_wav(tmp_path / "speech.wav")
    clip = factories.video(tmp_path / "clip.mp4", audio=speech, seconds=4)
    talk = cli.import_recording(settings, clip, talks.TalkInput(title="Tale", language="en"))
    watched = _Watched(engine, settings)
    watched.talk_id = talk.id
    assert Worker(settings, engine_factory=lambda: watched).run_once()
    assert watched.seen == [("transcribe", TRANSCRIBE_STARTED)]
    with database.session(settings) as db:
        assert talks.get(db, talk.id).status == "ready"


def _job_at(settings, talk_id: int, stage: str, share: float) -> None:
    with database.session(settings) as db:
        job = jobs.latest_for_talk(db, talk_id)
        jobs.report(db, job, ELSEWHERE, stage, share)


@pytest.mark.browser
def test_the_page_shows_the_model_loading_then_real_progress(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    require_chromium()
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = factories.talk(db, organiser=organiser, visibility="public")
        with write(db):
            jobs.enqueue(db, talk.id)
            talks.set_status(db, talk.id, "processing")
        job = jobs.claim(db, ELSEWHERE, 600)
        jobs.report(db, job, ELSEWHERE, "package", 1.0)
        with write(db):
            jobs.stage_done(db, job.id, ELSEWHERE, "package")
    _job_at(settings, talk.id, "transcribe", 0.0)
    stage = "[data-stage='transcribe']"
    moving = f"document.querySelector(\"{stage} progress\").matches(':indeterminate')"
    env = {"KTL_EMBEDDED_WORKER": "0"}
    with serve(settings.data_dir, tmp_path / "serve.log", **env) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(
            locale="nb-NO", viewport={"width": 390, "height": 844}
        ).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/talks/{talk.slug}")
        assert page.inner_text(f"{stage} .state") == "laster talemodellen …"
        assert page.evaluate(moving), "a moving bar, not 0 %"
        page.screenshot(path=tmp_path / "loading.png")

        _job_at(settings, talk.id, "transcribe", TRANSCRIBE_STARTED)
        page.wait_for_function(
            f"() => document.querySelector(\"{stage} .state\").textContent === 'pågår'"
        )
        assert page.evaluate(moving), "a moving bar, not 0 %"

        _job_at(settings, talk.id, "transcribe", 0.3)
        page.wait_for_function(f'() => document.querySelector("{stage} progress").value === 0.3')
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        page.screenshot(path=tmp_path / "progress.png")
        assert errors == []
        browser.close()
