"""tus 1.0.0 resumable uploads over HTTP: thin handlers around server.pipeline.tus.

Extensions: creation, termination, expiration. POST /uploads/ creates, HEAD/PATCH/DELETE
/uploads/{upload_id} query, append and terminate; OPTIONS describes the server.
X-HTTP-Method-Override on a POST is honoured for clients behind restrictive proxies.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate

import sqlite_utils
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from server.core import i18n, parse
from server.core.config import Settings
from server.pipeline import tus

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
MAX_METADATA = 4096
DRAIN_LIMIT = 64 * 1024  # a refused PATCH body up to this size is read before closing
RESUMABLE = {"Tus-Resumable": TUS_VERSION}

# Messages are msgids (values filled in), translated by _error() for the request.
WRONG_VERSION = i18n.N_(
    "Opplastingen bruker en versjon av tus-protokollen som serveren ikke støtter "
    "(serveren støtter %(version)s). Last inn siden på nytt og prøv igjen."
) % {"version": TUS_VERSION}
WRONG_TYPE = i18n.N_(
    "Opplastingen sendte data med feil innholdstype (må være %(type)s). "
    "Last inn siden på nytt og prøv igjen."
) % {"type": OFFSET_TYPE}
BAD_OFFSET = i18n.N_(
    "Opplastingen mangler en gyldig posisjon (Upload-Offset). Last inn siden på nytt og prøv igjen."
)
BAD_METADATA = i18n.N_(
    "Opplastingen har ugyldige metadata (Upload-Metadata). Last inn siden på nytt og prøv igjen."
)
NOT_ALLOWED = i18n.N_("Denne handlingen er ikke tillatt for opplastinger.")

Handler = Callable[[Request, Settings, sqlite_utils.Database], Awaitable[Response]]


def http_date(timestamp: float) -> str:
    """RFC 7231 IMF-fixdate, e.g. 'Sun, 06 Nov 1994 08:49:37 GMT'."""
    return formatdate(timestamp, usegmt=True)


def parse_metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated 'key base64value' pairs; the value may be absent."""
    if len(header) > MAX_METADATA:
        raise tus.UploadError(400, BAD_METADATA)
    metadata: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = pair.partition(" ")
        if key in metadata or " " in encoded:
            raise tus.UploadError(400, BAD_METADATA)
        try:
            metadata[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise tus.UploadError(400, BAD_METADATA) from None
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


def _int_header(request: Request, name: str) -> int | None:
    return parse.integer(request.headers.get(name, ""), 0, parse.MAX_ID)


OWNER_KEY = "ktl_owner"


def _user_id(request: Request) -> str | None:
    """The signed-in uploader (set by the auth middleware); uploads are bound to their owner."""
    viewer = getattr(request.state, "viewer", None)
    return str(viewer.user.id) if viewer is not None and viewer.user is not None else None


def _owned(request: Request, upload: tus.Upload) -> tus.Upload:
    owner = upload.metadata.get(OWNER_KEY)
    if owner is not None and owner != _user_id(request):
        raise tus.UploadError(404, tus.GONE)
    return upload


def _error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A refusal with its sentence as the body (tus-js-client shows it), in the page's language."""
    text = i18n.text_for(request, message)
    return PlainTextResponse(text, status_code=status, headers={**RESUMABLE, **(headers or {})})


@contextlib.asynccontextmanager
async def _database(request: Request) -> AsyncIterator[sqlite_utils.Database]:
    """A connection of the app's store for the request (borrowing one is a queue get)."""
    with request.app.state.store.read() as conn:
        yield conn


async def _create(request: Request, settings: Settings, conn: sqlite_utils.Database) -> Response:
    length = _int_header(request, "upload-length")
    if length is None:
        raise tus.UploadError(400, tus.BAD_LENGTH)
    metadata = parse_metadata(request.headers.get("upload-metadata", ""))
    metadata.pop(OWNER_KEY, None)
    if (owner := _user_id(request)) is not None:
        metadata[OWNER_KEY] = owner
    upload = await run_in_threadpool(tus.create, conn, settings, length, metadata)
    headers = {
        **RESUMABLE,
        "Location": str(request.url_for("tus_upload", upload_id=upload.id)),
        "Upload-Expires": http_date(upload.expires_at),
    }
    return Response(status_code=201, headers=headers)


async def _head(request: Request, settings: Settings, conn: sqlite_utils.Database) -> Response:
    upload = await run_in_threadpool(tus.require, conn, request.path_params["upload_id"])
    _owned(request, upload)
    headers = {
        **RESUMABLE,
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
    }
    shown = {k: v for k, v in upload.metadata.items() if k != OWNER_KEY}
    if shown:
        headers["Upload-Metadata"] = encode_metadata(shown)
    if not upload.complete:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return Response(status_code=200, headers=headers)


async def _patch(request: Request, settings: Settings, conn: sqlite_utils.Database) -> Response:
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != OFFSET_TYPE:
        return _error(request, 415, WRONG_TYPE)
    offset = _int_header(request, "upload-offset")
    if offset is None:
        return _error(request, 400, BAD_OFFSET)
    upload = _owned(
        request, await run_in_threadpool(tus.require, conn, request.path_params["upload_id"])
    )
    declared = _int_header(request, "content-length")
    if declared is not None and offset + declared > upload.length:
        raise tus.UploadError(413, tus.TOO_LONG)
    try:
        new_offset = await tus.append(conn, settings, upload, offset, request.stream())
    except ClientDisconnect:
        return Response(status_code=400)  # nobody listens; what arrived is kept
    upload = await run_in_threadpool(tus.require, conn, upload.id)
    headers = {**RESUMABLE, "Upload-Offset": str(new_offset)}
    if not upload.complete:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return Response(status_code=204, headers=headers)


async def _delete(request: Request, settings: Settings, conn: sqlite_utils.Database) -> Response:
    _owned(request, await run_in_threadpool(tus.require, conn, request.path_params["upload_id"]))
    await run_in_threadpool(tus.terminate, conn, settings, request.path_params["upload_id"])
    return Response(status_code=204, headers=RESUMABLE)


def _options(settings: Settings) -> Response:
    headers = {
        **RESUMABLE,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.max_upload_bytes),
    }
    return Response(status_code=204, headers=headers)


def _method(request: Request) -> str:
    override = request.headers.get("x-http-method-override", "").strip().upper()
    return override if request.method == "POST" and override else request.method


async def _dispatch(request: Request, handlers: dict[str, Handler]) -> Response:
    settings: Settings = request.app.state.settings
    method = _method(request)
    if method == "OPTIONS":
        return _options(settings)
    handler = handlers.get(method)
    if handler is None:
        allow = ", ".join(["OPTIONS", *handlers])
        return _error(request, 405, NOT_ALLOWED, {"Allow": allow})
    if request.headers.get("tus-resumable") != TUS_VERSION:
        return _error(request, 412, WRONG_VERSION, {"Tus-Version": TUS_VERSION})
    try:
        async with _database(request) as conn:
            return await handler(request, settings, conn)
    except tus.UploadError as exc:
        return _error(request, exc.status, exc.message)


async def collection(request: Request) -> Response:
    return await _dispatch(request, {"POST": _create})


async def resource(request: Request) -> Response:
    response = await _dispatch(request, {"HEAD": _head, "PATCH": _patch, "DELETE": _delete})
    if _method(request) == "PATCH" and response.status_code >= 400:
        # A refused PATCH body is not read on: close the connection so that the client stops
        # sending it. Chromium resends a chunk after a dropped keep-alive connection and,
        # kept open, would push all of it (up to chunkSize) before it reads the 409.
        response.headers["Connection"] = "close"
        await _drain_small_body(request)
    return response


async def _drain_small_body(request: Request) -> None:
    """Read a small refused body to its end before closing, so that the client reads the answer.

    Closing a socket with unread bytes in it makes the kernel send a reset, which can reach the
    client before the refusal does; a large body is not worth reading and is cut off instead.
    """
    declared = _int_header(request, "content-length")
    if declared is None or declared > DRAIN_LIMIT:
        return
    try:
        async for _chunk in request.stream():
            pass
    except (ClientDisconnect, RuntimeError):  # RuntimeError: the handler read some of it already
        return


routes: list[Route] = [
    Route("/uploads/", collection, methods=["POST", "OPTIONS"], name="tus_collection"),
    Route(
        "/uploads/{upload_id}",
        resource,
        methods=["HEAD", "PATCH", "DELETE", "POST", "OPTIONS"],
        name="tus_upload",
    ),
]
