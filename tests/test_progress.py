"""Watch progress, completion of modules, "Mine moduler", reports and per-talk results."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest
from starlette.testclient import TestClient

from server.learning import progress, reports
from server.people import accounts
from server.people.access import Viewer
from server.store import db as database
from server.web.app import create_app
from server.web.middleware import csrf_token
from tests.test_access_matrix import _talk
from tests.webclient import csrf, login, make_user

LENGTH = 100.0  # seconds of the test recordings

# ---------------------------------------------------------------- interval arithmetic (pure)


def test_merge_joins_overlapping_and_adjacent_intervals():
    assert progress.merge([[0, 10]], [[5, 15]]) == [(0, 15)]
    assert progress.merge([[0, 5]], [[5, 10]]) == [(0, 10)]
    assert progress.merge([[0, 5]], [[6, 10]]) == [(0, 5), (6, 10)]
    assert progress.merge([], [[20, 30], [0, 10], [5, 12]]) == [(0, 12), (20, 30)]


def test_a_seek_leaves_a_gap_and_a_replay_counts_once():
    watched = progress.merge([], [[0, 10], [60, 70]])  # skipped from 10 to 60
    assert progress.total(watched) == 20
    replayed = progress.merge(watched, [[0, 10], [2, 8]])
    assert replayed == watched and progress.total(replayed) == 20


def test_merge_clamps_to_the_recording_and_drops_garbage():
    garbage = [
        [-5, 10], [10, 5], [math.nan, 3], [1, math.inf], ["1", "2"], [1], [1, 2, 3], "x", None,
        [True, 5], [30, 30],
    ]  # fmt: skip
    assert progress.merge([], garbage, duration=LENGTH) == []
    assert progress.merge([], [[90, 500]], duration=LENGTH) == [(90, 100)]
    assert progress.merge([], [[200, 300]], duration=LENGTH) == []
    assert progress.merge([], "not a list", duration=LENGTH) == []
    too_many = [[i, i + 0.5] for i in range(progress.MAX_INTERVALS + 1)]
    assert progress.merge([], too_many, duration=LENGTH) == []
    assert progress.total([(0, 12.5), (20, 30)]) == 22.5


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def env(settings):
    people = {
        "organiser": make_user(settings, "organiser", department="Kultur"),
        "viewer": make_user(settings, "viewer", department="Kultur"),
        "other": make_user(settings, "viewer", email="annen@kommune.no", department="Helse"),
        "admin": make_user(settings, "admin"),
    }
    with database.session(settings) as db:
        talk = _talk(db, settings, people["organiser"], "internal", "Kulturskolen forklart")
        second = _talk(db, settings, people["organiser"], "internal", "Barnevernet forklart")
        draft = _talk(db, settings, people["organiser"], "draft", "Hemmelig utkast")
        with database.write(db):
            db.execute("UPDATE recordings SET duration = ?", [LENGTH])
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield {"client": client, "settings": settings, "talk": talk, "second": second,
               "draft": draft, **people}  # fmt: skip


def _db(env):
    return database.session(env["settings"])


def _as(env, who: str) -> TestClient:
    client = env["client"]
    client.cookies.clear()
    if who != "guest":
        assert login(client, env[who].email).status_code == 303
    return client


def _report(env, talk, body, who: str = "viewer"):
    client = _as(env, who)
    return client.post(
        f"/talks/{talk.slug}/fremdrift",
        content=json.dumps(body),
        headers={"X-CSRF-Token": csrf(client), "Content-Type": "application/json"},
    )


def _watch(env, user, talk, intervals, position=0.0):
    with _db(env) as db:
        payload = {"intervals": intervals, "position": position}
        return progress.record(db, user.id, talk.id, payload)


def _quiz(db, talk_id: int, passed_by: list[int] = (), failed_by: list[int] = ()) -> None:
    """A published quiz with one scored question, and attempts inserted directly."""
    with database.write(db):
        db.execute(
            "INSERT INTO quizzes (talk_id, pass_mark, retries_allowed, published, updated_at) "
            "VALUES (?, 80, 1, 1, '2026-01-01T00:00:00+00:00')",
            [talk_id],
        )
        db.execute(
            "INSERT INTO questions (talk_id, position, kind, text, options, created_at) "
            "VALUES (?, 1, 'single', 'Hva?', ?, '2026-01-01')",
            [
                talk_id,
                json.dumps([{"text": "A", "correct": True}, {"text": "B", "correct": False}]),
            ],
        )
        for user_id in passed_by:
            _attempt(db, talk_id, user_id, "2026-02-01T10:00:00+00:00", 1.0, True, {})
        for user_id in failed_by:
            _attempt(db, talk_id, user_id, "2026-02-01T10:00:00+00:00", 0.0, False, {})


def _attempt(db, talk_id, user_id, at, score, passed, answers):
    with database.write(db):
        db.execute(
            "INSERT INTO attempts (talk_id, user_id, started_at, submitted_at, score, passed, "
            "answers) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [talk_id, user_id, at, at, score, int(passed), json.dumps(answers)],
        )


def _attend(db, user_id, talk_id, at="2026-01-15T11:30:00+00:00"):
    with database.write(db):
        db.execute(
            "INSERT INTO attendance (user_id, talk_id, how, at) VALUES (?, ?, 'room', ?)",
            [user_id, talk_id, at],
        )


# ---------------------------------------------------------------- the progress endpoint


def test_viewer_posts_progress_and_the_union_is_stored(env):
    talk, viewer = env["talk"], env["viewer"]
    first = _report(env, talk, {"intervals": [[0, 10]], "position": 10, "duration": 9999})
    assert first.status_code == 200, first.text
    assert first.json()["watched_seconds"] == 10 and first.json()["duration"] == LENGTH
    assert list(first.json()) == ["watched_seconds", "duration", "share", "position",
                                  "completed_at"]  # fmt: skip
    second = _report(env, talk, {"intervals": [[5, 20], [50, 60], [-1, 4]], "position": 60})
    assert second.json()["watched_seconds"] == 30
    with _db(env) as db:
        row = progress.stored(db, viewer.id, talk.id)
    assert row.intervals == ((0, 20), (50, 60))
    assert row.watched_seconds == 30 and row.position == 60 and row.duration == LENGTH


def test_simultaneous_reports_keep_every_interval(env):
    """Eight reports from the same person at the same moment (two tabs, a retry), each on
    its own connection as the server's threads have: the stored union holds all of them
    (on PostgreSQL the write units run side by side and must wait for each other)."""
    import threading

    talk, viewer = env["talk"], env["viewer"]
    barrier, errors = threading.Barrier(8), []

    def report(n: int) -> None:
        with _db(env) as db:
            barrier.wait()
            try:
                progress.record(db, viewer.id, talk.id, {"intervals": [[n * 10, n * 10 + 5]]})
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with _db(env) as db:
        row = progress.stored(db, viewer.id, talk.id)
    assert row.intervals == tuple((n * 10, n * 10 + 5) for n in range(8))
    assert row.watched_seconds == 40


def test_the_page_resumes_at_the_stored_position_unless_t_is_given(env):
    talk = env["talk"]
    _report(env, talk, {"intervals": [[0, 42]], "position": 42})
    page = env["client"].get(f"/talks/{talk.slug}")
    assert 'data-resume="42.0"' in page.text
    assert "js/progress.js" in page.text
    with_t = env["client"].get(f"/talks/{talk.slug}?t=5")
    assert 'data-start="5.0"' in with_t.text  # the player starts at ?t=; progress.js leaves it


def test_guests_and_talks_one_may_not_see_are_refused(env):
    client = _as(env, "guest")
    refused = client.post(
        f"/talks/{env['talk'].slug}/fremdrift", content=b"{}",
        headers={"X-CSRF-Token": csrf(client), "Content-Type": "application/json"},
    )  # fmt: skip
    assert refused.status_code == 401
    hidden = _report(env, env["draft"], {"intervals": [[0, 10]], "position": 10})
    assert hidden.status_code == 404
    with _db(env) as db:
        assert progress.stored(db, env["viewer"].id, env["draft"].id) is None


def test_garbage_bodies_are_answered_not_crashed(env):
    client = _as(env, "viewer")
    for body in (b"", b"not json", b"[1, 2]", b'{"intervals": "x"}'):
        response = client.post(
            f"/talks/{env['talk'].slug}/fremdrift", content=body,
            headers={"X-CSRF-Token": csrf(client), "Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code in (200, 400), body
    with _db(env) as db:
        row = progress.stored(db, env["viewer"].id, env["talk"].id)
    assert row is None or row.watched_seconds == 0


def test_a_public_talk_page_has_no_progress_script_for_guests(env):
    with _db(env) as db:
        public = _talk(db, env["settings"], env["organiser"], "public", "Åpent foredrag")
    page = _as(env, "guest").get(f"/talks/{public.slug}")
    assert page.status_code == 200 and "progress.js" not in page.text


# ---------------------------------------------------------------- completion


def test_watching_ninety_percent_completes_a_talk_without_quiz(env):
    viewer, talk = env["viewer"], env["talk"]
    assert _watch(env, viewer, talk, [[0, 89]]).completed_at is None
    done = _watch(env, viewer, talk, [[89, 90]]).completed_at
    assert done is not None
    with _db(env) as db:
        assert progress.completed_at(db, viewer.id, talk.id) == done


def test_attendance_counts_as_seen(env):
    viewer, talk = env["viewer"], env["talk"]
    with _db(env) as db:
        _attend(db, viewer.id, talk.id, "2026-01-15T11:30:00+00:00")
        assert progress.refresh_completion(db, viewer.id, talk.id) == "2026-01-15T11:30:00+00:00"


def test_a_quiz_is_required_when_the_talk_has_one(env):
    viewer, other, talk = env["viewer"], env["other"], env["talk"]
    with _db(env) as db:
        _quiz(db, talk.id)
    assert _watch(env, viewer, talk, [[0, 100]]).completed_at is None
    with _db(env) as db:
        assert progress.status(db, viewer.id, talk).missing == ["quiz"]
        _attempt(db, talk.id, viewer.id, "2099-01-01T09:00:00+00:00", 1.0, True, {})
        # the date is when the last condition became true: here the quiz, after watching
        assert progress.refresh_completion(db, viewer.id, talk.id) == "2099-01-01T09:00:00+00:00"
        # passed first, seen (attended) later: the attendance date
        _attempt(db, talk.id, other.id, "2026-01-10T09:00:00+00:00", 1.0, True, {})
        assert progress.refresh_completion(db, other.id, talk.id) is None
        _attend(db, other.id, talk.id, "2026-01-20T09:00:00+00:00")
        assert progress.refresh_completion(db, other.id, talk.id) == "2026-01-20T09:00:00+00:00"


def test_a_failed_quiz_is_not_enough(env):
    viewer, talk = env["viewer"], env["talk"]
    with _db(env) as db:
        _quiz(db, talk.id, failed_by=[viewer.id])
        _attend(db, viewer.id, talk.id)
        state = progress.status(db, viewer.id, talk)
    assert state.completed_at is None and state.quiz == progress.QUIZ_FAILED
    assert state.missing == ["quiz"]


def test_undoing_the_only_attendance_takes_the_completion_back(env):
    viewer, talk = env["viewer"], env["talk"]
    with _db(env) as db:
        _attend(db, viewer.id, talk.id)
        assert progress.refresh_completion(db, viewer.id, talk.id)
        with database.write(db):
            db.execute("DELETE FROM attendance")
        assert progress.refresh_completion(db, viewer.id, talk.id) is None


# ---------------------------------------------------------------- pages for the person


def test_continue_where_you_left_off_on_the_front_page(env):
    viewer, talk, second = env["viewer"], env["talk"], env["second"]
    _watch(env, viewer, talk, [[0, 30]], position=30)
    _watch(env, viewer, second, [[0, 3]], position=3)  # under 5 %: not listed
    with _db(env) as db:
        listed = progress.continue_watching(db, Viewer(viewer))
    assert [t.talk.id for t in listed] == [talk.id] and listed[0].percent == 30
    page = _as(env, "viewer").get("/")
    assert "Fortsett der du slapp" in page.text
    assert f'href="/talks/{talk.slug}?t=30"' in page.text
    assert second.title not in page.text.split("Kommende foredrag")[0]
    _watch(env, viewer, talk, [[0, 95]], position=95)  # completed: gone from the list
    assert "Fortsett der du slapp" not in env["client"].get("/").text
    assert "Fortsett der du slapp" not in _as(env, "guest").get("/").text


def test_my_modules_lists_what_the_person_started_completed_or_attended(env):
    viewer, talk, second = env["viewer"], env["talk"], env["second"]
    _watch(env, viewer, talk, [[0, 95]])
    with _db(env) as db:
        _quiz(db, second.id)
        _attend(db, viewer.id, second.id)
    page = _as(env, "viewer").get("/mine-moduler")
    assert page.status_code == 200
    assert talk.title in page.text and second.title in page.text
    assert "Fullført" in page.text and "95 %" in page.text
    assert "Ingen quiz" in page.text and "Ikke tatt" in page.text
    assert "Mangler: bestå quizen" in page.text
    assert env["draft"].title not in page.text
    assert 'href="/mine-moduler"' in page.text
    empty = _as(env, "other").get("/mine-moduler")
    assert "Du har ikke begynt på noen moduler ennå." in empty.text


# ---------------------------------------------------------------- reports


def test_report_matrix_numbers(env):
    talk, second = env["talk"], env["second"]
    _watch(env, env["viewer"], talk, [[0, 100]])
    with _db(env) as db:
        _attend(db, env["other"].id, talk.id)
        matrix = reports.matrix(db)
    assert [t.id for t in matrix.talks] == [second.id, talk.id]  # no drafts
    assert matrix.departments == [("Helse", 1), ("Kultur", 2), ("", 1)]
    kultur = matrix.cell("Kultur", talk.id)
    assert (kultur.completed, kultur.people, kultur.percent) == (1, 2, 50)
    assert matrix.cell("Helse", talk.id).percent == 100
    assert matrix.cell("Kultur", second.id).completed == 0
    page = _as(env, "admin").get("/rapporter")
    assert page.status_code == 200 and "50 %" in page.text and "Uten avdeling" in page.text
    assert 'href="/rapporter/avdeling/-"' in page.text and 'href="/rapporter"' in page.text
    detail = env["client"].get("/rapporter/avdeling/Kultur")
    assert detail.status_code == 200 and "Viewer" in detail.text and "Fullført" in detail.text
    assert "Admin" not in detail.text.split("<main")[1]
    nobody = env["client"].get("/rapporter/avdeling/-")
    assert "Admin" in nobody.text.split("<main")[1]


def test_csv_export(env):
    with _db(env) as db:
        accounts.create_user(db, "tricky@kommune.no", 'Berg, Kari "KB"', department="Kultur")
        accounts.create_user(db, "formel@kommune.no", "=HYPERLINK(1)", department="Kultur")
    _watch(env, env["viewer"], env["talk"], [[0, 95]])
    response = _as(env, "admin").get("/rapporter.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Navn", "E-post", "Avdeling"]
    assert len(rows) == 1 + 6 * 2  # six people × two talks (no draft)
    by_key = {(r[1], r[3]): r for r in rows[1:]}
    mine = by_key[("viewer@kommune.no", env["talk"].title)]
    assert mine[5] == "95" and mine[6] == "ingen quiz" and mine[7] != ""
    assert by_key[("tricky@kommune.no", env["talk"].title)][0] == 'Berg, Kari "KB"'
    assert by_key[("formel@kommune.no", env["talk"].title)][0] == "'=HYPERLINK(1)"
    assert '"Berg, Kari ""KB"""' in response.content.decode("utf-8-sig")
    body = response.content.decode("utf-8-sig")
    assert all(line.startswith('"') for line in body.splitlines()), "every cell quoted"


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"), ("+47 22", "'+47 22"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("Ola;=1+1;", "Ola;'=1+1;"),
        ("Ola, =cmd|' /C calc'!A0", "Ola, '=cmd|' /C calc'!A0"), ("Hansen-Berg", "Hansen-Berg"),
        ("kari@kommune.no", "kari@kommune.no"), ("", ""), (95, "95"),
    ],
)  # fmt: skip
def test_csv_cells_are_never_formulas(value, safe):
    assert reports.safe_cell(value) == safe


@pytest.mark.parametrize(("query", "delimiter"), [("", ","), ("?skilletegn=semikolon", ";")])
def test_csv_for_norwegian_excel(env, query, delimiter):
    """Excel in a Norwegian locale splits on ";": a name that hides a formula after a ";"
    must not become a formula cell there, in either file."""
    with _db(env) as db:
        accounts.create_user(db, "semi@kommune.no", "Ola;=1+1;", department="Kultur")
    response = _as(env, "admin").get("/rapporter.csv" + query)
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert rows[0][:2] == ["Navn", "E-post"] and len(rows[0]) == 8
    names = {row[0] for row in rows[1:]}
    assert "Ola;'=1+1;" in names
    for cell in (part for line in text.splitlines() for part in line.split(";")):
        assert not cell.lstrip('" ').startswith(("=", "+", "@")), cell


# ---------------------------------------------------------------- per-talk results


def test_retention_slices():
    unions = [[(0, 100)], [(0, 50)], [(0, 10), (90, 100)]]
    shares = reports.retention(unions, 100, slices=10)
    assert shares[0] == 1.0 and shares[9] == pytest.approx(2 / 3)
    assert shares[4] == pytest.approx(2 / 3) and shares[5] == pytest.approx(1 / 3)
    assert reports.retention([], 100, slices=4) == [0.0] * 4


def test_answer_shapes_are_tolerated():
    options = [{"text": "A", "correct": True}, {"text": "B", "correct": True}, {"text": "C"}]
    assert reports.answer_correct(options, [0, 1]) and reports.answer_correct(options, ["1", 0])
    assert not reports.answer_correct(options, [0]) and not reports.answer_correct(options, "x")
    assert not reports.answer_correct(options, None) and not reports.answer_correct([], [])


def test_talk_results_numbers_and_charts(env):
    talk, viewer, other, admin = env["talk"], env["viewer"], env["other"], env["admin"]
    _watch(env, viewer, talk, [[0, 100]])
    _watch(env, other, talk, [[0, 50]])
    with _db(env) as db:
        _quiz(db, talk.id)
        q1 = db.execute("SELECT id FROM questions WHERE talk_id = ?", [talk.id]).fetchone()[0]
        with database.write(db):
            db.execute(
                "INSERT INTO questions (talk_id, position, kind, text, options, created_at) "
                "VALUES (?, 2, 'reflection', 'Hva tar du med deg?', '[]', '2026-01-01')",
                [talk.id],
            )
        q2 = db.execute("SELECT MAX(id) FROM questions").fetchone()[0]
        _attempt(db, talk.id, viewer.id, "2026-02-01T10:00:00+00:00", 1.0, True,
                 {str(q1): [0], str(q2): "Mye om kulturskolen"})  # fmt: skip
        _attempt(db, talk.id, other.id, "2026-02-01T10:00:00+00:00", 0.0, False,
                 {str(q1): [1]})  # fmt: skip
        _attempt(
            db, talk.id, other.id, "2026-02-02T10:00:00+00:00", 1.0, True, {str(q1): [0]}
        )  # fmt: skip (a retry: not in per-question shares)
        _attempt(db, talk.id, admin.id, "2026-02-02T10:00:00+00:00", 0.0, False, {})
        results = reports.talk_results(db, talk.id)
    assert results.viewers == 2 and results.average_share == pytest.approx(0.75)
    assert results.retention[0] == 1.0 and results.retention[-1] == 0.5
    assert (results.takers, results.passers) == (3, 2)
    assert results.pass_rate == pytest.approx(2 / 3)
    # the admin's empty attempt answered nothing: neither right nor wrong
    assert [(q.correct, q.answered, q.percent) for q in results.questions] == [(1, 2, 50)]
    assert results.reflections == [("Hva tar du med deg?", ["Mye om kulturskolen"])]
    page = _as(env, "organiser").get(f"/talks/{talk.slug}/resultater")
    assert page.status_code == 200
    assert re.search(r'<svg class="[^"]*\bchart-retention\b', page.text)
    assert re.search(r'<svg class="[^"]*\bchart-questions\b', page.text)
    assert "<title" in page.text and "Mye om kulturskolen" in page.text and "67 %" in page.text


def test_results_without_any_activity(env):
    page = _as(env, "admin").get(f"/talks/{env['second'].slug}/resultater")
    assert page.status_code == 200 and "Ingen har sett opptaket ennå." in page.text


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("url", ["/rapporter", "/rapporter.csv", "/rapporter/avdeling/Kultur"])
def test_a_viewer_cannot_open_reports(env, url):
    assert _as(env, "viewer").get(url).status_code == 403
    assert _as(env, "organiser").get(url).status_code == 403
    assert _as(env, "guest").get(url, headers={"Accept": "text/html"}).status_code == 303


def test_a_viewer_cannot_open_results(env):
    url = f"/talks/{env['talk'].slug}/resultater"
    assert _as(env, "viewer").get(url).status_code == 403
    assert _as(env, "organiser").get(url).status_code == 200
    assert "Rapporter" not in _as(env, "viewer").get("/").text


def test_csrf_is_required_for_progress_posts(env):
    client = _as(env, "viewer")
    response = client.post(
        f"/talks/{env['talk'].slug}/fremdrift", content=b'{"intervals": [[0, 10]]}',
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf_token(b"x", None, "y")},
    )  # fmt: skip
    assert response.status_code == 403


# ---------------------------------------------------------------- in a real browser


def _hls_talk(db, settings, organiser, tmp_path, seconds: int = 12) -> dict:
    """A ready internal talk with real HLS (ffmpeg, a tone; no Whisper)."""
    from tests import factories

    talk = _talk(db, settings, organiser, "internal", "Fremdrift i nettleseren")
    return factories.hls_media(db, settings, talk, tmp_path, seconds)


@pytest.mark.browser
def test_progress_is_recorded_and_resumed_in_a_browser(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
    from tests.test_browser import _sign_in

    require_chromium()
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _hls_talk(db, settings, organiser, tmp_path)
    url = f"/talks/{talk.slug}"
    video = "document.getElementById('video')"
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        _sign_in(page, base, viewer.email)
        page.goto(base + url)
        page.evaluate(f"{video}.play(); null")
        page.wait_for_function(f"() => {video}.currentTime > 3", timeout=20_000)
        with page.expect_response(lambda r: r.url.endswith("/fremdrift")) as posted:
            page.evaluate(f"{video}.pause(); null")
        assert posted.value.status == 200
        with database.session(settings) as db:
            row = progress.stored(db, viewer.id, talk.id)
        assert row.watched_seconds >= 2.5 and row.intervals[0][0] < 1
        assert row.position > 3
        page.goto(base + url)  # no ?t=: starts where it was left
        page.wait_for_function(f"() => {video}.currentTime >= {row.position - 0.5}", timeout=20_000)
        page.goto(base + url + "?t=1")  # ?t= wins over the stored position
        page.wait_for_function(f"() => {video}.readyState >= 1", timeout=20_000)
        page.wait_for_timeout(500)
        assert page.evaluate(f"{video}.currentTime") < row.position - 0.5
        browser.close()


@pytest.mark.browser
def test_watch_answer_pass_and_the_module_is_complete_in_a_browser(settings, tmp_path):
    """Across features: a staff member watches a talk with a timed question (the video pauses),
    answers, plays to the end, passes the quiz; "Mine moduler" says "Fullført" and the
    organiser's results page shows the attempt and the per-question chart."""
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
    from tests.test_browser import _sign_in
    from tests.test_quizzes import _add, _q

    require_chromium()
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _hls_talk(db, settings, organiser, tmp_path, seconds=8)
        _add(db, talk, organiser,
             _q("single", "Hvilken farge?", ["Rød", "Blå"], [1], at="2"),
             _q("truefalse", "Dette er en test.", correct=[0]))  # fmt: skip
    url = f"/talks/{talk.slug}"
    video = "document.getElementById('video')"
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        _sign_in(page, base, viewer.email)
        page.goto(base + url)
        page.evaluate(f"{video}.play(); null")
        page.wait_for_selector("#timed-question", state="visible", timeout=20_000)
        assert page.evaluate(f"{video}.paused"), "the player pauses at the question"
        page.get_by_label("Blå").check()
        page.click("#timed-answer")
        page.click("#timed-continue")
        with page.expect_response(lambda r: r.url.endswith("/fremdrift"), timeout=30_000) as sent:
            page.wait_for_function(f"() => {video}.ended", timeout=30_000)
        assert sent.value.status == 200
        page.goto(base + url + "/quiz")
        page.locator("#quiz-form input[type=radio]").nth(2).check()  # Sant
        page.click("#quiz-submit")
        assert page.inner_text("#resultat") == "Bestått"
        page.goto(base + "/mine-moduler")
        row = page.locator("tr.module", has_text=talk.title)
        assert "Fullført" in row.inner_text(), row.inner_text()

        other = browser.new_context(locale="nb-NO").new_page()
        _sign_in(other, base, organiser.email)
        other.goto(base + url + "/resultater")
        assert other.inner_text("dd.takers") == "1"
        bars = other.locator("svg.chart-questions rect.chart-bar")
        assert bars.count() == 2
        assert all(float(bars.nth(i).get_attribute("width")) > 0 for i in range(2))
        assert "Hvilken farge?" in other.inner_text("table.question-stats")
        browser.close()
