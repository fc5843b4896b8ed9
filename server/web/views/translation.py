"""The English caption track (server.transcript.translation does the work): downloads for
viewers; for the talk's organiser a page to turn it on or off, correct it line by line,
mark it reviewed and bring back an older version. Rules in server.people.access.RULES."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from server.core.i18n import N_
from server.people.access import can_edit
from server.pipeline import jobs
from server.transcript import editing, translation
from server.web.respond import in_thread, int_param, open_db, render, settings_of, viewer_of
from server.web.views.talks import DOWNLOADS

BAD_VERSION = N_("Versjonen må være et helt tall. Velg en versjon i listen.")
ACTIVE = ("queued", "running")


def _url(talk, tail: str = "") -> str:
    return f"/talks/{talk.slug}/engelsk{tail}"


def download(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in DOWNLOADS:
        raise HTTPException(404)
    talk, settings = request.state.talk, settings_of(request)
    with open_db(request) as db:
        state = translation.get(db, talk.id)
    path = translation.folder(settings, talk.id) / f"transcript.{fmt}"
    editor = can_edit(viewer_of(request), talk)
    if not translation.visible(settings, state, editor) or not path.is_file():
        raise HTTPException(404, translation.NOT_READY)
    disposition = "inline" if request.query_params.get("inline") else "attachment"
    return FileResponse(path, media_type=DOWNLOADS[fmt], filename=f"{talk.slug}.en.{fmt}",
                        content_disposition_type=disposition)  # fmt: skip


def page(request: Request) -> Response:
    talk, settings = request.state.talk, settings_of(request)
    with open_db(request) as db:
        state = translation.get(db, talk.id)
        versions = translation.versions(db, talk.id)
        job = jobs.latest_for_talk(db, talk.id)
    current = translation.load(settings, talk.id) if state.state == "done" else None
    context = {
        "talk": talk,
        "state": state,
        "wanted": translation.wanted(settings, talk, state),
        "site_default": settings.english_captions,
        "segments": current.segments if current else (),
        "versions": versions,
        "busy": bool(job and job.state in ACTIVE),
        "state_labels": translation.STATE_LABELS_EN,
        "review_labels": editing.STATE_LABELS,
        "label": translation.LABEL,
        "error": state.error,
        "saved": request.query_params.get("lagret", ""),
    }
    return render(request, "talks/translation.html", context)


async def choose(request: Request) -> Response:
    """Turn the English track on (and make it now, for a ready talk) or off."""
    form = await request.form()
    on = form.get("engelsk") == "1"
    talk, user = request.state.talk, viewer_of(request).user

    settings = settings_of(request)

    def work(db) -> None:
        translation.set_wanted(db, talk, on, user)
        job = jobs.latest_for_talk(db, talk.id)
        wanted = translation.wanted(settings, talk, translation.get(db, talk.id))
        if wanted and talk.status == "ready" and not (job and job.state in ACTIVE):
            jobs.enqueue(db, talk.id, "translate")
            translation.mark(db, talk.id, "waiting")

    await in_thread(request, work)
    return RedirectResponse(_url(talk), status_code=303)


async def save(request: Request) -> Response:
    form = await request.form()
    talk, user = request.state.talk, viewer_of(request).user
    base = int_param(form.get("base_version"), 0, 1 << 31, BAD_VERSION)
    texts = [str(text) for text in form.getlist("text")]
    number = await in_thread(
        request, translation.save, settings_of(request), talk, texts, base or 0, user,
        str(form.get("note", "")),
    )  # fmt: skip
    return RedirectResponse(_url(talk, f"?lagret={number}"), status_code=303)


async def review(request: Request) -> Response:
    form = await request.form()
    talk, user = request.state.talk, viewer_of(request).user
    await in_thread(request, translation.set_review, talk, str(form.get("state", "")), user)
    return RedirectResponse(_url(talk), status_code=303)


async def restore(request: Request) -> Response:
    form = await request.form()
    talk, user = request.state.talk, viewer_of(request).user
    base = int_param(form.get("base_version"), 0, 1 << 31, BAD_VERSION)
    version = request.path_params["version"]
    number = await in_thread(
        request, translation.restore, settings_of(request), talk, version, base or 0, user
    )
    return RedirectResponse(_url(talk, f"?lagret={number}"), status_code=303)


routes = [
    Route("/talks/{key}/en/transcript.{fmt}", download, name="translation_download"),
    Route("/talks/{key}/engelsk", page, name="translation_page"),
    Route("/talks/{key}/engelsk", save, methods=["POST"], name="translation_save"),
    Route("/talks/{key}/engelsk/valg", choose, methods=["POST"], name="translation_choose"),
    Route("/talks/{key}/engelsk/kontroll", review, methods=["POST"], name="translation_review"),
    Route("/talks/{key}/engelsk/versjoner/{version:int}", restore, methods=["POST"],
          name="translation_restore"),
]  # fmt: skip
