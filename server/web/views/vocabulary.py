"""Vocabulary of names and terms for Whisper: the admin page and the per-talk endpoint.

`POST /talks/{key}/ordliste` takes a form (`term` to add, or `remove`; optional `neste`,
a local path to go back to) and answers 303, or a JSON body `{"term": ...}` /
`{"remove": ...}` (with the X-CSRF-Token header), or a form sent with
`Accept: application/json`, and then answers JSON:
`{"ok": true, "term", "action": "added"|"removed"|"exists", "message", "terms": [the
talk's own terms]}` (201 when added, else 200), or
`{"ok": false, "error"}` with 400/404/422.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import vocabulary
from server.core import i18n, parse
from server.core.i18n import N_
from server.pipeline import models
from server.web.redirects import safe_target
from server.web.respond import in_thread, render, settings_of, viewer_of, wants_json

MAX_JSON_BYTES = 16 * 1024
FIELDS = ("term", "remove", "talk", "neste")
JSON_SHAPE = {"term": str, "remove": str, "talk": (str, int), "neste": str}
BAD_JSON = N_('Send JSON som {"term": "ordet"} eller {"remove": "ordet"}.')
BAD_TALK = N_("Velg et foredrag fra listen.")


class BadRequest(vocabulary.VocabularyError):
    status = 400


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json"


def _answer_json(request: Request) -> bool:
    """A JSON body, or a form sent by fetch with `Accept: application/json`, gets JSON."""
    return _is_json(request) or wants_json(request)


async def _input(request: Request) -> dict[str, str]:
    if _is_json(request):
        try:
            data = parse.json_object(await request.body(), JSON_SHAPE, limit=MAX_JSON_BYTES)
        except parse.InputError:
            raise BadRequest(BAD_JSON) from None
    else:
        data = dict(await request.form())
    return {k: str(data[k]) for k in FIELDS if data.get(k) is not None}


def _change(db, data: dict[str, str], talk_id: int | None, actor) -> vocabulary.Change:
    if data.get("remove"):
        return vocabulary.remove_term(db, data["remove"], talk_id, actor)
    return vocabulary.add_term(db, data.get("term", ""), talk_id, actor)


def _json(request: Request, change: vocabulary.Change, terms: list) -> JSONResponse:
    status = 201 if change.action == "added" else 200
    body = {"ok": True, "term": change.term, "action": change.action,
            "message": i18n.text_for(request, change.message),
            "terms": [t.term for t in terms]}  # fmt: skip
    return JSONResponse(body, status_code=status)


def _json_error(request: Request, exc: vocabulary.VocabularyError) -> JSONResponse:
    body = {"ok": False, "error": i18n.text_for(request, str(exc))}
    return JSONResponse(body, status_code=exc.status)


def _page_context(db) -> dict:
    return {
        "site_terms": vocabulary.site_terms(db),
        "groups": vocabulary.terms_by_talk(db),
        "talk_choices": vocabulary.talk_choices(db),
        "max_term": vocabulary.MAX_TERM,
    }


def _models(request: Request) -> dict:
    """The Whisper models section: what `ktl models` lists, without hashing or loading."""
    rep = models.report(settings_of(request), check_sha=False)
    return {"models": rep.found, "model_setting": rep.settings.whisper_model,
            "model_error": rep.error}  # fmt: skip


async def page(request: Request) -> Response:
    context = await in_thread(request, _page_context)
    return render(request, "vocabulary/page.html", {**context, **_models(request)})


async def update(request: Request) -> Response:
    """Admin: add or remove a site-wide term, or (field `talk`) a term of any talk."""
    actor = viewer_of(request).user
    as_json = _answer_json(request)
    data: dict[str, str] = {}
    try:
        data = await _input(request)
        talk_id = _talk_id(data.get("talk", ""))

        def work(db):
            change = _change(db, data, talk_id, actor)
            terms = vocabulary.talk_terms(db, talk_id) if talk_id else vocabulary.site_terms(db)
            return change, terms, _page_context(db)

        change, terms, context = await in_thread(request, work)
    except vocabulary.VocabularyError as exc:
        if as_json:
            return _json_error(request, exc)
        context = await in_thread(request, _page_context)
        context.update(error=str(exc), form=data, **_models(request))
        return render(request, "vocabulary/page.html", context, status=exc.status)
    if as_json:
        return _json(request, change, terms)
    context.update(message=change.message, **_models(request))
    return render(request, "vocabulary/page.html", context)


def _talk_id(raw: str) -> int | None:
    if not raw.strip():
        return None
    talk_id = parse.identifier(raw)
    if talk_id is None:
        raise vocabulary.VocabularyError(BAD_TALK)
    return talk_id


async def talk_update(request: Request) -> Response:
    """The talk's organiser or an admin: add or remove one of the talk's own terms."""
    talk = request.state.talk  # put there by the guard (TALK_EDIT)
    actor = viewer_of(request).user
    as_json = _answer_json(request)
    try:
        data = await _input(request)

        def work(db):
            change = _change(db, data, talk.id, actor)
            return change, vocabulary.talk_terms(db, talk.id)

        change, terms = await in_thread(request, work)
    except vocabulary.VocabularyError as exc:
        if as_json:
            return _json_error(request, exc)
        raise  # the error page, with the error's status
    if as_json:
        return _json(request, change, terms)
    target = safe_target(data.get("neste", ""), f"/talks/{talk.slug}")
    return RedirectResponse(target, status_code=303)


routes = [
    Route("/admin/ordliste", page, name="vocabulary"),
    Route("/admin/ordliste", update, methods=["POST"], name="vocabulary_update"),
    Route("/talks/{key}/ordliste", talk_update, methods=["POST"], name="talk_vocabulary_update"),
]
