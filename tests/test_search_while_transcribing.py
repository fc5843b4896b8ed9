"""Searchable while transcribing: a new recording's segments enter the search index in
batches as Whisper produces them; the index stage replaces them exactly once."""

from __future__ import annotations

import re

import pytest

from server.catalogue import search, talks
from server.cli import import_recording
from server.pipeline import jobs
from server.pipeline import worker as worker_module
from server.store import db as database
from server.store import write
from server.transcript.model import Segment
from tests import factories
from tests.conftest import need


class _Watching:
    """The real engine; after each partial batch it records, through a connection of its
    own, what search finds for the newest segment's longest word and how many rows the
    talk has in the index."""

    def __init__(self, engine, settings) -> None:
        self.engine, self.settings, self.seen = engine, settings, []

    def transcribe(self, audio, language, duration, progress, vocabulary=(), on_segment=None):
        def watch(segment: Segment) -> None:
            on_segment(segment)
            word = max(re.findall(r"[^\W\d_]+", segment.text), key=len)
            with database.session(self.settings) as db:
                results = search.search(db, word)
                sql = "SELECT count(*), count(DISTINCT idx) FROM search_segments"
                rows = db.execute(sql).fetchone()
                status = db.execute("SELECT status FROM talks").fetchone()[0]
            self.seen.append((word, [(g.talk_id, g.transcribing) for g in results.groups],
                              tuple(rows), status))  # fmt: skip

        return self.engine.transcribe(audio, language, duration, progress, vocabulary, watch)

    def __getattr__(self, name):
        return getattr(self.engine, name)


@pytest.mark.integration
def test_segments_are_searchable_while_whisper_works(settings, engine, tmp_path, monkeypatch):
    need("ffmpeg", "espeak-ng")
    monkeypatch.setattr(worker_module, "PARTIAL_INDEX_SECONDS", 0.0)  # a batch per segment
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.LONG_ENGLISH_SPEECH)
    clip = factories.audio_only(tmp_path / "talk.m4a", speech, seconds=40)
    talk = import_recording(settings, clip, talks.TalkInput(title="Byggesak", language="en"))
    watching = _Watching(engine, settings)
    worker = worker_module.Worker(settings, engine_factory=lambda: watching)
    assert worker.run_once() is True

    assert len(watching.seen) >= 3, "the clip should give several segments"
    for n, (word, groups, (rows, distinct), status) in enumerate(watching.seen, start=1):
        assert status == "processing"
        assert groups and groups[0] == (talk.id, True), f"{word!r} not found while transcribing"
        assert rows == distinct == n, "each batch adds its segments once"
    with database.session(settings) as db:
        assert talks.get(db, talk.id).status == "ready"
        final = db.execute("SELECT count(*), count(DISTINCT idx) FROM search_segments")
        assert tuple(final.fetchone()) == (len(watching.seen),) * 2, "replaced exactly once"
        word = watching.seen[0][0]
        assert [(g.talk_id, g.transcribing) for g in search.search(db, word).groups] == [
            (talk.id, False)
        ]


def _claimed(settings, db, talk_id: int, worker: str) -> jobs.Job:
    job = jobs.claim(db, worker, 60)
    assert job is not None and job.talk_id == talk_id
    jobs.report(db, job, worker, "transcribe", 0.0)
    return job


def test_a_worker_that_lost_its_job_adds_nothing(settings, db):
    talk = factories.talk(db, language="nb")
    jobs.enqueue(db, talk.id)
    job = _claimed(settings, db, talk.id, "old-worker")
    batch = worker_module._PartialIndex(db, job, "old-worker", talk)
    batch(Segment(0, 31, "Første del om barnehager."))  # 31 s of audio: written at once
    batch(Segment(31, 40, "Andre del om skoler."))
    with write(db):
        db.execute("UPDATE jobs SET worker = 'new-worker' WHERE id = ?", [job.id])
    with pytest.raises(worker_module.LeaseLost):
        batch.flush()
    rows = db.execute("SELECT text FROM search_segments").fetchall()
    assert [row[0] for row in rows] == ["Første del om barnehager."]


def test_a_new_attempt_starts_the_partial_index_over(settings, db):
    talk = factories.talk(db, language="nb")
    jobs.enqueue(db, talk.id)
    job = _claimed(settings, db, talk.id, "first")
    first = worker_module._PartialIndex(db, job, "first", talk)
    first(Segment(0, 40, "Et forsøk som ble avbrutt."))
    with write(db):
        db.execute("UPDATE jobs SET worker = 'second' WHERE id = ?", [job.id])
    second = worker_module._PartialIndex(db, job, "second", talk)
    second(Segment(0, 40, "Et nytt forsøk."))
    second(Segment(40, 45, "Resten."))
    second.flush()
    rows = db.execute("SELECT idx, text FROM search_segments ORDER BY idx").fetchall()
    assert [tuple(row) for row in rows] == [(0, "Et nytt forsøk."), (1, "Resten.")]
    words = db.execute("SELECT word FROM search_vocab ORDER BY word").fetchall()
    assert [row[0] for row in words] == ["forsøk", "nytt", "resten"]


def test_search_page_shows_near_words_and_talks_being_transcribed(settings, db):
    from starlette.testclient import TestClient

    from server.web.app import create_app

    misheard = factories.talk(db, language="nb", title="Oppvekst")
    search.index_talk(db, misheard.id, [Segment(0, 5, "Tre nye barnhager i år.")], "nb")
    hidden = factories.talk(db, language="nb", title="Intern", visibility="internal")
    search.index_talk(db, hidden.id, [Segment(0, 5, "Barnehagr for ansatte.")], "nb")
    with write(db):
        talks.set_status(db, misheard.id, "processing")
        talks.set_status(db, hidden.id, "ready")
    with TestClient(create_app(settings)) as guest:
        page = guest.get("/sok", params={"q": "barnehager"}).text
        assert "Lignende treff:" in page and 'href="/sok?q=barnhager">barnhager</a> (1)' in page
        assert "Omtrentlig treff" in page and "Transkriberes fortsatt" in page
        assert "barnehagr" not in page.lower(), "a word of a talk the guest may not see"
        body = guest.get("/sok.json", params={"q": "barnehager"}).json()
        assert body["similar"] == [{"word": "barnhager", "hits": 1}]
        assert body["hits"][0]["approximate"] is True
        english = guest.get("/sok", params={"q": "barnehager"}, headers={"Accept-Language": "en"})
        assert "Similar matches:" in english.text and "Still being transcribed" in english.text
