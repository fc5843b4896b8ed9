"""HLS playlists, segments and posters of processed talks."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from server import talks
from server.web import settings_of

TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


def _safe_file(root: Path, relative: str) -> Path:
    candidate = (root / relative).resolve()
    if root.resolve() not in candidate.parents or not candidate.is_file():
        raise HTTPException(404)
    if candidate.suffix not in TYPES or any(p.startswith(".") for p in Path(relative).parts):
        raise HTTPException(404)
    return candidate


def vod_file(request: Request) -> Response:
    talk_id = request.path_params["talk_id"]
    root = talks.media_dir(settings_of(request), talk_id) / "vod"
    path = _safe_file(root, request.path_params["path"])
    cache = "no-cache" if path.suffix == ".m3u8" else "public, max-age=3600"
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": cache})


routes = [Route("/media/{talk_id:int}/vod/{path:path}", vod_file, name="vod")]
