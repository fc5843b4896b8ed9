"""The quiz is no answer oracle: timed answers only for timed questions of the open attempt,
once; the quiz form cannot change them. Unanswered questions are named before submitting
and count neither right nor wrong in the per-question results. A person who left at an
unanswered timed question is asked it when coming back (browser)."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from server.learning import quizzes, reports
from server.store import db as database
from server.web.app import create_app
from tests.test_access_matrix import _talk
from tests.test_quizzes import _add, _q
from tests.webclient import csrf, login, make_user, post

SECRET = "Forklaringen som ikke skal lekke"


@pytest.fixture(params=[True, False], ids=["retries", "no-retries"])
def quiz(request, settings):
    """A quiz of five questions, two of them timed (1 and 3), with or without retries."""
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Byggesak for alle")
        ids = _add(
            db, talk, organiser,
            _q("single", "Hvor mange uker?", ["To", "Tre", "Fire"], [0], at="0:01",
               explanation=SECRET + " 1"),
            _q("multiple", "Hva må søknaden ha?", ["Tegninger", "Plan", "Kake"], [0, 1],
               explanation=SECRET + " 2"),
            _q("truefalse", "Garasjer tar en dag.", correct=[1], at="0:05",
               explanation=SECRET + " 3"),
            _q("truefalse", "Naboer varsles.", correct=[0], explanation=SECRET + " 4"),
            _q("reflection", "Hva tar du med deg?", explanation=SECRET + " 5"),
            retries=request.param,
        )  # fmt: skip
        other = _talk(db, settings, organiser, "internal", "Et annet foredrag")
        foreign = _add(db, other, organiser, _q("single", "Annet?", ["A", "B"], [0], at="2"))
    with TestClient(create_app(settings), follow_redirects=False) as client:
        login(client, viewer.email)
        yield {"client": client, "talk": talk, "ids": ids, "foreign": foreign[0],
               "viewer": viewer, "settings": settings}  # fmt: skip


def _answer(client, slug: str, question_id, answer):
    return client.post(f"/talks/{slug}/quiz/svar", json={"question_id": question_id,
                       "answer": answer}, headers={"X-CSRF-Token": csrf(client)})  # fmt: skip


def _attempts(settings) -> list[dict]:
    with database.session(settings) as db:
        return [dict(r) for r in db.execute("SELECT * FROM attempts ORDER BY id")]


def test_probing_every_question_leaks_nothing_and_changes_nothing(quiz):
    client, slug, ids = quiz["client"], quiz["talk"].slug, quiz["ids"]
    # The first timed answers: question 1 wrong (Tre), question 3 right (Usant).
    first = _answer(client, slug, ids[0], 1)
    assert first.status_code == 200
    assert first.json() == {"correct": False, "explanation": SECRET + " 1"}
    assert _answer(client, slug, ids[2], 1).json() == {"correct": True,
                                                       "explanation": SECRET + " 3"}  # fmt: skip
    # Probe everything, again and again, with every answer there is.
    probes = {ids[0]: [0, 1, 2, [0], "0"], ids[1]: [[0, 1], [0], 2, [0, 1, 2]],
              ids[2]: [0, 1, [1]], ids[3]: [0, 1], ids[4]: ["Tanker", "Andre tanker"]}  # fmt: skip
    for _round in range(2):
        for question_id, answers in probes.items():
            timed = question_id in (ids[0], ids[2])
            for answer in answers:
                reply = _answer(client, slug, question_id, answer)
                assert reply.status_code == (409 if timed else 404), (question_id, answer)
                body = reply.json()
                assert set(body) == {"error"}, "no correctness, no explanation"
                assert SECRET not in reply.text
                expected = "allerede svart" if timed else "Fant ikke dette spørsmålet"
                assert expected in body["error"]
    # Garbage and a timed question of another talk: refused with a sentence, nothing stored.
    for garbage in ("abc", "", -1, 10**30, quiz["foreign"]):
        reply = _answer(client, slug, garbage, 0)
        assert reply.status_code == 404, garbage
        assert "Last siden på nytt" in reply.json()["error"]
    for wrong_type in (None, True, 1.5, [ids[0]], {"id": ids[0]}):  # the shared JSON reader
        reply = _answer(client, slug, wrong_type, 0)
        assert reply.status_code in (400, 404, 422), wrong_type
        assert "Last siden på nytt" in reply.json()["error"]
    (attempt,) = _attempts(quiz["settings"])
    assert attempt["submitted_at"] is None
    assert json.loads(attempt["answers"]) == {str(ids[0]): [1], str(ids[2]): [1]}, "no overwrite"
    # The form shows the timed answers as answered and locked, the others open.
    page = client.get(f"/talks/{slug}/quiz").text
    assert SECRET not in page
    locked = re.findall(
        r'<fieldset class="quiz-question locked" disabled>\s*<legend[^>]*>(\d)', page
    )
    assert locked == ["1", "3"]
    assert f'name="q{ids[0]}" value="1" checked' in page
    assert f'name="q{ids[2]}" value="1" checked' in page
    # Submitting the right answer for question 1 in the form does not change it.
    done = post(client, f"/talks/{slug}/quiz", {
        f"q{ids[0]}": "0", f"q{ids[1]}": ["0", "1"], f"q{ids[2]}": "0", f"q{ids[3]}": "0",
        f"q{ids[4]}": "Mye"})  # fmt: skip
    assert done.status_code == 303
    (attempt,) = _attempts(quiz["settings"])
    answers = json.loads(attempt["answers"])
    assert answers[str(ids[0])] == [1] and answers[str(ids[2])] == [1], "the first timed answers"
    assert attempt["score"] == pytest.approx(3 / 4) and attempt["passed"] == 0, "80 % to pass"
    result = client.get(done.headers["location"]).text
    assert "Ikke bestått" in result and "75 %" in result


def test_after_submitting_timed_answers_belong_to_a_new_attempt_or_none(quiz):
    client, slug, ids = quiz["client"], quiz["talk"].slug, quiz["ids"]
    form = {f"q{i}": "0" for i in ids[:4]} | {f"q{ids[1]}": ["0", "1"], "lever_likevel": "1"}
    assert post(client, f"/talks/{slug}/quiz", form).status_code == 303
    reply = _answer(client, slug, ids[0], 1)
    with database.session(quiz["settings"]) as db:
        retries = quizzes.settings(db, quiz["talk"].id).retries_allowed
    if retries:  # the quiz's rules decide
        assert reply.status_code == 200, "a retry starts with this timed answer"
        first, second = _attempts(quiz["settings"])
        assert json.loads(first["answers"])[str(ids[0])] == [0], "the submitted one is untouched"
        assert json.loads(second["answers"]) == {str(ids[0]): [1]}
    else:
        assert reply.status_code == 409 and "tillater ikke nye forsøk" in reply.json()["error"]
        assert len(_attempts(quiz["settings"])) == 1


def test_simultaneous_timed_answers_are_taken_once(quiz):
    """Eight answers to the same timed question at the same moment, each on its own
    connection (as the server's threads have): one is taken, the others refused, and one
    open attempt holds it."""
    import threading

    talk_id, user_id, question = quiz["talk"].id, quiz["viewer"].id, quiz["ids"][0]
    barrier, outcomes = threading.Barrier(8), []

    def answer(choice: int) -> None:
        with database.session(quiz["settings"]) as db:
            barrier.wait()
            try:
                quizzes.record_answer(db, user_id, talk_id, question, choice % 3)
                outcomes.append(("taken", choice % 3))
            except quizzes.QuizError as exc:
                outcomes.append((exc.status, None))

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [choice for state, choice in outcomes if state == "taken"]
    assert len(taken) == 1 and sorted(s for s, _ in outcomes if s != "taken") == [409] * 7
    (attempt,) = _attempts(quiz["settings"])
    assert json.loads(attempt["answers"]) == {str(question): [taken[0]]}


def test_unanswered_questions_are_named_and_the_answers_kept(quiz):
    client, slug, ids = quiz["client"], quiz["talk"].slug, quiz["ids"]
    assert _answer(client, slug, ids[2], 1).status_code == 200  # question 3, timed
    form = {f"q{ids[0]}": "2", f"q{ids[3]}": "0"}  # questions 2 and 5 left out
    page = post(client, f"/talks/{slug}/quiz", form)
    assert page.status_code == 422
    assert "Du har ikke svart på spørsmål 2 og 5." in page.text
    assert 'id="quiz-confirm"' in page.text and "Lever likevel" in page.text
    assert f'name="q{ids[0]}" value="2" checked' in page.text, "the answers given are kept"
    assert f'name="q{ids[3]}" value="0" checked' in page.text
    assert f'name="q{ids[2]}" value="1" checked' in page.text and "locked" in page.text
    assert SECRET not in page.text
    (attempt,) = _attempts(quiz["settings"])
    assert attempt["submitted_at"] is None, "nothing is submitted"
    assert json.loads(attempt["answers"]) == {str(ids[2]): [1]}, "nor stored"
    one = post(client, f"/talks/{slug}/quiz", {**form, f"q{ids[1]}": ["0"]})
    assert one.status_code == 422 and "Du har ikke svart på spørsmål 5. Svar på det" in one.text
    done = post(client, f"/talks/{slug}/quiz", {**form, "lever_likevel": "1"})
    assert done.status_code == 303
    (attempt,) = _attempts(quiz["settings"])
    answers = json.loads(attempt["answers"])
    assert set(answers) == {str(ids[0]), str(ids[2]), str(ids[3])}
    assert attempt["score"] == pytest.approx(2 / 4), "an unanswered question scores nothing"


def test_three_unanswered_are_listed_with_commas(quiz):
    client, slug, ids = quiz["client"], quiz["talk"].slug, quiz["ids"]
    page = post(client, f"/talks/{slug}/quiz", {f"q{ids[1]}": ["1"], f"q{ids[3]}": "1"})
    assert page.status_code == 422
    assert "Du har ikke svart på spørsmål 1, 3 og 5." in page.text


def test_per_question_results_count_answered_questions_only(quiz):
    """Person A submits with questions 2 and 4 unanswered ("Lever likevel"), then retries
    with everything right; person B answers everything in the first attempt. Question 2's
    share is B's answer only, not A's missing answer counted as wrong."""
    client, slug, ids, talk = quiz["client"], quiz["talk"].slug, quiz["ids"], quiz["talk"]
    partial = {f"q{ids[0]}": "0", f"q{ids[2]}": "1", "lever_likevel": "1"}
    assert post(client, f"/talks/{slug}/quiz", partial).status_code == 303
    other = make_user(quiz["settings"], "viewer", email="b@kommune.no")
    login(client, other.email)
    full = {f"q{ids[0]}": "1", f"q{ids[1]}": ["0", "1"], f"q{ids[2]}": "1", f"q{ids[3]}": "1",
            f"q{ids[4]}": "Mye"}  # fmt: skip
    assert post(client, f"/talks/{slug}/quiz", full).status_code == 303
    with database.session(quiz["settings"]) as db:
        results = reports.talk_results(db, talk.id)
    shares = [(q.correct, q.answered) for q in results.questions]
    assert shares == [(1, 2), (1, 1), (2, 2), (0, 1)]
    assert results.takers == 2


# ---------------------------------------------------------------- coming back (browser)


@pytest.mark.browser
def test_coming_back_asks_the_timed_question_left_at_in_a_browser(settings, tmp_path):
    """A viewer leaves while the player waits at a timed question; coming back, playback
    resumes where the viewer left (past the question's moment), and the question is asked
    before the video plays on."""
    from playwright.sync_api import sync_playwright

    from server.learning import progress
    from tests import factories
    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
    from tests.test_browser import _sign_in

    require_chromium()
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Spørsmål når du kommer tilbake")
        talk = factories.hls_media(db, settings, talk, tmp_path, 8)
        (question,) = _add(db, talk, organiser,
                           _q("single", "Hvilken farge?", ["Rød", "Blå"], [1], at="2"))  # fmt: skip
    url = f"/talks/{talk.slug}"
    video = "document.getElementById('video')"
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        _sign_in(page, base, viewer.email)
        page.goto(base + url)
        with page.expect_response(lambda r: r.url.endswith("/fremdrift"), timeout=30_000) as sent:
            page.evaluate(f"{video}.play(); null")
            page.wait_for_selector("#timed-question", state="visible", timeout=20_000)
        assert sent.value.status == 200, "the position at the pause is stored"
        page.goto("about:blank")  # the viewer leaves without answering
        with database.session(settings) as db:
            position = progress.stored(db, viewer.id, talk.id).position
        assert position >= 2, "stopped at the question's moment"

        page.goto(base + url)
        page.wait_for_function(f"() => {video}.currentTime >= {position - 0.5}", timeout=20_000)
        page.evaluate(f"{video}.play(); null")
        panel = page.wait_for_selector("#timed-question", state="visible", timeout=20_000)
        assert "Hvilken farge?" in panel.inner_text()
        assert page.evaluate(f"{video}.paused"), "asked before playing on"
        assert page.evaluate(f"{video}.currentTime") >= position - 0.5, "resumed, not rewound"
        page.get_by_label("Blå").check()
        page.click("#timed-answer")
        page.wait_for_selector("#timed-continue", state="visible")
        assert "Riktig!" in page.inner_text(".timed-feedback")
        page.click("#timed-continue")
        page.wait_for_function(f"() => !{video}.paused")
        answered = page.evaluate(
            f"fetch('{url}/quiz.json').then(r => r.json()).then(b => b.answered)"
        )
        assert answered == [str(question)]
        browser.close()
