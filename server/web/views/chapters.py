"""Slides and chapters of a talk: slide thumbnails (through the media route's delivery, so
nginx sends them with KTL_ACCEL_REDIRECT), the WebVTT chapters track, the organiser's
chapter editor, and what the talk page shows of them. server.catalogue.chapters and
server.catalogue.slides do the work; server.people.access.RULES says who may reach each
route (the thumbnails and the track: whoever may see the talk; the editor: its organiser).

Chapters proposed from the transcript (no slides) follow the transcript's rule: where it
may not be shown yet (KTL_CAPTIONS_PUBLISH=reviewed), neither may they.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import chapters, slides, talks
from server.core import i18n
from server.core.i18n import N_
from server.people.access import can_edit
from server.pipeline import jobs
from server.transcript import editing
from server.web.respond import in_thread, open_db, render, settings_of, viewer_of
from server.web.views.media import send_file

NOT_READY = N_("Foredraget er ikke ferdig behandlet ennå; kapitler kan legges inn etterpå.")
EMPTY_ROWS = 3  # blank rows under the chapters, for adding without script


def _shown(items: list[chapters.Chapter], transcript_visible: bool) -> list[chapters.Chapter]:
    return [c for c in items if transcript_visible or c.source != "transcript"]


def page_context(db, settings, viewer, talk) -> dict:
    """The slide strip, the chapters list and (for organisers) how the slide stage went."""
    editor = can_edit(viewer, talk)
    visible = editing.transcript_visible(settings, talk, editor)
    job = jobs.latest_for_talk(db, talk.id)
    reading = job is not None and job.state == "running" and job.stage == "slides"
    return {
        "slides": slides.for_talk(db, talk.id),
        "chapters": _shown(chapters.for_talk(db, talk.id), visible),
        "slide_scan": slides.scan_of(db, talk.id) if editor else None,
        "slides_progress": round(job.progress, 2) if reading and editor else None,
    }


def thumb(request: Request) -> Response:
    talk_id = request.path_params["talk_id"]
    path = slides.thumb_path(
        talks.media_dir(settings_of(request), talk_id), request.path_params["thumb"]
    )
    if path is None:
        raise HTTPException(404)
    scope = "public" if request.state.talk.visibility == "public" else "private"
    headers = {"Cache-Control": f"{scope}, max-age=3600"}
    return send_file(request, path, media_type="image/jpeg", headers=headers)


def _duration(db, talk_id: int) -> float:
    rec = talks.recording(db, talk_id)
    return float(rec.duration) if rec is not None else 0.0


def track(request: Request) -> Response:
    """The WebVTT chapters track (<track kind="chapters">)."""
    talk = request.state.talk
    editor = can_edit(viewer_of(request), talk)
    visible = editing.transcript_visible(settings_of(request), talk, editor)
    with open_db(request) as db:
        items, duration = _shown(chapters.for_talk(db, talk.id), visible), _duration(db, talk.id)
    headers = {"Cache-Control": "no-cache"}
    return Response(chapters.webvtt(items, duration), media_type="text/vtt; charset=utf-8",
                    headers=headers)  # fmt: skip


def json_download(request: Request, talk, path: Path, disposition: str) -> Response:
    """The JSON transcript with the talk's chapters added ("chapters": start, title, source)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    with open_db(request) as db:
        data["chapters"] = chapters.as_json(chapters.for_talk(db, talk.id))
    headers = {"Content-Disposition": f'{disposition}; filename="{talk.slug}.json"'}
    return JSONResponse(data, headers=headers)


def _editor_context(db, talk, rows: list[tuple[str, str]] | None, errors: dict) -> dict:
    current = chapters.for_talk(db, talk.id)
    if rows is None:
        rows = [(chapters.clock(c.at), c.title) for c in current]
    return {
        "talk": talk,
        "rows": [*rows, *[("", "")] * EMPTY_ROWS],
        "errors": errors,
        "slides": slides.for_talk(db, talk.id),
        "duration": chapters.clock(_duration(db, talk.id)),
        "proposed": bool(current) and all(c.source != chapters.ORGANISER for c in current),
    }


async def edit_form(request: Request) -> Response:
    talk = request.state.talk
    if talk.status != "ready":
        raise HTTPException(409, NOT_READY)
    context = await in_thread(request, _editor_context, talk, None, {})
    return render(request, "talks/chapters.html", context)


async def save(request: Request) -> Response:
    talk = request.state.talk
    if talk.status != "ready":
        raise HTTPException(409, NOT_READY)
    form = await request.form()
    times, titles, removed = form.getlist("time"), form.getlist("title"), form.getlist("remove")
    if len(times) != len(titles):
        raise HTTPException(400, N_("Skjemaet var ufullstendig. Last siden på nytt og prøv igjen."))
    rows = [(str(t), str(title)) for t, title in zip(times, titles, strict=True)]
    kept = [row for n, row in enumerate(rows, start=1) if str(n) not in removed]

    def work(db):
        items = chapters.validate(kept, _duration(db, talk.id))
        chapters.save(db, talk.id, items)

    try:
        await in_thread(request, work)
    except chapters.ChapterError as exc:
        errors = {n: i18n.text_for(request, message) for n, message in exc.errors.items()}
        context = await in_thread(request, _editor_context, talk, kept, errors)
        return render(request, "talks/chapters.html", context, status=422)
    return RedirectResponse(f"/talks/{talk.slug}/kapitler?lagret=1", status_code=303)


routes = [
    Route("/media/{talk_id:int}/slides/{thumb}", thumb, name="slide_thumb"),
    Route("/talks/{key}/chapters.vtt", track, name="talk_chapters_vtt"),
    Route("/talks/{key}/kapitler", edit_form, name="chapters_edit"),
    Route("/talks/{key}/kapitler", save, methods=["POST"], name="chapters_save"),
]
