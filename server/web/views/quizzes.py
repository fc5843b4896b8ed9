"""Quizzes: authoring, suggestions, taking, timed questions. Thin handlers over
server.learning.quizzes and server.catalogue.suggest; the guard has put the talk on
request.state.talk."""

from __future__ import annotations

import sqlite_utils
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import suggest
from server.catalogue.records import Talk
from server.core import i18n, parse
from server.core.i18n import N_
from server.learning import progress, quizzes
from server.learning.quizzes import QuestionInput, QuizError, ValidationError
from server.web.flash import flash
from server.web.respond import in_thread, int_param, int_params, open_db, render, viewer_of

BLANK_OPTIONS = 4  # empty option rows on a new question
BAD_OPTION = N_("Svaralternativene må velges i listen. Last siden på nytt og prøv igjen.")
TIMED_ANSWER = {"question_id": (int, str), "answer": (int, str, list, type(None))}
BAD_NUMBER = N_("Adressen eller skjemaet har et ugyldig nummer. Last siden på nytt og prøv igjen.")


def _edit_url(talk: Talk, anchor: str = "") -> str:
    return f"/talks/{talk.slug}/quiz/rediger" + (f"#{anchor}" if anchor else "")


def _question_form(question: quizzes.Question | None) -> dict:
    if question is None:
        return {"id": "", "kind": quizzes.SINGLE, "text": "", "explanation": "", "at": "",
                "options": [""] * BLANK_OPTIONS, "correct": [], "truefalse": ""}  # fmt: skip
    options = [o.text for o in question.options] if question.kind != quizzes.TRUEFALSE else []
    correct = [i for i, o in enumerate(question.options) if o.correct]
    truefalse = str(correct[0]) if question.kind == quizzes.TRUEFALSE and correct else ""
    return {
        "id": question.id, "kind": question.kind, "text": question.text,
        "explanation": question.explanation, "truefalse": truefalse, "correct": correct,
        "at": "" if question.at_seconds is None else _clock(question.at_seconds),
        "options": options + [""] * max(2, quizzes.MAX_OPTIONS // 2 - len(options)),
    }  # fmt: skip


def _clock(seconds: float) -> str:
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}:{secs:02d}" if whole == seconds else f"{seconds:g}"


def _editor(request: Request, db, **extra) -> dict:
    talk = request.state.talk
    listed = quizzes.questions(db, talk.id)
    chosen = request.query_params.get("sporsmal", "")
    editing = next((q for q in listed if str(q.id) == chosen), None)
    return {
        "talk": talk, "settings": quizzes.settings(db, talk.id), "questions": listed,
        "kinds": quizzes.KINDS, "form": _question_form(editing), "errors": {},
        "settings_errors": {}, "suggestions": None, "skipped": [],
        "truefalse_options": quizzes.TRUEFALSE_OPTIONS, **extra,
    }  # fmt: skip


def edit(request: Request) -> Response:
    with open_db(request) as db:
        return render(request, "quizzes/edit.html", _editor(request, db))


async def update(request: Request) -> Response:
    form = await request.form()
    talk, actor = request.state.talk, viewer_of(request).user
    args = (str(form.get("pass_mark", "")), "retries" in form, "published" in form, actor)
    try:
        await in_thread(request, quizzes.save_settings, talk, *args)
    except ValidationError as exc:

        def read(db: sqlite_utils.Database, exc: ValidationError) -> dict:
            context = _editor(request, db, settings_errors=exc.errors)
            return context

        context = await in_thread(request, read, exc)  # SQLite off the loop
        return render(request, "quizzes/edit.html", context, status=422)
    return RedirectResponse(_edit_url(talk, "innstillinger"), status_code=303)


def _indexes(values: list) -> tuple[int, ...]:
    return tuple(int_params(values, 0, quizzes.MAX_OPTIONS, BAD_OPTION))


def _input(form) -> QuestionInput:
    kind = str(form.get("kind", ""))
    correct = _indexes(form.getlist("correct"))
    if kind == quizzes.TRUEFALSE:
        correct = _indexes([form.get("truefalse", "")])
    return QuestionInput(
        kind=kind, text=str(form.get("text", "")), explanation=str(form.get("explanation", "")),
        at=str(form.get("at", "")), options=tuple(str(o) for o in form.getlist("option")),
        correct=correct,
    )  # fmt: skip


def _question_id(raw: object) -> int | None:
    return int_param(raw, 1, parse.MAX_ID, BAD_NUMBER)


async def question_save(request: Request) -> Response:
    form = await request.form()
    talk, actor = request.state.talk, viewer_of(request).user
    data, question_id = _input(form), _question_id(form.get("question_id"))
    try:
        saved = await in_thread(request, quizzes.save_question, talk, data, actor, question_id)
    except ValidationError as exc:
        echo = {
            "id": question_id or "", "kind": data.kind, "text": data.text, "at": data.at,
            "explanation": data.explanation, "correct": list(data.correct),
            "truefalse": str(data.correct[0]) if data.correct else "",
            "options": list(data.options) + [""] * max(0, 2 - len(data.options)),
        }  # fmt: skip

        def read(db: sqlite_utils.Database, exc: ValidationError) -> dict:
            context = _editor(request, db, form=echo, errors=exc.errors)
            return context

        context = await in_thread(request, read, exc)  # SQLite off the loop
        return render(request, "quizzes/edit.html", context, status=422)
    return RedirectResponse(_edit_url(talk, f"sporsmal-{saved}"), status_code=303)


def question_delete(request: Request) -> Response:
    talk = request.state.talk
    with open_db(request) as db:
        text = quizzes.delete_question(
            db, talk, request.path_params["question_id"], viewer_of(request).user
        )
    response = RedirectResponse(_edit_url(talk, "sporsmal"), status_code=303)
    return flash(request, response, "question_deleted", text=text)


async def reorder(request: Request) -> Response:
    form = await request.form()
    talk, actor = request.state.talk, viewer_of(request).user
    question_id = _question_id(form.get("question_id"))
    direction = str(form.get("direction", ""))
    await in_thread(request, quizzes.move_question, talk, question_id or 0, direction, actor)
    return RedirectResponse(_edit_url(talk, f"sporsmal-{question_id}"), status_code=303)


async def suggest_questions(request: Request) -> Response:
    form = await request.form()
    talk = request.state.talk
    skipped = [str(s) for s in form.getlist("skip") if str(s).strip()][:50]

    def read(db: sqlite_utils.Database) -> dict:
        used = [
            o.text for q in quizzes.questions(db, talk.id) if suggest.BLANK in q.text
            for o in q.options if o.correct
        ]  # fmt: skip
        drafts = suggest.suggest(db, talk, skip=[*skipped, *used])
        context = _editor(request, db, suggestions=drafts, skipped=skipped)
        return context

    context = await in_thread(request, read)  # SQLite off the loop
    return render(request, "quizzes/edit.html", context)


# ---------------------------------------------------------------- participants


def _take_context(request: Request, db, **extra) -> dict:
    talk = request.state.talk
    return {
        "talk": talk, "settings": quizzes.settings(db, talk.id),
        "questions": [q.public() for q in quizzes.questions(db, talk.id)],
        "answers": {}, "locked": set(), "missing": [], "preview": False, "result": None,
        "refused": None, **extra,
    }  # fmt: skip


def preview(request: Request) -> Response:
    with open_db(request) as db:
        return render(request, "quizzes/take.html", _take_context(request, db, preview=True))


def _attempt_param(request: Request) -> int | None:
    return _question_id(request.query_params.get("forsok"))


def take(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    with open_db(request) as db:
        if not quizzes.has_quiz(db, talk.id):
            raise HTTPException(404, quizzes.NOT_PUBLISHED)
        attempt = _attempt_param(request)
        if attempt is not None:
            result = quizzes.attempt_result(db, user.id, talk.id, attempt)
            if result is None:
                raise HTTPException(404, N_("Fant ikke dette forsøket."))
            context = _take_context(request, db, result=result, attempt_id=attempt)
            return render(request, "quizzes/take.html", context)
        if not quizzes.may_take(db, user.id, talk.id):
            result = quizzes.attempt_result(db, user.id, talk.id)
            context = _take_context(request, db, result=result, refused=quizzes.RETRY_REFUSED)
            return render(request, "quizzes/take.html", context)
        answers = quizzes.open_answers(db, user.id, talk.id)  # timed answers: locked
        context = _take_context(request, db, answers=answers, locked=set(answers))
        return render(request, "quizzes/take.html", context)


async def take_submit(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    form = await request.form()
    answers = {key[1:]: form.getlist(key) for key in form if key.startswith("q")}
    anyway = "lever_likevel" in form
    try:
        attempt = await in_thread(request, quizzes.submit, user.id, talk.id, answers, anyway)
    except quizzes.Incomplete as exc:

        def read(db: sqlite_utils.Database, exc: quizzes.Incomplete) -> dict:
            locked = set(quizzes.open_answers(db, user.id, talk.id))
            context = _take_context(
                request, db, answers=exc.answers, locked=locked, missing=exc.numbers
            )
            return context

        context = await in_thread(request, read, exc)  # SQLite off the loop
        return render(request, "quizzes/take.html", context, status=422)
    except QuizError as exc:
        if exc.status != 409:
            raise HTTPException(exc.status, str(exc)) from None

        def read(db: sqlite_utils.Database, exc: QuizError) -> dict:
            result = quizzes.attempt_result(db, user.id, talk.id)
            context = _take_context(request, db, result=result, refused=str(exc))
            return context

        context = await in_thread(request, read, exc)  # SQLite off the loop
        return render(request, "quizzes/take.html", context, status=409)
    await in_thread(request, progress.refresh_completion, user.id, talk.id)
    return RedirectResponse(f"/talks/{talk.slug}/quiz?forsok={attempt}", status_code=303)


def timed_json(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    with open_db(request) as db:
        if not quizzes.has_quiz(db, talk.id):
            raise HTTPException(404, quizzes.NOT_PUBLISHED)
        listed = [q.public() for q in quizzes.questions(db, talk.id) if q.at_seconds is not None]
        answered = sorted(quizzes.open_answers(db, user.id, talk.id))
        closed = not quizzes.may_take(db, user.id, talk.id)
    body = {"questions": listed, "answered": answered, "closed": closed,
            "answer_url": f"/talks/{talk.slug}/quiz/svar"}  # fmt: skip
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def timed_answer(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    try:
        body = parse.json_object(await request.body(), TIMED_ANSWER)
    except parse.InputError as exc:
        return JSONResponse({"error": i18n.text_for(request, str(exc))}, status_code=exc.status)
    if "question_id" not in body:
        message = i18n.text_for(request, quizzes.BAD_ANSWER)
        return JSONResponse({"error": message}, status_code=400)
    args = (user.id, talk.id, body["question_id"], body.get("answer"))
    try:
        outcome = await in_thread(request, quizzes.record_answer, *args)
    except QuizError as exc:
        return JSONResponse({"error": i18n.text_for(request, str(exc))}, status_code=exc.status)
    return JSONResponse(outcome.to_json())


routes = [
    Route("/talks/{key}/quiz/rediger", edit, name="quiz_edit"),
    Route("/talks/{key}/quiz/rediger", update, methods=["POST"], name="quiz_update"),
    Route("/talks/{key}/quiz/sporsmal", question_save, methods=["POST"], name="quiz_question_save"),
    Route(
        "/talks/{key}/quiz/sporsmal/{question_id:int}/slett",
        question_delete,
        methods=["POST"],
        name="quiz_question_delete",
    ),
    Route("/talks/{key}/quiz/rekkefolge", reorder, methods=["POST"], name="quiz_reorder"),
    Route("/talks/{key}/quiz/forslag", suggest_questions, methods=["POST"], name="quiz_suggest"),
    Route("/talks/{key}/quiz/forhandsvisning", preview, name="quiz_preview"),
    Route("/talks/{key}/quiz", take, name="quiz"),
    Route("/talks/{key}/quiz", take_submit, methods=["POST"], name="quiz_submit"),
    Route("/talks/{key}/quiz.json", timed_json, name="quiz_timed_json"),
    Route("/talks/{key}/quiz/svar", timed_answer, methods=["POST"], name="quiz_timed_answer"),
]
