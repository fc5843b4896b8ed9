"""Talk pages: create, edit, watch, follow processing, attach an uploaded recording,
downloads. Who may reach each route is decided in server.people.access.RULES (by route name);
the guard has already put the talk on request.state.talk for talk routes."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import moments, programme, provisional, talks
from server.catalogue.records import Recording, Talk
from server.core import i18n, parse
from server.core.i18n import N_
from server.learning import notes, progress, quizzes
from server.live import broadcasts
from server.ops import diskspace
from server.people import accounts
from server.people.access import can_edit
from server.pipeline import status as processing
from server.pipeline import tus
from server.pipeline.status import ProcessingStatus
from server.store import write
from server.transcript import editing, translation
from server.transcript import model as transcript
from server.web.flash import flash
from server.web.respond import in_thread, open_db, render, settings_of, viewer_of
from server.web.views import chapters as chapter_views
from server.web.views.media import send_file

DOWNLOADS = {
    "json": "application/json",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}
FORM_FIELDS = (
    "title",
    "speaker",
    "department",
    "starts_at",
    "description",
    "language",
    "visibility",
    "room",
    "capacity",
)


def _form(data) -> dict:
    return {name: str(data.get(name, "")) for name in FORM_FIELDS}


def _input(form: dict, data) -> talks.TalkInput:
    """The form as TalkInput; a date in the past is taken only with «Lagre likevel» ticked."""
    return talks.TalkInput(**form, confirm_past=data.get("likevel") == "1")


def new_form(request: Request) -> Response:
    settings = settings_of(request)
    form = {"language": settings.default_language, "visibility": "internal"}
    return render(request, "talks/new.html", {"form": form, "errors": {}})


async def create(request: Request) -> Response:
    data = await request.form()
    form = _form(data)
    actor = viewer_of(request).user
    try:
        talk = await in_thread(request, talks.create, _input(form, data), actor)
    except talks.ValidationError as exc:
        context = {"form": form, "errors": exc.errors, "past_date": exc.past_date}
        return render(request, "talks/new.html", context, status=422)
    response = RedirectResponse(f"/talks/{talk.slug}#opptak", status_code=303)
    return flash(request, response, *_saved("talk_created", talk))


def _saved(message: str, talk: Talk) -> tuple[str, ...]:
    """What the page says after saving: saved, and whether the public calendar shows it."""
    return (message,) if talk.visibility == "public" else (message, "not_in_feed")


def _edit_context(talk: Talk, form: dict, errors: dict, past_date: bool = False) -> dict:
    return {
        "form": form, "errors": errors, "talk": talk, "action": f"/talks/{talk.slug}/rediger",
        "heading": N_("Rediger foredraget"), "submit": N_("Lagre endringene"),
        "past_date": past_date,
    }  # fmt: skip


def edit_form(request: Request) -> Response:
    talk = request.state.talk
    form = {name: getattr(talk, name) or "" for name in FORM_FIELDS}
    return render(request, "talks/edit.html", _edit_context(talk, form, {}))


async def update(request: Request) -> Response:
    talk = request.state.talk
    data = await request.form()
    form = _form(data)
    actor = viewer_of(request).user
    try:
        saved = await in_thread(request, talks.update, talk, _input(form, data), actor)
    except talks.ValidationError as exc:
        context = _edit_context(talk, form, exc.errors, exc.past_date)
        return render(request, "talks/edit.html", context, 422)
    response = RedirectResponse(f"/talks/{saved.slug}", status_code=303)
    return flash(request, response, *_saved("talk_saved", saved))


ON_AIR = N_("Foredraget sendes direkte. Avslutt sendingen først; opptaket kommer da av seg selv.")


def _on_air(db, talk_id: int) -> bool:
    row = broadcasts.get(db, talk_id)
    return row is not None and row.state in (*broadcasts.ON_AIR, broadcasts.ENDING)


async def delete(request: Request) -> Response:
    talk = request.state.talk
    if await in_thread(request, _on_air, talk.id):
        raise HTTPException(409, ON_AIR)
    if (await request.form()).get("bekreftet") != "1":  # asked in the page, or ask here
        return render(request, "talks/delete.html", {"talk": talk})
    await request.app.state.live.forget(talk.id)  # an open SRT receiver, if any
    await in_thread(request, talks.delete, settings_of(request), talk.id, viewer_of(request).user)
    home = RedirectResponse("/", status_code=303)
    return flash(request, home, "talk_deleted", title=talk.title)


def _moment(request: Request) -> moments.Moment:
    """The moment a link asks for: ?t=START (seconds or m:ss), ?til=END for a range."""
    return moments.parse(request.query_params.get("t"), request.query_params.get("til"))


def _duration(recording: Recording | None) -> float | None:
    return recording.duration if recording else None


def _segments(request: Request, talk: Talk) -> list[transcript.Segment]:
    path = settings_of(request).paths.transcript_json(talk.id)
    loaded = transcript.load_cached(path)  # parsed once per version of the file
    return list(loaded.segments) if loaded else []


def page(request: Request) -> Response:
    talk = request.state.talk
    viewer = viewer_of(request)
    with open_db(request) as db:
        recording = talks.recording(db, talk.id)
        status = processing.for_talk(db, settings_of(request), talk)
        extras = {
            **programme.page_context(db, viewer, talk),
            **quizzes.page_context(db, viewer, talk),
            **progress.page_context(db, viewer, talk),
            **notes.page_context(db, viewer, talk),
            **translation.page_context(db, settings_of(request), talk, can_edit(viewer, talk)),
            **broadcasts.watch_context(db, talk),
            **chapter_views.page_context(db, settings_of(request), viewer, talk),
        }
    editor = can_edit(viewer, talk)
    visible = editing.transcript_visible(settings_of(request), talk, editor)
    context = {
        "can_edit": editor,
        "transcript_visible": visible,
        "talk": talk,
        "recording": recording,
        "status": translated_status(request, status),
        "segments": _segments(request, talk) if talk.status == "ready" and visible else [],
        # Packaged but still being transcribed: the player, with provisional captions.
        "playable": status.playable,
        "start": (moment := moments.within(_moment(request), _duration(recording))).start,
        "end": moment.end,
        "share_path": (path := f"/talks/{talk.slug}"),
        "share_url": str(request.base_url).rstrip("/") + moments.link(path, moment),
        "downloads": list(DOWNLOADS),
        "asked": request.query_params.get("spurt") == "1",
        **extras,
    }
    return render(request, "talks/page.html", context)


def translated_status(request: Request, status: ProcessingStatus) -> ProcessingStatus:
    """The stage labels, notice and error of `status` in the language of the request."""
    lang = i18n.language_of(request)
    return status.translated(lambda text: i18n.translate(text, lang))


def status_json(request: Request) -> Response:
    with open_db(request) as db:
        status = processing.for_talk(db, settings_of(request), request.state.talk)
    body = translated_status(request, status).to_json()
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def retry(request: Request) -> Response:
    """Start a failed job again, or one stuck since its worker died; 409 for a healthy one."""
    talk = request.state.talk
    with open_db(request) as db:
        processing.retry(db, talk, viewer_of(request).user)  # RetryRefused: the error page
    return RedirectResponse(f"/talks/{talk.slug}", status_code=303)


async def attach(request: Request) -> Response:
    """The page calls this when its tus upload is complete: probe, move into place, queue."""
    try:
        upload_id = parse.json_object(await request.body(), {"upload_id": str}).get("upload_id", "")
    except parse.InputError as exc:
        return JSONResponse({"error": i18n.text_for(request, str(exc))}, status_code=exc.status)
    settings = settings_of(request)
    talk = request.state.talk
    user = viewer_of(request).user
    if await in_thread(request, _on_air, talk.id):
        return JSONResponse({"error": i18n.text_for(request, ON_AIR)}, status_code=409)

    if (low := diskspace.shortage(settings)) is not None:  # processing needs room too
        return JSONResponse({"error": i18n.text_for(request, low)}, status_code=507)

    def work(db) -> dict:
        talks.attach_upload(db, settings, talk.id, upload_id, user.id if user else None)
        with write(db):
            accounts.audit(db, user, N_("lastet opp opptak"), talk.title)
        return talk

    try:
        talk = await in_thread(request, work)
    except talks.RecordingError as exc:
        return JSONResponse({"error": i18n.text_for(request, str(exc))}, status_code=exc.status)
    except tus.UploadError as exc:
        return JSONResponse({"error": i18n.text_for(request, exc.message)}, status_code=exc.status)
    return JSONResponse({"ok": True, "url": f"/talks/{talk.slug}"}, status_code=201)


def download(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in DOWNLOADS:
        raise HTTPException(404)
    talk = request.state.talk
    editor = can_edit(viewer_of(request), talk)
    if not editing.transcript_visible(settings_of(request), talk, editor):
        raise HTTPException(404, editing.NOT_REVIEWED)
    path = talks.transcript_dir(settings_of(request), talk.id) / f"transcript.{fmt}"
    if fmt == "vtt" and talk.status == "processing" and not path.is_file():
        with open_db(request) as db:
            text = provisional.vtt(db, talk.id, talk.language)
        headers = {"Cache-Control": "no-store", "X-Captions": "provisional"}
        return Response(text, media_type=DOWNLOADS[fmt], headers=headers)
    if not path.is_file():
        raise HTTPException(404, N_("Transkripsjonen er ikke klar ennå."))
    disposition = "inline" if request.query_params.get("inline") else "attachment"
    if fmt == "json":  # with the talk's chapters
        return chapter_views.json_download(request, talk, path, disposition)
    return FileResponse(
        path,
        media_type=DOWNLOADS[fmt],
        filename=f"{talk.slug}.{fmt}",
        content_disposition_type=disposition,
    )


def original(request: Request) -> Response:
    talk = request.state.talk
    with open_db(request) as db:
        rec = talks.recording(db, talk.id)
    if rec is None:
        raise HTTPException(404, N_("Foredraget har ikke noe opptak ennå."))
    path = talks.media_dir(settings_of(request), talk.id) / rec.path
    return send_file(request, path, filename=rec.original_name)


routes = [
    Route("/talks/ny", new_form, name="talk_new"),
    Route("/talks", create, methods=["POST"], name="talk_create"),
    Route("/talks/{key}/rediger", edit_form, name="talk_edit"),
    Route("/talks/{key}/rediger", update, methods=["POST"], name="talk_update"),
    Route("/talks/{key}/slett", delete, methods=["POST"], name="talk_delete"),
    Route("/talks/{key}/opptak", attach, methods=["POST"], name="talk_attach"),
    Route("/talks/{key}/prov-igjen", retry, methods=["POST"], name="talk_retry"),
    Route("/talks/{key}", page, name="talk"),
    Route("/talks/{key}/status.json", status_json, name="talk_status"),
    Route("/talks/{key}/transcript.{fmt}", download, name="talk_download"),
    Route("/talks/{key}/original", original, name="talk_original"),
]
