"""Personal notes on a talk (server.learning.notes): add, edit, delete, download as text.

Forms post and come back to the talk page (no JavaScript needed); js/notes.js sends the
same forms with fetch and gets the talk's notes back as JSON. The guard has checked that
the person is signed in and may see the talk (RULES: talk:member); a note id that is not
theirs on this talk is 404.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from server.core import i18n
from server.core.i18n import N_
from server.learning import notes
from server.web.respond import in_thread, viewer_of, wants_json

HEADING = N_("Mine notater")


async def _run(request: Request, action) -> Response:
    """Run `action(db, user_id, talk_id)` and answer with the talk's notes (or a redirect)."""
    talk, user = request.state.talk, viewer_of(request).user

    def work(db):
        saved = action(db, user.id, talk.id)
        return saved, notes.for_talk(db, user.id, talk.id)

    try:
        saved, rows = await in_thread(request, work)
    except notes.NoteError as exc:
        message = i18n.text_for(request, str(exc))
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=exc.status)
        raise HTTPException(exc.status, message) from None
    if wants_json(request):
        body = {"notes": [n.to_json() for n in rows], "saved": saved.id if saved else None}
        return JSONResponse(body, headers={"cache-control": "no-store"})
    moment = f"?t={int(saved.at)}" if saved else ""
    return RedirectResponse(f"/talks/{talk.slug}{moment}#notater", status_code=303)


async def create(request: Request) -> Response:
    form = await request.form()
    at, text = form.get("at"), form.get("text")
    return await _run(
        request, lambda db, user_id, talk_id: notes.add(db, user_id, talk_id, at, text)
    )


async def update(request: Request) -> Response:
    form = await request.form()
    at, text, note_id = form.get("at"), form.get("text"), request.path_params["note_id"]
    return await _run(request, lambda db, uid, tid: notes.update(db, uid, tid, note_id, at, text))


async def delete(request: Request) -> Response:
    note_id = request.path_params["note_id"]
    return await _run(request, lambda db, uid, tid: notes.delete(db, uid, tid, note_id))


async def listing(request: Request) -> Response:
    """GET notater.json: the viewer's notes on this talk."""
    return await _run(request, lambda db, uid, tid: None)


async def download(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    rows = await in_thread(request, lambda db: notes.for_talk(db, user.id, talk.id))
    url = str(request.base_url).rstrip("/") + f"/talks/{talk.slug}"
    heading = i18n.text_for(request, HEADING)
    return PlainTextResponse(
        notes.as_text(talk.title, url, rows, heading),
        headers={
            "content-disposition": f'attachment; filename="notater-{talk.slug}.txt"',
            "cache-control": "no-store",
        },
    )


routes = [
    Route("/talks/{key}/notater", create, methods=["POST"], name="note_create"),
    Route("/talks/{key}/notater.json", listing, name="note_list"),
    Route("/talks/{key}/notater.txt", download, name="note_download"),
    Route("/talks/{key}/notater/{note_id:int}", update, methods=["POST"], name="note_update"),
    Route("/talks/{key}/notater/{note_id:int}/slett", delete, methods=["POST"], name="note_delete"),
]
