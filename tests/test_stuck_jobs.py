"""A job whose worker vanished: shown as waiting for a free worker, retried by an organiser
(through the app as `ktl serve` builds it, signed in); and the per-stage count of attempts
that gives up a job dying at one stage but never one that moves forward."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.people import accounts
from server.pipeline import jobs
from server.pipeline.worker import Worker
from server.store import write
from server.web.app import create_app
from tests import factories
from tests.webclient import login, make_user, post

GONE = "elsewhere:4242:1"  # a worker on another machine that stopped without a word


@pytest.fixture
def client(signed_in):
    return signed_in("organiser")


def _transcribing(db, lease_seconds: float) -> tuple[dict, jobs.Job]:
    """A talk whose job packaged and is at 47 % of transcription in worker GONE."""
    talk = factories.talk(db, organiser=accounts.by_email(db, "organiser@kommune.no"))
    with write(db):
        jobs.enqueue(db, talk.id)
        talks.set_status(db, talk.id, "processing")
    job = jobs.claim(db, GONE, lease_seconds)
    jobs.report(db, job, GONE, "package", 0.5)
    with write(db):
        jobs.stage_done(db, job.id, GONE, "package")
    jobs.report(db, job, GONE, "transcribe", 0.47)
    return talk, job


def _wait_until_stalled(db, job_id: int) -> None:
    deadline = time.monotonic() + 10
    while not jobs.get(db, job_id).stalled():
        if time.monotonic() > deadline:
            pytest.fail("the lease did not run out")
        time.sleep(0.05)


def test_a_healthy_job_shows_its_progress_and_cannot_be_retried(client, db):
    talk, job = _transcribing(db, lease_seconds=60)
    url = f"/talks/{talk.slug}"
    status = client.get(f"{url}/status.json").json()
    assert status["waiting_for_worker"] is False and status["notice"] is None
    assert status["can_retry"] is False
    # no English track for this talk: its stage is not listed
    assert [(s["state"], s["progress"]) for s in status["stages"]] == [
        ("done", 1.0), ("running", 0.47), *[("waiting", 0.0)] * (len(jobs.STAGES) - 3),
    ]  # fmt: skip
    refused = post(client, f"{url}/prov-igjen")
    assert refused.status_code == 409
    assert "Behandlingen er i gang og går som den skal" in refused.text
    as_json = post(client, f"{url}/prov-igjen", headers={"Accept": "application/json"})
    assert as_json.status_code == 409 and "går som den skal" in as_json.json()["error"]
    assert jobs.get(db, job.id).worker == GONE, "nothing changed"


def test_a_job_whose_worker_vanished_waits_and_the_organiser_retries_it(client, db):
    talk, job = _transcribing(db, lease_seconds=1)
    url = f"/talks/{talk.slug}"
    _wait_until_stalled(db, job.id)

    status = client.get(f"{url}/status.json").json()
    assert status["waiting_for_worker"] is True
    assert status["notice"] == "Venter på en ledig arbeider"
    # no English track for this talk: its stage is not listed
    assert [(s["state"], s["progress"]) for s in status["stages"]] == [
        ("done", 1.0), ("stalled", None), *[("waiting", 0.0)] * (len(jobs.STAGES) - 3),
    ]  # fmt: skip
    assert status["can_retry"] is True and status["error"] is None
    page = client.get(url).text
    assert '<p class="notice" id="stage-waiting" role="status" >' in page
    assert "Venter på en ledig arbeider." in page and "47 %" not in page
    assert '<form id="stage-retry" method="post" action="' + url + '/prov-igjen" >' in page

    response = post(client, f"{url}/prov-igjen")
    assert response.status_code == 303 and response.headers["location"] == url
    again = jobs.get(db, job.id)
    assert (again.state, again.stages_done, again.attempts, again.worker) == (
        "queued", ("package",), 0, None,
    )  # fmt: skip
    entry = accounts.audit_entries(db)[0]
    assert (entry.actor, entry.action, entry.target) == (
        "organiser@kommune.no", "startet behandling på nytt", talk.title,
    )  # fmt: skip
    with write(db):
        assert not jobs.stage_done(db, job.id, GONE, "transcribe"), "the old worker is out"
    assert client.get(f"{url}/status.json").json()["waiting_for_worker"] is False

    second = post(client, f"{url}/prov-igjen")
    assert second.status_code == 409 and "står allerede i kø" in second.text
    taken = jobs.claim(db, "next:1:1", 60)
    assert taken.id == job.id and taken.stages_done == ("package",), "done stages are kept"


def test_only_the_talks_editors_may_retry(client, settings, db):
    talk, job = _transcribing(db, lease_seconds=1)
    _wait_until_stalled(db, job.id)
    make_user(settings, "viewer")
    with TestClient(create_app(settings), follow_redirects=False) as viewer:
        login(viewer, "viewer@kommune.no")
        page = viewer.get(f"/talks/{talk.slug}").text
        assert "Venter på en ledig arbeider." in page and "stage-retry" not in page
        assert post(viewer, f"/talks/{talk.slug}/prov-igjen").status_code == 403
    assert jobs.get(db, job.id).state == "running"


def test_the_waiting_notice_in_english(client, settings, db):
    talk, job = _transcribing(db, lease_seconds=1)  # a public talk: a guest may follow it
    _wait_until_stalled(db, job.id)
    with TestClient(create_app(settings)) as guest:
        page = guest.get(f"/talks/{talk.slug}", headers={"Accept-Language": "en"}).text
    assert "Waiting for a free worker." in page
    assert 'data-state-stalled="waiting for a worker"' in page


def _claim_and_die(db, stage: str, finish_stage: bool = False) -> jobs.Job:
    """A worker claims the job, works on `stage` (finishing it or not) and is killed: its
    lease is ended as the supervisor of a dead worker ends it."""
    job = jobs.claim(db, GONE, 60)
    assert job is not None
    jobs.report(db, job, GONE, stage, 0.3)
    if finish_stage:
        with write(db):
            jobs.stage_done(db, job.id, GONE, stage)
    jobs.expire_leases(db, "elsewhere:4242:")
    return job


def test_a_job_that_moves_forward_is_never_given_up(db):
    talk = factories.talk(db)
    with write(db):
        job_id = jobs.enqueue(db, talk.id)
    attempts = []
    for stage in jobs.STAGES:  # at every stage: killed once, then killed just after finishing
        attempts.append(_claim_and_die(db, stage).attempts)
        attempts.append(_claim_and_die(db, stage, finish_stage=True).attempts)
    # Two deaths per stage, more than MAX_ATTEMPTS in all, but never three at one stage.
    assert attempts == [1, 2] + [2, 3] * (len(jobs.STAGES) - 1)
    assert jobs.get(db, job_id).stages_done == jobs.STAGES


def test_a_job_that_dies_at_the_same_stage_again_and_again_fails_clearly(settings, db):
    talk = factories.talk(db)
    with write(db):
        job_id = jobs.enqueue(db, talk.id)
        talks.set_status(db, talk.id, "processing")
    _claim_and_die(db, "package", finish_stage=True)
    _claim_and_die(db, "transcribe")
    _claim_and_die(db, "transcribe")
    assert jobs.get(db, job_id).attempts == jobs.MAX_ATTEMPTS

    assert Worker(settings).run_once(), "the next worker claims the job, and gives it up"
    job = jobs.get(db, job_id)
    assert job.state == "failed" and job.stages_done == ("package",)
    assert "stoppet 3 ganger under «Transkriberer tale til tekst»" in job.error
    assert "Prøv igjen" in job.error
    assert talks.get(db, talk.id).status == "failed"


def test_the_status_json_has_every_field_in_both_languages(client, db):
    """status.json as the page's script reads it: every key, in order, labels and notice in
    the reader's language."""
    talk, job = _transcribing(db, lease_seconds=1)
    _wait_until_stalled(db, job.id)
    url = f"/talks/{talk.slug}/status.json"
    waiting = [{"name": name, "label": label, "state": "waiting", "progress": 0.0}
               for name, label in (("index", "Gjør innholdet søkbart"),
                                   ("slides", "Finner og leser lysbildene"))]  # fmt: skip
    expected = {
        "talk_status": "processing", "job_state": "running", "waiting_for_worker": True,
        "waiting_for_stage": None, "notice": "Venter på en ledig arbeider",
        "stages": [
            {"name": "package", "label": "Pakker video for avspilling", "state": "done",
             "progress": 1.0},
            {"name": "transcribe", "label": "Transkriberer tale til tekst", "state": "stalled",
             "progress": None},
            *waiting,
        ],
        "error": None, "can_retry": True, "playable": False,
    }  # fmt: skip
    answer = client.get(url)
    assert answer.json() == expected and list(answer.json()) == list(expected)
    assert answer.headers["cache-control"] == "no-store"
    client.cookies.set("ktl_lang", "en")
    english = client.get(url).json()
    assert english["notice"] == "Waiting for a free worker"
    assert english["stages"][1]["label"] == "Transcribing speech to text"
    assert {**english, "notice": expected["notice"], "stages": expected["stages"]} == expected


def test_the_retry_rule_is_domain_code(client, db):  # client: the organiser exists
    """server.pipeline.status.retry: a stalled job is queued again with the talk processing
    and the audit told; a healthy one is refused with the reason (RetryRefused, 409)."""
    from server.pipeline import status as processing

    organiser = accounts.by_email(db, "organiser@kommune.no")
    talk, job = _transcribing(db, lease_seconds=60)
    with pytest.raises(processing.RetryRefused) as refused:
        processing.retry(db, talk, organiser)
    assert refused.value.status == 409 and "går som den skal" in refused.value.message
    with write(db):
        db.execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", [job.id])  # its worker died
    processing.retry(db, talk, organiser)
    assert jobs.get(db, job.id).state == "queued" and talks.get(db, talk.id).status == "processing"
    entry = accounts.audit_entries(db)[0]
    assert (entry.actor, entry.action) == (organiser.email, "startet behandling på nytt")
