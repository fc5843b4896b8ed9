"""Typed records: a talk and its recording are frozen records with a field for every column
of their table; domain functions return them and JSON gets the same values as the row."""

from __future__ import annotations

import dataclasses

import pytest

from server.catalogue import talks
from server.catalogue.records import Broadcast, Recording, Talk, Watching
from server.learning import progress, quizzes
from server.people import accounts
from server.people.access import Viewer
from server.people.accounts import create_user
from server.store import write
from tests import factories


def _columns(db, table: str) -> set[str]:
    """The table's column names, as either engine describes an empty answer."""
    return {column[0] for column in db.execute(f"SELECT * FROM {table} LIMIT 0").description}


def _fields(record: type) -> set[str]:
    return {f.name for f in dataclasses.fields(record)}


@pytest.mark.parametrize(
    ("record", "table"),
    [(Talk, "talks"), (Recording, "recordings"), (Broadcast, "broadcasts"),
     (quizzes.Attempt, "attempts"), (progress.WatchProgress, "watch_progress")],
)  # fmt: skip
def test_every_column_has_a_field(db, record, table):
    """A migration that adds a column adds the field too (from_row would leave it aside)."""
    assert _fields(record) == _columns(db, table)


def test_a_talk_is_a_frozen_record_with_the_row_as_json(db):
    talk = talks.create(db, talks.TalkInput(title="Vann og avløp", room="Kantina", capacity="40"))
    assert isinstance(talk, Talk)
    with pytest.raises(dataclasses.FrozenInstanceError):
        talk.title = "Noe annet"  # type: ignore[misc]
    row = db.execute("SELECT * FROM talks WHERE id = ?", [talk.id]).fetchone()
    assert talk.to_json() == dict(row)
    assert (talk.room, talk.capacity, talk.when) == ("Kantina", 40, talk.created_at)
    assert (
        talks.get(db, talk.id) == talk == talks.find(db, talk.slug) == talks.find(db, str(talk.id))
    )
    assert talks.get(db, talk.id + 1) is None and talks.find(db, "finnes-ikke") is None


def test_lists_give_talks_and_a_row_with_more_columns_still_makes_one(db):
    talk = talks.create(db, talks.TalkInput(title="Brannvern", visibility="public"))
    assert talks.list_talks(db) == [talk]
    joined = db.execute("SELECT t.*, 42 AS extra FROM talks t").fetchone()
    assert Talk.from_row(joined) == talk


def test_audit_changes_read_the_records(db):
    before = talks.create(db, talks.TalkInput(title="Skole", room=""))
    after = dataclasses.replace(before, room="Kantina", description="Ny tekst")
    assert talks.changes(before, after) == "rom –→Kantina; beskrivelse endret"
    assert talks.changes(before, before) == "ingen endringer"


def test_an_attached_recording_is_a_record(db, settings, tmp_path):
    talk = talks.create(db, talks.TalkInput(title="Opptak"))
    clip = factories.video(tmp_path / "klipp.mp4", seconds=1.0, size="160x90")
    attached = talks.attach_recording(db, settings, talk.id, clip, "klipp.mp4")
    assert isinstance(attached, Recording) and attached == talks.recording(db, talk.id)
    assert (attached.path, attached.has_video, attached.width) == ("original.mp4", 1, 160)
    assert attached.duration == pytest.approx(1.0, abs=0.2)


def test_continue_watching_gives_the_talk_and_where_to_resume(db, settings):
    viewer = create_user(db, "seer@kommune.no", "Seer", "viewer")
    talk = talks.create(db, talks.TalkInput(title="Halvveis", visibility="internal"))
    with write(db):
        db.execute("UPDATE talks SET status = 'ready' WHERE id = ?", [talk.id])
        db.execute(
            "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
            "created_at) VALUES (?, 'a.mp4', 'original.mp4', 1, 100, 1, '2026-01-01')",
            [talk.id],
        )
    progress.record(db, viewer.id, talk.id, {"intervals": [[0, 30]], "position": 30})
    (item,) = progress.continue_watching(db, Viewer(viewer))
    assert item == Watching(talks.get(db, talk.id), percent=30, resume=30)


def test_a_quiz_attempt_is_a_record_with_its_answers_read(db):
    viewer = create_user(db, "quiz@kommune.no", "Quiz", "viewer")
    talk = talks.create(db, talks.TalkInput(title="Quiz", visibility="internal"))
    with write(db):
        for answers in ('{"3": [1], "4": "Tekst"}', "ikke json", "[1, 2]"):
            db.execute(
                "INSERT INTO attempts (talk_id, user_id, started_at, answers) VALUES (?, ?, ?, ?)",
                [talk.id, viewer.id, "2026-01-01T10:00:00+00:00", answers],
            )
    rows = db.execute("SELECT * FROM attempts ORDER BY id").fetchall()
    read = [quizzes.Attempt.from_row(row) for row in rows]
    assert [a.answers for a in read] == [{"3": [1], "4": "Tekst"}, {}, {}]
    assert (read[0].submitted_at, read[0].score, read[0].passed) == (None, None, False)
    assert quizzes.open_attempt(db, viewer.id, talk.id) == read[2]  # the newest open one
    with pytest.raises(dataclasses.FrozenInstanceError):
        read[0].passed = True  # type: ignore[misc]


def test_a_live_question_is_a_record_with_a_field_for_every_column(db):
    """The one field more than the table's columns is `asker`, joined from users."""
    from server.live import broadcasts

    assert _fields(broadcasts.Question) - {"asker"} == _columns(db, "live_questions")
    talk = talks.create(db, talks.TalkInput(title="Direkte"))
    broadcasts.ensure(db, talk)
    broadcasts.set_state(db, talk.id, broadcasts.LIVE)
    asked = broadcasts.ask(db, talk.id, None, "  Hva  koster det? ")
    assert isinstance(asked, broadcasts.Question) and asked.text == "Hva koster det?"
    assert broadcasts.questions(db, talk.id) == [asked] and asked.asker == ""
    assert asked.to_json() == {"id": asked.id, "text": "Hva koster det?", "asker": "",
                               "created_at": asked.created_at, "answered_at": None}  # fmt: skip


def test_the_processing_status_is_a_frozen_record(db, settings):
    from server.pipeline import jobs
    from server.pipeline import status as processing

    talk = talks.create(db, talks.TalkInput(title="Behandles"))
    idle = processing.for_talk(db, settings, talk)
    assert (idle.job_state, idle.can_retry, idle.playable, idle.packaged) == (None, False, False,
                                                                               False)  # fmt: skip
    with write(db):
        jobs.enqueue(db, talk.id)
    queued = processing.for_talk(db, settings, talk)
    assert queued.job_state == "queued" and {s.state for s in queued.stages} == {"waiting"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        queued.can_retry = True  # type: ignore[misc]
    english = queued.translated(lambda text: text.upper())
    assert english.stages[0].label == queued.stages[0].label.upper() and english.notice is None
    assert queued.to_json()["stages"][0] == {"name": "package", "label": queued.stages[0].label,
                                             "state": "waiting", "progress": 0.0}  # fmt: skip


def test_an_audit_entry_is_a_record_with_a_field_for_every_column(db):
    """The one field more than the table's columns is `actor_name`, joined from users."""
    assert _fields(accounts.AuditEntry) - {"actor_name"} == _columns(db, "audit_log")
    actor = create_user(db, "logg@kommune.no", "Logg Leser", "admin")
    accounts.audit(db, actor, "endret noe", "Et foredrag", "detaljer")
    accounts.audit(db, None, "ryddet opp")
    newest, first = accounts.audit_entries(db)[:2]
    assert isinstance(newest, accounts.AuditEntry)
    assert (newest.actor, newest.actor_name, newest.action) == ("system", None, "ryddet opp")
    assert (first.actor, first.actor_name, first.target, first.detail) == (
        "logg@kommune.no", "Logg Leser", "Et foredrag", "detaljer",
    )  # fmt: skip
