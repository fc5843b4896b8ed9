"""Live broadcasts: the organiser's page, ingest from the browser (WebSocket) and from an
encoder (SRT), the viewers' playlist, segments and events, and questions. Thin handlers
over server.live; the guard has put the talk on request.state.talk."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.catalogue import talks
from server.catalogue.records import Talk
from server.core import i18n, parse
from server.core.clock import format_date
from server.core.i18n import N_, language_of
from server.live import broadcasts, ffargs
from server.live.broadcasts import LiveError
from server.live.manager import LiveManager
from server.people import access
from server.web import delivery
from server.web.flash import flash
from server.web.respond import in_thread, render, settings_of, viewer_of, wants_json
from server.web.views.media import send_file

PART = re.compile(r"part-\d{4}")
SEGMENT = re.compile(r"seg-\d{5}\.ts")
EVENTS_KEEPALIVE = 15.0
EVENTS_MAX_SECONDS = 600.0  # the browser's EventSource reconnects by itself
CLOSE_REFUSED = 4409  # connect again and resend
CLOSE_FINAL = 4410  # do not connect again (ended, not planned, another source is sending)
MAX_CHUNK = 8 * 1024 * 1024


def manager_of(request: Request | WebSocket) -> LiveManager:
    return request.app.state.live


def _srt_host(request: Request) -> str:
    settings = settings_of(request)
    if settings.srt_host:
        return settings.srt_host
    if settings.public_url:
        return urlsplit(settings.public_url).hostname or request.url.hostname or "localhost"
    return request.url.hostname or "localhost"


# ---------------------------------------------------------------- the organiser's page


async def page(request: Request) -> Response:
    talk = request.state.talk
    row = await in_thread(request, broadcasts.ensure, talk)
    runtime = manager_of(request).runtime(talk.id)
    port = runtime.srt_port
    context = {
        "talk": talk,
        "broadcast": row,
        "srt_url": ffargs.srt_url(_srt_host(request), port, row.srt_passphrase, "caller")
        if port
        else "",
        "srt_port": port,
        "questions": await in_thread(request, broadcasts.questions, talk.id),
        "can_send": talk.status == "planned" and row.state != broadcasts.ENDED,
    }
    return render(request, "live/organiser.html", context)


def _back(request: Request) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(f"/talks/{request.state.talk.slug}/direkte", status_code=303)


async def open_encoder(request: Request) -> Response:
    await manager_of(request).open_srt(request.state.talk)  # a LiveError: the error handler
    return _back(request)


async def new_passphrase(request: Request) -> Response:
    talk = request.state.talk
    if manager_of(request).runtime(talk.id).part is not None:
        raise HTTPException(409, N_("Passfrasen kan ikke byttes mens mottaket er åpent."))
    await in_thread(request, broadcasts.ensure, talk)
    await in_thread(request, broadcasts.new_srt_passphrase, talk.id)
    return _back(request)


async def end(request: Request) -> Response:
    talk = request.state.talk
    ended = await manager_of(request).end(talk.id)
    if wants_json(request):
        return JSONResponse({"ok": True})
    back = RedirectResponse(f"/talks/{talk.slug}", status_code=303)
    return flash(request, back, "broadcast_ended") if ended else back


# ---------------------------------------------------------------- sending from the browser


async def ingest(websocket: WebSocket) -> None:
    """Protocol: the page sends {"type": "hello", "stream": ID}; the server answers
    {"type": "ready", "received": N} (the last chunk it has, -1 for none); then binary
    messages, each a 4-byte big-endian sequence number and a MediaRecorder chunk, each
    acknowledged with {"type": "ack", "received": N}; a new hello (a new recording) may
    come on the same connection; {"type": "end"} ends the broadcast. A refused hello
    closes with CLOSE_FINAL (the page stops); other refusals with CLOSE_REFUSED (the page
    connects again and resends)."""
    manager, talk = manager_of(websocket), websocket.state.talk
    await websocket.accept()
    stream = ""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                if not stream:
                    raise LiveError(BAD_MESSAGE, 400)
                received = await _chunk(manager, talk, stream, message["bytes"])
                await websocket.send_json({"type": "ack", "received": received})
                continue
            command = _command(message.get("text"))
            if command.get("type") == "hello":
                new = str(command.get("stream", ""))[:64]
                if not new:
                    raise LiveError(BAD_MESSAGE, 400)
                if stream and stream != new:  # a new recording on this connection
                    await manager.browser_gone(talk.id, stream)
                    stream = ""
                try:
                    received = await manager.browser_hello(talk, new)
                except LiveError as exc:
                    await _refuse(websocket, str(exc), CLOSE_FINAL)
                    return
                stream = new
                await websocket.send_json({"type": "ready", "received": received})
            elif command.get("type") == "end":
                stream = ""  # ended on purpose: no grace period
                await manager.end(talk.id)
                await websocket.send_json({"type": "ended"})
                await websocket.close()
                return
            else:
                raise LiveError(BAD_MESSAGE, 400)
    except WebSocketDisconnect:
        pass
    except LiveError as exc:
        await _refuse(websocket, str(exc), CLOSE_REFUSED)
    finally:
        if stream:  # shielded: the bookkeeping finishes even if this handler is cancelled
            await asyncio.shield(manager.browser_gone(talk.id, stream))


BAD_MESSAGE = N_("Nettleseren sendte en melding serveren ikke forstår. Last siden på nytt.")


def _command(text: str | None) -> dict:
    try:
        return parse.json_object(text or "")
    except parse.InputError:
        raise LiveError(BAD_MESSAGE, 400) from None


async def _chunk(manager: LiveManager, talk: Talk, stream: str, data: bytes) -> int:
    if len(data) < 5 or len(data) > MAX_CHUNK:
        raise LiveError(N_("En del av sendingen var ødelagt."), 400)
    seq = int.from_bytes(data[:4], "big")
    return await manager.browser_chunk(talk.id, stream, seq, data[4:])


async def _refuse(websocket: WebSocket, message: str, code: int) -> None:
    try:
        text = i18n.text_for(websocket, message)
        await websocket.send_json({"type": "error", "message": text})
        await websocket.close(code=code)
    except (WebSocketDisconnect, RuntimeError):
        pass


# ---------------------------------------------------------------- watching


def _viewer_key(request: Request) -> str:
    viewer = viewer_of(request)
    return f"u{viewer.user.id}" if viewer.user else f"a{request.state.anon}"


async def playlist(request: Request) -> Response:
    """The same text for every viewer: a public talk's may be kept a second by any cache
    (nginx serves it to everyone from one fetch, deploy/nginx/kunnskap.conf)."""
    talk, manager = request.state.talk, manager_of(request)
    if not manager.ingest:  # the process that receives the broadcast knows; this one asks
        row = await in_thread(request, broadcasts.get, talk.id)
        manager.note_state(talk.id, row.state if row else broadcasts.IDLE)
    text = manager.playlist(talk.id)
    headers = {"cache-control": delivery.live_playlist_cache(talk.visibility)}
    return Response(text, media_type="application/vnd.apple.mpegurl", headers=headers)


async def may_watch(request: Request) -> Response:
    """For nginx's auth_request (deploy/nginx/kunnskap.conf): may the one asking watch this
    talk live? Yes: 200, the talk's id in X-Ktl-Talk (it names the live folder nginx sends
    segments from). No: 403. nginx asks without cookies first (a guest's answer, the same
    for everyone), then with the viewer's session, and keeps the answers for seconds."""
    talk = await in_thread(request, talks.find, request.path_params["key"])
    headers = {"cache-control": "no-store"}
    if talk is None or not access.can_view(viewer_of(request), talk):
        # No body: nginx reads only the head of this answer, and keeps it only when
        # nothing else follows. A person has no link to this address.
        return Response(status_code=403, headers=headers)
    return Response(headers={**headers, "x-ktl-talk": str(talk.id)})


async def segment(request: Request) -> Response:
    part, name = request.path_params["part"], request.path_params["name"]
    if not PART.fullmatch(part) or not SEGMENT.fullmatch(name):
        raise HTTPException(404)
    talk = request.state.talk
    headers = {"cache-control": delivery.live_segment_cache(talk.visibility)}
    if settings_of(request).accel_redirect:  # nginx sends the file; the app only decides
        path = manager_of(request).runtime(talk.id).folder / part / name
        if not path.is_file():
            raise HTTPException(404, SEGMENT_GONE)
        return send_file(request, path, media_type="video/mp2t", headers=headers)
    data = await manager_of(request).segment(talk.id, part, name)
    if data is None:
        raise HTTPException(404, SEGMENT_GONE)
    return Response(data, media_type="video/mp2t", headers=headers)


SEGMENT_GONE = N_("Denne delen av sendingen finnes ikke lenger.")


async def events(request: Request) -> Response:
    """Server-sent events: `state` (live, interrupted, ended ... and the viewer count),
    `caption` (a line of live captions) and `question` (one was asked or marked answered:
    the organiser's page fetches the list). From whichever web process published them."""
    manager, talk = manager_of(request), request.state.talk
    runtime = manager.runtime(talk.id)
    row = await in_thread(request, broadcasts.get, talk.id)
    manager.note_state(talk.id, row.state if row else broadcasts.IDLE)
    waiting = talk.status == "planned" and row is not None and row.state != broadcasts.ENDED
    queue = manager.subscribe(talk.id)
    # The viewers' page asks with ?ser=1 (it watches); the organiser's page does not.
    watcher = request.query_params.get("ser") == "1"
    user = viewer_of(request).user
    viewer = (talk.id, _viewer_key(request), user and user.id)

    async def stream():
        if watcher and waiting:
            manager.join(*viewer)
        try:
            yield "retry: 5000\n\n"
            yield _sse(manager.state_event(runtime))
            if not waiting:  # nothing on air or coming: the page stops listening
                return
            for caption in runtime.captions[-3:]:
                yield _sse(caption)
            deadline = asyncio.get_running_loop().time() + EVENTS_MAX_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                try:
                    event = await asyncio.wait_for(queue.get(), EVENTS_KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event is None:
                    return
                yield _sse(event)
        finally:
            manager.unsubscribe(talk.id, queue)
            if watcher and waiting:
                manager.leave(*viewer)

    headers = {"cache-control": "no-cache, no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _sse(event: dict) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


# ---------------------------------------------------------------- questions


async def ask(request: Request) -> Response:
    """A question from the page's script (JSON) or from the plain form."""
    talk, user = request.state.talk, viewer_of(request).user
    sent_json = "json" in request.headers.get("content-type", "")
    # An InputError or LiveError goes to the error handler: JSON to the script, a page to a form
    if sent_json:
        text = parse.json_object(await request.body(), {"text": str}).get("text", "")
    else:
        text = (await request.form()).get("text", "")
    question = await in_thread(request, broadcasts.ask, talk.id, user.id, str(text))
    _questions_changed(request, talk)
    if sent_json or wants_json(request):
        return JSONResponse({"id": question.id, "text": question.text}, status_code=201)
    return RedirectResponse(f"/talks/{talk.slug}?spurt=1#sporsmal", status_code=303)


async def question_list(request: Request) -> Response:
    """The questions, each with `when`: the time asked as pages show it (Oslo time)."""
    rows = await in_thread(request, broadcasts.questions, request.state.talk.id)
    lang = await run_in_threadpool(language_of, request)
    listed = [{**r.to_json(), "when": format_date(r.created_at, lang=lang)} for r in rows]
    return JSONResponse(
        {"questions": listed},
        headers={"cache-control": "no-store"},
    )


async def answered(request: Request) -> Response:
    talk = request.state.talk
    form = await request.form()
    done = form.get("answered", "1") != "0"
    await in_thread(request, broadcasts.mark_answered, talk.id, request.path_params["qid"], done)
    _questions_changed(request, talk)
    return _back(request)


def _questions_changed(request: Request, talk: Talk) -> None:
    """The organiser's page (in any web process) hears it at once; only that a question
    came or changed, never its text: event streams also reach guests."""
    manager = manager_of(request)
    manager.publish(manager.runtime(talk.id), {"type": "question"})


routes = [
    Route("/talks/{key}/direkte", page, name="live_page"),
    Route("/talks/{key}/direkte/koder", open_encoder, methods=["POST"], name="live_encoder"),
    Route(
        "/talks/{key}/direkte/ny-passfrase",
        new_passphrase,
        methods=["POST"],
        name="live_passphrase",
    ),
    Route("/talks/{key}/direkte/avslutt", end, methods=["POST"], name="live_end"),
    WebSocketRoute("/talks/{key}/direkte/sender", ingest, name="live_ingest"),
    Route("/live/{key}/index.m3u8", playlist, name="live_playlist"),
    Route("/live/{key}/hendelser", events, name="live_events"),
    Route("/live/{key}/tilgang", may_watch, name="live_may_watch"),
    Route("/live/{key}/{part}/{name}", segment, name="live_segment"),
    Route("/talks/{key}/sporsmal", ask, methods=["POST"], name="live_ask"),
    Route("/talks/{key}/sporsmal.json", question_list, name="live_questions"),
    Route(
        "/talks/{key}/sporsmal/{qid:int}/besvart",
        answered,
        methods=["POST"],
        name="live_answered",
    ),
]
