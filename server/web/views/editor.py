"""Transcript editor, versions, review state and re-transcription (server.transcript.editing
does the work). Who may reach each route is decided in server.people.access.RULES (TALK_EDIT
for all); the guard has already put the talk on request.state.talk."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import talks, vocabulary
from server.catalogue.records import Talk
from server.core import i18n, parse
from server.core.i18n import N_
from server.pipeline import models
from server.transcript import doubtful, editing, textdiff
from server.web.respond import in_thread, int_param, render, settings_of, viewer_of, wants_json

MAX_JSON_BYTES = 8 << 20
SAVED = N_("Lagret som versjon {version}.")
EDITED = {"base_version": (int, str), "note": (str, type(None))}  # segments: editing.py
BAD_VERSION = N_("Versjonen må være et helt tall. Velg en versjon i listen.")
NO_WORD = N_("Skriv ordet du vil ha forslag til (høyst 60 tegn, med bokstaver).")
MAX_SUGGEST_WORD = 60


def _talk_url(talk: Talk, tail: str = "") -> str:
    return f"/talks/{talk.slug}/transkripsjon{tail}"


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def _refuse(request: Request, exc: editing.EditError) -> Response:
    if wants_json(request) or _is_json(request):
        body = {
            "error": i18n.text_for(request, exc.message),
            "errors": [i18n.text_for(request, error) for error in exc.errors],
        }
        return JSONResponse(body, status_code=exc.status)
    raise HTTPException(exc.status, exc.message)


def _segment_json(segments) -> str:
    """What editor.js needs: times, text and word timestamps (for splitting at a word), as
    JSON that is safe inside <script type="application/json">."""
    data = [
        {"start": s.start, "end": s.end, "text": s.text,
         "words": [[w.start, w.end, w.word] for w in s.words]}
        for s in segments
    ]  # fmt: skip
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _editor_context(db, request: Request) -> dict:
    settings = settings_of(request)
    talk = request.state.talk
    current = editing.load_current(settings, talk.id)
    fresh = talks.get(db, talk.id) or talk
    doubts = [doubtful.doubts(segment, fresh.language) for segment in current.segments]
    return {
        "talk": fresh,
        "segments": current.segments,
        "doubts": doubts,
        "doubt_total": sum(map(len, doubts)),
        "segments_json": _segment_json(current.segments),
        "model": current.model,
        "state_label": editing.STATE_LABELS.get(fresh.transcript_state, ""),
        "pending": editing.pending(db, settings, talk.id),
        "pending_error": editing.retranscribe_error(db, talk.id),
        "default_model": settings.whisper_model,
        "model_choices": models.choices(settings),
        "captions_publish": settings.captions_publish,
        "saved": request.query_params.get("lagret", ""),
    }


async def editor(request: Request) -> Response:
    if request.state.talk.status != "ready":
        raise HTTPException(404, editing.NOT_READY)
    try:
        context = await in_thread(request, _editor_context, request)
    except editing.EditError as exc:
        return _refuse(request, exc)
    return render(request, "editor/editor.html", context)


def _suggestions(db, talk: Talk, word: str) -> dict:
    """Dictionary suggestions and near words among the talk's terms and transcript words."""
    terms = vocabulary.terms_for_talk(db, talk.id)
    sql = "SELECT word FROM search_talk_vocab WHERE talk_id = ?"
    words = [row[0] for row in db.execute(sql, [talk.id])]
    own = [w for term in terms for w in term.lower().split()] + words
    return {"word": word, **doubtful.suggestions(word, talk.language, own)}


async def suggestions(request: Request) -> Response:
    """GET …/transkripsjon/forslag?ord=…: JSON suggestions for one doubtful word."""
    word = " ".join(request.query_params.get("ord", "").split())
    if not word or len(word) > MAX_SUGGEST_WORD or not any(ch.isalpha() for ch in word):
        message = i18n.text_for(request, NO_WORD)
        return JSONResponse({"error": message}, status_code=422)
    return JSONResponse(await in_thread(request, _suggestions, request.state.talk, word))


async def _edited(request: Request) -> tuple[object, object, str]:
    """(segments, base version, note) from JSON, or from the plain form without script."""
    if _is_json(request):
        body = await request.body()
        if len(body) > MAX_JSON_BYTES:
            raise editing.EditError(N_("Transkripsjonen er for stor til å lagres på én gang."))
        try:
            data = parse.json_object(body, EDITED)
        except parse.InputError as exc:
            raise editing.EditError(str(exc)) from None
        return data.get("segments"), data.get("base_version"), str(data.get("note") or "")
    form = await request.form()
    starts, ends, texts = (form.getlist(name) for name in ("start", "end", "text"))
    if not len(starts) == len(ends) == len(texts):
        raise editing.EditError(N_("Skjemaet var ufullstendig. Last siden på nytt og prøv igjen."))
    segments = [
        {"start": s, "end": e, "text": t} for s, e, t in zip(starts, ends, texts, strict=True)
    ]
    return segments, form.get("base_version"), str(form.get("note") or "")


async def save(request: Request) -> Response:
    talk = request.state.talk
    settings, actor = settings_of(request), viewer_of(request).user
    try:
        raw_segments, raw_base, note = await _edited(request)
        segments = editing.parse_segments(raw_segments)
        base = editing.parse_base(raw_base)
        version = await in_thread(
            request, editing.save, settings, talk.id, segments, base, actor, note
        )
    except editing.EditError as exc:
        return _refuse(request, exc)
    if _is_json(request):
        return JSONResponse(
            {
                "ok": True,
                "version": version,
                "message": i18n.text_for(request, SAVED.format(version=version)),
            }
        )
    return RedirectResponse(_talk_url(talk, f"?lagret={version}"), status_code=303)


def _versions_context(db, request: Request) -> dict:
    settings = settings_of(request)
    talk = talks.get(db, request.state.talk.id) or request.state.talk
    listed = editing.versions(db, talk)
    shown_raw = request.query_params.get("vis", "")
    shown = int_param(shown_raw, 0, parse.MAX_ID, BAD_VERSION)
    preview = None
    if shown is not None and any(v.version == shown and v.has_file for v in listed):
        try:
            preview = editing.load_version(settings, talk, shown)
        except editing.EditError:
            preview = None
    return {
        **_difference(settings, talk, listed, shown if preview else None, preview),
        "talk": talk,
        "versions": listed,
        "pending": editing.pending(db, settings, talk.id),
        "pending_error": editing.retranscribe_error(db, talk.id),
        "shown": shown if preview else None,
        "preview": preview,
        "state_label": editing.STATE_LABELS.get(talk.transcript_state, ""),
    }


def _difference(settings, talk: Talk, listed: list, shown: int | None, preview) -> dict:
    """The shown version's changes from the version before it (the newest older one)."""
    older = [v.version for v in listed if shown is not None and v.version < shown and v.has_file]
    if not older or preview is None:
        return {"before": None, "changes": []}
    try:
        earlier = editing.load_version(settings, talk, max(older))
    except editing.EditError:
        return {"before": None, "changes": []}
    return {"before": max(older), "changes": textdiff.changes(earlier.segments, preview.segments)}


async def versions(request: Request) -> Response:
    context = await in_thread(request, _versions_context, request)
    return render(request, "editor/versions.html", context)


async def restore(request: Request) -> Response:
    talk = request.state.talk
    version = request.path_params["version"]
    form = await request.form()
    try:
        base = editing.parse_base(form.get("base_version"))
        number = await in_thread(
            request, editing.restore, settings_of(request), talk.id, version, base,
            viewer_of(request).user,
        )  # fmt: skip
    except editing.EditError as exc:
        return _refuse(request, exc)
    return RedirectResponse(_talk_url(talk, f"?lagret={number}"), status_code=303)


async def review(request: Request) -> Response:
    talk = request.state.talk
    form = await request.form()
    state = str(form.get("state", ""))
    try:
        await in_thread(request, editing.set_state, talk.id, state, viewer_of(request).user)
    except editing.EditError as exc:
        return _refuse(request, exc)
    target = str(form.get("next", ""))
    if target != "talk":
        return RedirectResponse(_talk_url(talk), status_code=303)
    return RedirectResponse(f"/talks/{talk.slug}", status_code=303)


async def retranscribe(request: Request) -> Response:
    talk = request.state.talk
    form = await request.form()
    try:
        await in_thread(
            request, editing.request_retranscribe, settings_of(request), talk.id,
            str(form.get("model", "")), viewer_of(request).user,
        )  # fmt: skip
    except editing.EditError as exc:
        return _refuse(request, exc)
    return RedirectResponse(_talk_url(talk, "/versjoner"), status_code=303)


async def accept(request: Request) -> Response:
    """Accept (handling=godta, the default) or discard (handling=forkast) the pending version."""
    talk = request.state.talk
    form = await request.form()
    settings, actor = settings_of(request), viewer_of(request).user
    try:
        if form.get("handling") == "forkast":
            await in_thread(request, editing.discard_pending, settings, talk.id, actor)
            return RedirectResponse(_talk_url(talk, "/versjoner"), status_code=303)
        base = editing.parse_base(form.get("base_version"))
        number = await in_thread(request, editing.accept_pending, settings, talk.id, base, actor)
    except editing.EditError as exc:
        return _refuse(request, exc)
    return RedirectResponse(_talk_url(talk, f"?lagret={number}"), status_code=303)


routes = [
    Route("/talks/{key}/transkripsjon", editor, name="transcript_editor"),
    Route("/talks/{key}/transkripsjon", save, methods=["POST"], name="transcript_save"),
    Route("/talks/{key}/transkripsjon/versjoner", versions, name="transcript_versions"),
    Route(
        "/talks/{key}/transkripsjon/versjoner/{version:int}",
        restore,
        methods=["POST"],
        name="transcript_restore",
    ),
    Route(
        "/talks/{key}/transkripsjon/kontrollert", review, methods=["POST"], name="transcript_review"
    ),
    Route(
        "/talks/{key}/transkripsjon/ny-modell",
        retranscribe,
        methods=["POST"],
        name="transcript_retranscribe",
    ),
    Route("/talks/{key}/transkripsjon/godta", accept, methods=["POST"], name="transcript_accept"),
    Route("/talks/{key}/transkripsjon/forslag", suggestions, name="transcript_suggestions"),
]
