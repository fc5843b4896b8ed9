"""Write units that read, decide and write for one talk, run at the same moment from
connections of their own, on each engine: SQLite's write unit is alone, PostgreSQL's run
side by side (READ COMMITTED) and wait for each other only where the domain code says so
(server.catalogue.talks.hold, server.store.locks). Each test fails on PostgreSQL without
that wait: a unique index refuses the second row and the request would end in an error."""

from __future__ import annotations

import threading
from collections.abc import Callable

from server.catalogue import chapters, talks
from server.store import db as database
from server.transcript import editing
from server.transcript.model import Segment
from tests.test_editing import MACHINE, _ready_talk
from tests.webclient import make_user

TOGETHER = 6  # units started at one moment


def _at_once(settings, work: Callable[[object, int], object]) -> list[object]:
    """`work(db, n)` in TOGETHER threads, each on a connection of its own, released
    together; what each returned, or the exception it raised."""
    outcomes: list[object] = [None] * TOGETHER
    barrier = threading.Barrier(TOGETHER)

    def run(n: int) -> None:
        with database.session(settings) as db:
            barrier.wait()
            try:
                outcomes[n] = work(db, n)
            except Exception as exc:  # what a request would have answered, kept for the test
                outcomes[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(TOGETHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_talks_with_one_title_created_at_once_get_a_slug_each(settings):
    def create(db, n: int):
        return talks.create(db, talks.TalkInput(title="Vann og avløp")).slug

    slugs = _at_once(settings, create)
    assert sorted(slugs) == sorted(
        ["vann-og-avlop"] + [f"vann-og-avlop-{n}" for n in range(2, TOGETHER + 1)]
    )


def test_edits_from_one_version_at_once_make_one_version_and_conflicts(settings, db):
    organiser = make_user(settings, "organiser")
    talk = _ready_talk(settings, db, organiser)

    def save(db, n: int):
        lines = [MACHINE[0], Segment(2.0, 4.5, f"Redigert av nummer {n}."), MACHINE[2]]
        return editing.save(db, settings, talk.id, lines, 0, organiser)

    outcomes = _at_once(settings, save)
    assert outcomes.count(1) == 1, outcomes
    assert all(isinstance(o, editing.ConflictError) for o in outcomes if o != 1), outcomes
    numbers = sorted(v.version for v in editing.versions(db, talks.get(db, talk.id)))
    assert numbers == [0, 1]
    assert talks.get(db, talk.id).transcript_version == 1


def test_chapters_an_organiser_saves_while_proposals_are_made_stay(settings, db):
    organiser = make_user(settings, "organiser")
    talk = _ready_talk(settings, db, organiser)
    mine = [chapters.Chapter(0.0, "Start"), chapters.Chapter(4.0, "Slutt")]

    def one(db, n: int):
        if n == 0:
            return chapters.save(db, talk.id, mine)
        return chapters.propose(db, talk.id, [], MACHINE, "nb", 7.0)

    outcomes = _at_once(settings, one)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert chapters.for_talk(db, talk.id) == [
        chapters.Chapter(0.0, "Start", chapters.ORGANISER),
        chapters.Chapter(4.0, "Slutt", chapters.ORGANISER),
    ]
