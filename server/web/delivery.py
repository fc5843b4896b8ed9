"""Who sends a media file's bytes: the app itself, or nginx once the app has said yes.

With KTL_ACCEL_REDIRECT set (for example /_media/, an `internal` location of nginx whose
alias is the media folder), a media answer is an empty response with an X-Accel-Redirect
header naming the file under that location: the app has checked who may have it, nginx
sends the bytes (sendfile, ranges, no Python in the path). Measured against auth_request
and signed URLs in the README ("Production"). Empty (the default): the app sends them.

Live broadcasts go further (deploy/nginx/kunnskap.conf): nginx asks the app whether a
viewer may watch a talk (/live/<talk>/tilgang) and keeps the answer, one second for guests
(one answer for everyone) and ten for each signed-in session; then it sends the segments
itself and the playlist from a one-second cache (`live_playlist_cache`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from server.core.config import Settings

LIVE_SEGMENT_SECONDS = 300  # a live segment never changes once it is in the playlist
LIVE_PLAYLIST_SECONDS = 1  # a live playlist changes with every segment (1-2 s)


def accel_uri(settings: Settings, path: Path) -> str | None:
    """The internal URI nginx sends `path` from, or None when the app sends it itself
    (no KTL_ACCEL_REDIRECT, or a file outside the media folder)."""
    if not settings.accel_redirect:
        return None
    try:
        relative = path.resolve().relative_to(settings.media_dir.resolve())
    except ValueError:
        return None
    return settings.accel_redirect + quote(relative.as_posix())


def live_segment_cache(visibility: str) -> str:
    """Public talks' live segments may be kept by any cache for their lifetime; the others
    only by the viewer's own browser."""
    scope = "public" if visibility == "public" else "private"
    return f"{scope}, max-age={LIVE_SEGMENT_SECONDS}, immutable"


def live_playlist_cache(visibility: str) -> str:
    """A public talk's live playlist is the same for everyone: any cache may keep it for
    about a segment; the others are fetched afresh by each viewer."""
    if visibility == "public":
        return f"public, max-age={LIVE_PLAYLIST_SECONDS}"
    return "no-cache, no-store"
