"""The talk page's status poll (static/js/status.js) in headless Chromium against `ktl serve`:
a job whose worker vanished shows as waiting for a free worker, the page follows it when a
worker takes it over and when that one vanishes too, and the organiser's "Prøv igjen" queues
it again. The workers here are the test itself calling server.pipeline.jobs (no embedded
worker), so the job stays in each state long enough to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.catalogue import talks
from server.people import accounts
from server.pipeline import jobs
from server.store import db as database
from tests import factories
from tests.liveserver import serve
from tests.test_a11y import assert_accessible
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]
STATE = "[data-stage=transcribe] .state"


def _expire(db, worker: str) -> None:
    """The worker process died and its supervisor ended its lease."""
    jobs.expire_leases(db, worker.rsplit(":", 1)[0] + ":")


def test_the_page_follows_a_job_through_a_dead_worker_a_takeover_and_a_retry(
    settings, db, page, tmp_path: Path
):
    make_user(settings, "organiser")
    talk = factories.talk(db, organiser=accounts.by_email(db, "organiser@kommune.no"))
    with db.conn:
        job_id = jobs.enqueue(db, talk.id)
        talks.set_status(db, talk.id, "processing")
    first = jobs.claim(db, "host:101:a", 60)
    with db.conn:
        jobs.stage_done(db, job_id, "host:101:a", "package")
    jobs.report(db, first, "host:101:a", "transcribe", 0.47)
    _expire(db, "host:101:a")

    with serve(settings.data_dir, tmp_path / "serve.log", KTL_EMBEDDED_WORKER="0") as base:
        page.goto(base + "/logg-inn")
        page.fill("#email", "organiser@kommune.no")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(f"{base}/talks/{talk.slug}")
        assert page.is_visible("#stage-waiting") and page.is_visible("#stage-retry button")
        assert page.inner_text(STATE) == "venter på arbeider"
        assert page.get_attribute("[data-stage=transcribe] progress", "value") is None
        assert_accessible(page, "a talk whose job waits for a free worker")

        second = jobs.claim(db, "host:202:b", 60)  # a worker takes the job over
        jobs.report(db, second, "host:202:b", "transcribe", 0.3)
        page.wait_for_function(f"() => document.querySelector('{STATE}').textContent === 'pågår'")
        assert page.is_hidden("#stage-waiting") and page.is_hidden("#stage-retry")
        assert page.eval_on_selector("[data-stage=transcribe] progress", "p => p.value") == 0.3

        _expire(db, "host:202:b")  # ... and dies as well
        page.wait_for_selector("#stage-waiting", state="visible")
        assert page.inner_text(STATE) == "venter på arbeider"
        page.click("#stage-retry button")
        page.wait_for_load_state()
        assert page.inner_text(STATE) == "venter" and page.is_hidden("#stage-waiting")

    with database.session(settings) as check:
        job = jobs.get(check, job_id)
        assert (job.state, job.stages_done, job.worker) == ("queued", ("package",), None)
