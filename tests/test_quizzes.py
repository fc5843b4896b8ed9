"""Quizzes: authoring, scoring on the server only, attempts and retries, timed questions in
the player, suggestions from the transcript, access and escaping."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from server.catalogue import search, suggest
from server.learning import quizzes
from server.learning.quizzes import QuestionInput
from server.store import db as database
from server.transcript import model as transcript
from server.web.app import create_app
from tests.test_access_matrix import _talk
from tests.webclient import csrf, login, make_user, post

EXPLAIN = "Forklaringen som bare vises etter svaret"


def _q(kind, text="Spørsmål?", options=(), correct=(), at="", explanation=EXPLAIN):
    return QuestionInput(kind=kind, text=text, explanation=explanation, at=at,
                         options=tuple(options), correct=tuple(correct))  # fmt: skip


def _add(db, talk, organiser, *inputs, publish=True, pass_mark="80", retries=True) -> list[int]:
    ids = [quizzes.save_question(db, talk, data, organiser) for data in inputs]
    quizzes.save_settings(db, talk, pass_mark, retries, publish, organiser)
    return ids


@pytest.fixture
def env(settings):
    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Byggesak for alle")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield {"client": client, "talk": talk, "organiser": organiser, "viewer": viewer,
               "settings": settings}  # fmt: skip


def _db(env):
    return database.session(env["settings"])


def _standard(env, **kwargs) -> list[int]:
    with _db(env) as db:
        return _add(
            db, env["talk"], env["organiser"],
            _q("single", "Hvor mange uker har naboene?", ["To", "Tre", "Fire"], [0], at="0:01"),
            _q("multiple", "Hva må søknaden ha?", ["Tegninger", "Situasjonsplan", "Kake"], [0, 1]),
            _q("truefalse", "Garasjer behandles alltid på en dag.", correct=[1]),
            _q("reflection", "Hva tar du med deg?"),
            **kwargs,
        )  # fmt: skip


# ---------------------------------------------------------------- scoring (pure)


def _question(qid, kind, options=(), correct=()):
    opts = tuple(quizzes.Option(t, i in correct) for i, t in enumerate(options))
    return quizzes.Question(qid, qid, kind, f"q{qid}", "", None, opts)


def test_scoring_of_every_kind():
    single = _question(1, "single", ["a", "b", "c"], [1])
    multiple = _question(2, "multiple", ["a", "b", "c"], [0, 2])
    truefalse = _question(3, "truefalse", ["Sant", "Usant"], [0])
    reflection = _question(4, "reflection")
    assert quizzes.is_correct(single, [1]) is True
    assert quizzes.is_correct(single, [0]) is False
    assert quizzes.is_correct(single, []) is False
    assert quizzes.is_correct(multiple, [0, 2]) is True
    assert quizzes.is_correct(multiple, [0]) is False, "a partial answer is wrong"
    assert quizzes.is_correct(multiple, [0, 1, 2]) is False
    assert quizzes.is_correct(truefalse, [0]) is True
    assert quizzes.is_correct(truefalse, [1]) is False
    assert quizzes.is_correct(reflection, "tanker") is None
    listed = [single, multiple, truefalse, reflection]
    result = quizzes.score(listed, {"1": [1], "2": [0], "3": [0], "4": "fritt"}, 60)
    assert result.score == pytest.approx(2 / 3), "reflection is not scored"
    assert result.passed is True
    assert [i.correct for i in result.items] == [True, False, True, None]


def test_pass_mark_boundary():
    listed = [_question(i, "single", ["a", "b"], [0]) for i in range(1, 5)]
    answers = {"1": [0], "2": [0], "3": [0], "4": [1]}  # 3 of 4 = 75 %
    assert quizzes.score(listed, answers, 75).passed is True
    assert quizzes.score(listed, answers, 76).passed is False
    assert quizzes.score(listed, {}, 0).score == 0


def test_parse_answer_refuses_nonsense():
    single = _question(1, "single", ["a", "b"], [0])
    assert quizzes.parse_answer(single, ["1"]) == [1]
    for bad in (["0", "1"], ["7"], ["x"], [True], "-1"):
        with pytest.raises(ValueError):
            quizzes.parse_answer(single, bad)
    multiple = _question(2, "multiple", ["a", "b", "c"], [0])
    assert quizzes.parse_answer(multiple, ["2", "0", "2"]) == [0, 2]


def test_parse_time():
    assert quizzes.parse_time("") is None
    assert quizzes.parse_time("90") == 90
    assert quizzes.parse_time("1:30") == 90
    assert quizzes.parse_time("1:02:03") == 3723
    assert quizzes.parse_time("2,5") == 2.5
    for bad in ("1:75", "abc", "-3", "1:2:3:4"):
        with pytest.raises(ValueError):
            quizzes.parse_time(bad)


# ---------------------------------------------------------------- authoring


def test_authoring_validation(db, settings):
    organiser = make_user(settings, "organiser")
    talk = _talk(db, settings, organiser, "internal", "Validering")
    cases = [
        (_q("single", options=["Bare ett"], correct=[0]), "options", "minst to"),
        (_q("single", options=["A", "B"], correct=[0, 1]), "correct", "nøyaktig ett"),
        (_q("single", options=["A", "B"]), "correct", "nøyaktig ett"),
        (_q("multiple", options=["A", "B", "C"]), "correct", "minst ett"),
        (_q("truefalse"), "correct", "sann eller usann"),
        (_q("single", text="  ", options=["A", "B"], correct=[0]), "text", "spørsmålet"),
        (_q("single", options=["A", "B"], correct=[0], at="tre"), "at", "minutter:sekunder"),
        (_q("sjanger"), "kind", "hva slags"),
        (_q("single", options=["A", "", "B"], correct=[1]), "correct", "mangler tekst"),
    ]
    for data, field, words in cases:
        with pytest.raises(quizzes.ValidationError) as caught:
            quizzes.save_question(db, talk, data, organiser)
        assert words in caught.value.errors[field], data
    assert quizzes.questions(db, talk.id) == []
    qid = quizzes.save_question(db, talk, _q("multiple", options=["A", " ", "B"], correct=[2]),
                                organiser, None)  # fmt: skip
    saved = quizzes.questions(db, talk.id)[0]
    assert saved.id == qid and [o.text for o in saved.options] == ["A", "B"]
    assert [o.correct for o in saved.options] == [False, True]
    with pytest.raises(quizzes.ValidationError) as caught:
        quizzes.save_settings(db, talk, "101", True, False, organiser)
    assert "0 til 100" in caught.value.errors["pass_mark"]


def test_publishing_needs_a_scored_question(db, settings):
    organiser = make_user(settings, "organiser")
    talk = _talk(db, settings, organiser, "internal", "Tom")
    with pytest.raises(quizzes.ValidationError):
        quizzes.save_settings(db, talk, "80", True, True, organiser)
    quizzes.save_question(db, talk, _q("reflection"), organiser)
    with pytest.raises(quizzes.ValidationError):
        quizzes.save_settings(db, talk, "80", True, True, organiser)
    assert not quizzes.has_quiz(db, talk.id)


def test_authoring_over_http(env):
    client, talk = env["client"], env["talk"]
    login(client, env["organiser"].email)
    base = f"/talks/{talk.slug}/quiz"
    page = client.get(base + "/rediger")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    bad = post(client, base + "/sporsmal", {"kind": "single", "text": "Hva?", "option": ["A"]})
    assert bad.status_code == 422
    assert "minst to svaralternativer" in bad.text and "nøyaktig ett riktig svar" in bad.text
    data = {"kind": "truefalse", "text": "Jorda er rund.", "truefalse": "0", "at": "1:05",
            "explanation": "Det er den."}  # fmt: skip
    saved = post(client, base + "/sporsmal", data)
    assert saved.status_code == 303
    for text in ("Første", "Andre"):
        data = {"kind": "single", "text": text, "option": ["Ja", "Nei", ""], "correct": "1"}
        assert post(client, base + "/sporsmal", data).status_code == 303
    with _db(env) as db:
        listed = quizzes.questions(db, talk.id)
        assert [q.text for q in listed] == ["Jorda er rund.", "Første", "Andre"]
        assert listed[0].at_seconds == 65 and listed[0].options[0].correct
        first = listed[0].id
    # reorder, edit, delete
    assert (
        post(client, base + "/rekkefolge", {"question_id": first, "direction": "down"}).status_code
        == 303
    )
    assert (
        post(
            client, base + "/rekkefolge", {"question_id": listed[2].id, "direction": "up"}
        ).status_code
        == 303
    )
    with _db(env) as db:
        assert [q.text for q in quizzes.questions(db, talk.id)] == [
            "Første",
            "Andre",
            "Jorda er rund.",
        ]
    edit = client.get(base + f"/rediger?sporsmal={listed[1].id}")
    assert 'value="Ja"' in edit.text and "Rediger spørsmålet" in edit.text
    data = {"question_id": listed[1].id, "kind": "multiple", "text": "Første, endret",
            "option": ["Ja", "Nei", "Kanskje"], "correct": ["0", "2"]}  # fmt: skip
    assert post(client, base + "/sporsmal", data).status_code == 303
    assert post(client, base + f"/sporsmal/{listed[2].id}/slett").status_code == 303
    assert post(client, base + "/sporsmal/999999/slett").status_code == 404
    settings = post(client, base + "/rediger", {"pass_mark": "50", "published": "1"})
    assert settings.status_code == 303
    with _db(env) as db:
        listed = quizzes.questions(db, talk.id)
        assert [(q.text, q.kind) for q in listed] == [("Første, endret", "multiple"),
                                                      ("Jorda er rund.", "truefalse")]  # fmt: skip
        assert quizzes.settings(db, talk.id) == quizzes.QuizSettings(50, False, True)
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY id")]
    for action in ("la til quizspørsmål", "flyttet quizspørsmål", "endret quizspørsmål",
                   "slettet quizspørsmål", "endret quizinnstillinger"):  # fmt: skip
        assert action in actions


def test_preview_renders_the_participant_view_without_saving(env):
    _standard(env, publish=False)
    client = env["client"]
    login(client, env["organiser"].email)
    page = client.get(f"/talks/{env['talk'].slug}/quiz/forhandsvisning")
    assert page.status_code == 200
    assert "Forhåndsvisning" in page.text and "Hvor mange uker har naboene?" in page.text
    assert EXPLAIN not in page.text
    with _db(env) as db:
        assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0


# ---------------------------------------------------------------- taking the quiz


def _option_inputs(html: str) -> list[str]:
    return re.findall(r"<input [^>]*name=\"q\d+\"[^>]*>", html)


def test_correctness_stays_on_the_server(env):
    ids = _standard(env)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    page = client.get(f"/talks/{slug}/quiz")
    assert page.status_code == 200
    assert 'id="quiz-form"' in page.text and 'id="quiz-submit"' in page.text
    inputs = _option_inputs(page.text)
    assert len(inputs) == 3 + 3 + 2
    for tag in inputs:
        attributes = set(re.findall(r"\s([a-z-]+)=", tag))
        assert attributes == {"type", "name", "value"}, tag
    assert "correct" not in page.text.lower() and "riktig" not in page.text.lower()
    assert EXPLAIN not in page.text
    body = client.get(f"/talks/{slug}/quiz.json")
    assert body.status_code == 200
    data = body.json()
    expected = {"id": ids[0], "kind": "single", "text": "Hvor mange uker har naboene?",
                "at_seconds": 1.0, "options": ["To", "Tre", "Fire"]}  # fmt: skip
    assert data["questions"] == [expected], "options are bare texts"
    assert "correct" not in body.text and "riktig" not in body.text.lower()
    assert EXPLAIN not in body.text


def _submit(client, slug, ids, right=True):
    answers = {f"q{ids[0]}": "0" if right else "1", f"q{ids[1]}": ["0", "1"],
               f"q{ids[2]}": "1", f"q{ids[3]}": "Mye å tenke på"}  # fmt: skip
    return post(client, f"/talks/{slug}/quiz", answers)


def test_submit_scores_and_shows_the_result(env):
    ids = _standard(env)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    response = _submit(client, slug, ids)
    assert response.status_code == 303
    result = client.get(response.headers["location"])
    assert "Bestått" in result.text and "100 %" in result.text
    assert EXPLAIN in result.text and "Mye å tenke på" in result.text
    with _db(env) as db:
        row = db.execute("SELECT * FROM attempts").fetchone()
        assert row["passed"] == 1 and row["score"] == 1.0 and row["submitted_at"]
        assert quizzes.passed(db, env["viewer"].id, env["talk"].id) == row["submitted_at"]
        answers = json.loads(row["answers"])
    assert answers[str(ids[3])] == "Mye å tenke på", "reflections are kept for the organiser"
    talk_page = client.get(f"/talks/{slug}")
    assert "Bestått" in talk_page.text and "Ta quizen" not in talk_page.text
    # partial multiple choice: wrong, 2 of 3 = 67 % < 80 % (the reflection left empty)
    partial = post(client, f"/talks/{slug}/quiz", {
        f"q{ids[0]}": "0", f"q{ids[1]}": "0", f"q{ids[2]}": "1", "lever_likevel": "1"})  # fmt: skip
    failed = client.get(partial.headers["location"])
    assert "Ikke bestått" in failed.text and "67 %" in failed.text


def test_someone_elses_attempt_is_not_shown(env):
    ids = _standard(env)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    attempt = _submit(client, slug, ids).headers["location"]
    other = make_user(env["settings"], "viewer", email="annen@kommune.no")
    login(client, other.email)
    assert client.get(attempt).status_code == 404


def test_retries_refused_when_not_allowed(env):
    ids = _standard(env, retries=False)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    assert _submit(client, slug, ids, right=False).status_code == 303
    again = _submit(client, slug, ids)
    assert again.status_code == 409 and "tillater ikke nye forsøk" in again.text
    page = client.get(f"/talks/{slug}/quiz")
    assert "tillater ikke nye forsøk" in page.text and 'id="quiz-form"' not in page.text
    timed = client.post(f"/talks/{slug}/quiz/svar", json={"question_id": ids[0], "answer": 0},
                        headers={"X-CSRF-Token": csrf(client)})  # fmt: skip
    assert timed.status_code == 409
    assert client.get(f"/talks/{slug}/quiz.json").json()["closed"] is True
    with _db(env) as db:
        assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1


def test_retries_allowed(env):
    ids = _standard(env)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    assert _submit(client, slug, ids, right=False).status_code == 303
    assert _submit(client, slug, ids).status_code == 303
    with _db(env) as db:
        rows = db.execute("SELECT passed FROM attempts ORDER BY id").fetchall()
        assert [r[0] for r in rows] == [0, 1]
        assert quizzes.best_score(db, env["viewer"].id, env["talk"].id) == 1.0


def test_unpublished_quiz_cannot_be_taken(env):
    ids = _standard(env, publish=False)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    assert client.get(f"/talks/{slug}/quiz").status_code == 404
    assert _submit(client, slug, ids).status_code == 404
    assert client.get(f"/talks/{slug}/quiz.json").status_code == 404


def test_timed_answer_goes_into_the_open_attempt_and_submit_scores_it(env):
    ids = _standard(env)
    client, slug = env["client"], env["talk"].slug
    login(client, env["viewer"].email)
    headers = {"X-CSRF-Token": csrf(client)}
    url = f"/talks/{slug}/quiz/svar"
    bad = client.post(url, json={"question_id": ids[0], "answer": 9}, headers=headers)
    assert bad.status_code == 422 and "Velg et av alternativene" in bad.json()["error"]
    empty = client.post(url, json={"question_id": ids[0], "answer": []}, headers=headers)
    assert empty.status_code == 422 and "Velg et svar" in empty.json()["error"]
    right = client.post(url, json={"question_id": ids[0], "answer": 0}, headers=headers)
    assert right.status_code == 200 and right.json() == {"correct": True, "explanation": EXPLAIN}
    again = client.post(url, json={"question_id": ids[0], "answer": 1}, headers=headers)
    assert again.status_code == 409 and "allerede svart" in again.json()["error"]
    assert (
        client.post(url, json={"question_id": 999999, "answer": 0}, headers=headers).status_code
        == 404
    )
    assert client.post(url, content=b"{", headers=headers).status_code == 400
    assert client.post(url, json={"question_id": ids[0], "answer": 0}).status_code == 403, "CSRF"
    with _db(env) as db:
        rows = db.execute("SELECT * FROM attempts").fetchall()
        assert len(rows) == 1 and rows[0]["submitted_at"] is None
        assert json.loads(rows[0]["answers"]) == {str(ids[0]): [0]}
    assert client.get(f"/talks/{slug}/quiz.json").json()["answered"] == [str(ids[0])]
    page = client.get(f"/talks/{slug}/quiz")
    assert f'name="q{ids[0]}" value="0" checked' in page.text, "answers given are pre-filled"
    assert re.search(
        r'<fieldset class="quiz-question locked" disabled>\s*<legend[^>]*>1\.', page.text
    )
    assert "Besvart underveis i videoen" in page.text
    done = post(client, f"/talks/{slug}/quiz", {f"q{ids[1]}": ["0", "1"], f"q{ids[2]}": "1",
                                                f"q{ids[3]}": "Tanker"})  # fmt: skip
    assert done.status_code == 303
    with _db(env) as db:
        rows = db.execute("SELECT * FROM attempts").fetchall()
        assert len(rows) == 1, "the open attempt is closed, not a new one made"
        assert rows[0]["submitted_at"] and rows[0]["score"] == 1.0 and rows[0]["passed"] == 1


# ---------------------------------------------------------------- the talk page


def test_quiz_box_and_scripts_on_the_talk_page(settings):
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "public", "Åpent foredrag")
        box = quizzes.page_context(db, quizzes.Viewer(None), talk)["quiz_box"]
        assert box.published is False
    with TestClient(create_app(settings), follow_redirects=False) as client:
        page = client.get(f"/talks/{talk.slug}")
        assert 'class="quiz-box"' not in page.text
        login(client, organiser.email)
        assert "Lag quiz" in client.get(f"/talks/{talk.slug}").text
        with database.session(settings) as db:
            _add(db, talk, organiser, _q("single", "Når?", ["Nå", "Aldri"], [0], at="3"))
        page = client.get(f"/talks/{talk.slug}").text
        assert "Rediger quizen" in page and "js/quiz.js" in page and 'id="timed-question"' in page
        client.cookies.clear()
        guest = client.get(f"/talks/{talk.slug}").text
        assert "Logg inn for å ta quizen" in guest and "js/quiz.js" not in guest
        login(client, "viewer@kommune.no")
        viewer = client.get(f"/talks/{talk.slug}").text
        assert "Ta quizen" in viewer and "Rediger quizen" not in viewer and "js/quiz.js" in viewer
        assert "correct" not in viewer.lower()


# ---------------------------------------------------------------- suggestions


SPEECH = [
    "Varmepumpen henter energi fra luften ute i hagen.",
    "En varmepumpe kan spare mye strøm i en vanlig bolig.",
    "Kommunen gir tilskudd til varmepumpe for eldre boliger.",
    "Etterisolering av loftet gir også lavere strømregning hver vinter.",
    "Søknad om tilskudd sendes gjennom kommunens nettside før fristen.",
    "Med etterisolering og tilskudd blir boligen varmere.",
    "Husk service på varmepumpen hvert annet år.",
]
OTHER = "Kommunen har mange tjenester for innbyggerne i boligen og på nettside og strøm."


def _index(db, talk_id: int, lines: list[str], language="nb") -> None:
    segments = tuple(transcript.Segment(i * 5.0, i * 5.0 + 4, text) for i, text in enumerate(lines))
    search.index_talk(db, talk_id, segments, language)


def test_suggestions_blank_a_rare_repeated_term(db, settings):
    organiser = make_user(settings, "organiser")
    talk = _talk(db, settings, organiser, "internal", "Varme")
    _index(db, talk.id, SPEECH)
    for number in range(3):
        other = _talk(db, settings, organiser, "internal", f"Annet {number}")
        _index(db, other.id, [OTHER, OTHER])
    drafts = suggest.suggest(db, talk)
    assert drafts, "the talk has key terms"
    first = drafts[0]
    assert first.answer == "varmepumpen", "the most repeated rare term comes first"
    assert first.text == "_____ henter energi fra luften ute i hagen."
    assert first.options[first.correct] == "varmepumpen" and len(first.options) >= 2
    distractors = set(first.options) - {"varmepumpen"}
    spoken = " ".join(SPEECH).lower()
    assert all(d in spoken for d in distractors), "distractors are terms of this talk"
    assert distractors <= {"tilskudd", "etterisolering", "bolig", "kommunen", "kommunens"}
    assert first.explanation == SPEECH[0] and first.at_seconds == 4.0
    answers = [d.answer for d in drafts]
    assert "kommunen" not in answers and "boligen" not in answers, "common in the archive"
    skipped = suggest.suggest(db, talk, skip=["varmepumpen"])
    assert "varmepumpen" not in [d.answer for d in skipped]


def test_no_suggestions_for_an_empty_transcript(db, settings):
    organiser = make_user(settings, "organiser")
    talk = _talk(db, settings, organiser, "internal", "Stille")
    search.index_talk(db, talk.id, (), "nb")
    assert suggest.suggest(db, talk) == []
    assert suggest.build([], [], 5) == []


def test_ranking_is_tf_idf_like():
    counts, forms = suggest.term_counts(["sykkel sykkel sykler kommune kommune"], "nb")
    assert forms[next(s for s in counts if s.startswith("sykk"))] == "sykkel"
    frequencies, documents = suggest.document_frequencies(
        [(1, " kommun "), (2, " kommun "), (2, " annet ")], set(counts)
    )
    assert documents == 2 and frequencies == {"kommun": 2}
    terms = suggest.rank_terms(counts, forms, frequencies, documents)
    assert terms[0].word == "sykkel"


def test_suggestions_over_http(env):
    client, talk = env["client"], env["talk"]
    with _db(env) as db:
        _index(db, talk.id, SPEECH)
    login(client, env["organiser"].email)
    page = post(client, f"/talks/{talk.slug}/quiz/forslag")
    assert page.status_code == 200 and suggest.BLANK in page.text
    with _db(env) as db:
        draft = suggest.suggest(db, talk)[0]
    data = {"kind": "single", "text": draft.text, "option": list(draft.options),
            "correct": str(draft.correct), "explanation": draft.explanation,
            "at": str(draft.at_seconds)}  # fmt: skip
    assert post(client, f"/talks/{talk.slug}/quiz/sporsmal", data).status_code == 303
    again = post(client, f"/talks/{talk.slug}/quiz/forslag")
    drafts = again.text.split('id="forslag"')[1]
    assert draft.text not in drafts, "a draft that was added is not suggested again"
    skipped = post(client, f"/talks/{talk.slug}/quiz/forslag", {"skip": ["tilskudd"]})
    assert skipped.status_code == 200 and 'name="skip" value="tilskudd"' in skipped.text


# ---------------------------------------------------------------- access and escaping


def test_access(env):
    _standard(env)
    client, slug = env["client"], env["talk"].slug
    guest = client.get(f"/talks/{slug}/quiz", headers={"Accept": "text/html"})
    assert guest.status_code == 303 and guest.headers["location"].startswith("/logg-inn")
    assert client.get(f"/talks/{slug}/quiz.json").status_code in (401, 404)
    login(client, env["viewer"].email)
    assert client.get(f"/talks/{slug}/quiz/rediger").status_code == 403
    assert (
        post(
            client, f"/talks/{slug}/quiz/sporsmal", {"kind": "reflection", "text": "x"}
        ).status_code
        == 403
    )
    assert post(client, f"/talks/{slug}/quiz/forslag").status_code == 403
    assert client.get(f"/talks/{slug}/quiz/forhandsvisning").status_code == 403


def test_question_text_and_options_are_escaped(env):
    evil = "<script>alert(1)</script>"
    option = '<img src=x onerror="alert(2)">'
    with _db(env) as db:
        ids = _add(db, env["talk"], env["organiser"],
                   _q("single", evil, [option, "Trygt"], [0], explanation=evil))  # fmt: skip
    client, slug = env["client"], env["talk"].slug
    login(client, env["organiser"].email)
    for url in (f"/talks/{slug}/quiz/rediger", f"/talks/{slug}/quiz/forhandsvisning"):
        text = client.get(url).text
        assert evil not in text and option not in text and "&lt;script&gt;" in text
    login(client, env["viewer"].email)
    text = client.get(f"/talks/{slug}/quiz").text
    assert evil not in text and option not in text and "&lt;img src=x" in text
    result = client.get(
        post(client, f"/talks/{slug}/quiz", {f"q{ids[0]}": "0"}).headers["location"]
    )
    assert evil not in result.text and option not in result.text and "Bestått" in result.text


# ---------------------------------------------------------------- in a real browser


def _hls_talk(db, settings, organiser, tmp_path):
    """A ready talk with real HLS (ffmpeg, a tone; no Whisper) and a timed question."""
    from tests import factories

    talk = _talk(db, settings, organiser, "internal", "Spørsmål underveis")
    return factories.hls_media(db, settings, talk, tmp_path, 8)


@pytest.mark.browser
def test_timed_question_pauses_the_video_in_a_browser(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
    from tests.test_browser import _sign_in

    require_chromium()
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = _hls_talk(db, settings, organiser, tmp_path)
        _add(db, talk, organiser,
             _q("single", "Hvilken farge?", ["Rød", "Blå"], [1], at="2"),
             _q("truefalse", "Dette er en test.", correct=[0]))  # fmt: skip
    url = f"/talks/{talk.slug}"
    with serve(settings.data_dir, tmp_path / "serve.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        _sign_in(page, base, "viewer@kommune.no")
        page.goto(base + url)
        page.evaluate("document.getElementById('video').play(); null")
        panel = page.wait_for_selector("#timed-question", state="visible", timeout=20_000)
        assert page.evaluate("document.getElementById('video').paused")
        assert "Hvilken farge?" in panel.inner_text()
        assert page.evaluate("document.activeElement.name").startswith("timed-"), "focus moved"
        page.get_by_label("Blå").check()
        page.click("#timed-answer")
        page.wait_for_selector("#timed-continue", state="visible")
        assert "Riktig!" in page.inner_text(".timed-feedback")
        page.click("#timed-continue")
        page.wait_for_function("!document.getElementById('video').paused")
        assert page.is_hidden("#timed-question")
        page.goto(base + url + "/quiz")
        radios = page.locator("#quiz-form input[type=radio]")
        assert radios.nth(1).is_checked(), "the timed answer is pre-filled"
        radios.nth(2).check()  # Sant
        page.click("#quiz-submit")
        page.wait_for_selector("#resultat")
        assert page.inner_text("#resultat") == "Bestått"
        browser.close()
