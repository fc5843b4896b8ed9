"""HLS playlists, segments and posters of processed talks, and `send_file`: a media file
sent by the app, or by nginx with X-Accel-Redirect (KTL_ACCEL_REDIRECT, server.web.delivery)."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from server.core.i18n import N_
from server.web import delivery
from server.web.respond import settings_of

TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


MISSING_FILE = N_(
    "Filen finnes ikke lenger på serveren. Prøv igjen senere, eller si fra til arrangøren."
)


def send_file(request: Request, path: Path, **options) -> Response:
    """A FileResponse (options as FileResponse takes them); with KTL_ACCEL_REDIRECT, the same
    headers and no body: nginx sends the file from its internal location. A file that is gone
    (removed by hand, a half-restored folder) is a 404 with a sentence, never a 500."""
    if not path.is_file():
        raise HTTPException(404, MISSING_FILE)
    response = FileResponse(path, **options)
    uri = delivery.accel_uri(settings_of(request), path)
    if uri is None:
        return response
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return Response(headers={**headers, "x-accel-redirect": uri})


def _safe_file(root: Path, relative: str) -> Path:
    candidate = (root / relative).resolve()
    if root.resolve() not in candidate.parents or not candidate.is_file():
        raise HTTPException(404)
    if candidate.suffix not in TYPES or any(p.startswith(".") for p in Path(relative).parts):
        raise HTTPException(404)
    return candidate


def vod_file(request: Request) -> Response:
    talk_id = request.path_params["talk_id"]
    root = settings_of(request).paths.vod(talk_id)
    path = _safe_file(root, request.path_params["path"])
    scope = "public" if request.state.talk.visibility == "public" else "private"
    cache = "no-cache" if path.suffix == ".m3u8" else f"{scope}, max-age=3600"
    headers = {"Cache-Control": cache}
    return send_file(request, path, media_type=TYPES[path.suffix], headers=headers)


routes = [Route("/media/{talk_id:int}/vod/{path:path}", vod_file, name="vod")]
