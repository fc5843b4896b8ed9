"""The few seconds' memory of search answers (server.web.shortcache): shared only between
viewers with the same rules, forgotten at the first write unit this process commits, one
computation for concurrent askers, and off with KTL_SEARCH_CACHE_SECONDS=0."""

from __future__ import annotations

import threading
import time

import pytest

from server.catalogue import search, talks
from server.store import open_store
from server.transcript.model import Segment
from server.web.shortcache import ShortCache
from tests import factories


def _public_talk(db, word: str) -> int:
    talk = factories.talk(db, language="nb", title="Lesestund")
    search.index_talk(db, talk.id, [Segment(0, 5, f"I dag om {word} i kommunen.")], "nb")
    talks.set_status(db, talk.id, "ready")
    return talk.id


def test_a_write_through_the_app_shows_at_once(app, client, signed_in, db):
    talk_id = _public_talk(db, "bibliotekvakt")
    employee = signed_in("viewer")
    assert "Lesestund" in client.get("/sok", params={"q": "bibliotekvakt"}).text
    with app.state.store.write() as unit:  # the talk made internal through the app's store
        unit.execute("UPDATE talks SET visibility = 'internal' WHERE id = ?", [talk_id])
    assert "Lesestund" not in client.get("/sok", params={"q": "bibliotekvakt"}).text
    # a viewer whose rule lets them see internal talks never gets the guest's answer
    assert "Lesestund" in employee.get("/sok", params={"q": "bibliotekvakt"}).text
    assert "Lesestund" not in client.get("/sok", params={"q": "bibliotekvakt"}).text


def test_an_answer_is_kept_until_a_write_or_its_time(settings):
    cache, made = ShortCache(0.5), []

    def make() -> int:
        made.append(1)
        return len(made)

    assert cache.get("q", make) == cache.get("q", make) == 1
    assert cache.get("other", make) == 2
    store = open_store(settings)  # SQLite file or PostgreSQL, as the test runs
    with store.write() as unit:
        unit.execute("UPDATE talks SET title = title")
    assert cache.get("q", make) == 3
    time.sleep(0.6)
    assert cache.get("q", make) == 4
    store.close()


def test_concurrent_askers_wait_for_one_computation():
    cache, made, gate = ShortCache(5), [], threading.Event()

    def make() -> str:
        made.append(1)
        gate.wait(5)
        return "svar"

    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("q", make))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert answers == ["svar"] * 8 and len(made) == 1


def test_a_failed_computation_is_not_kept_and_lets_the_next_try():
    cache = ShortCache(5)

    def fail() -> None:
        raise RuntimeError("nei")

    with pytest.raises(RuntimeError):
        cache.get("q", fail)
    assert cache.get("q", lambda: "ja") == "ja"


def test_zero_seconds_keeps_nothing():
    cache, made = ShortCache(0), []
    cache.get("q", lambda: made.append(1))
    cache.get("q", lambda: made.append(1))
    assert len(made) == 2


def test_a_remembered_session_ends_with_a_write_through_the_app(app, signed_in):
    employee = signed_in("viewer")
    assert employee.get("/", headers={"Accept": "text/html"}).status_code == 200
    before = employee.get("/").text
    with app.state.store.write() as unit:  # the account turned off through the app's store
        unit.execute("UPDATE users SET active = 0 WHERE id = ?", [employee.user.id])
    after = employee.get("/").text
    assert employee.user.name in before and employee.user.name not in after
