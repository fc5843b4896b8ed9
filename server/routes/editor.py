"""Transcript editor, versions and review state (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [
    Route("/talks/{key}/transkripsjon", _todo, name="transcript_editor"),
    Route("/talks/{key}/transkripsjon", _todo, methods=["POST"], name="transcript_save"),
    Route("/talks/{key}/transkripsjon/versjoner", _todo, name="transcript_versions"),
    Route(
        "/talks/{key}/transkripsjon/versjoner/{version:int}",
        _todo,
        methods=["POST"],
        name="transcript_restore",
    ),
    Route(
        "/talks/{key}/transkripsjon/kontrollert", _todo, methods=["POST"], name="transcript_review"
    ),
    Route(
        "/talks/{key}/transkripsjon/ny-modell",
        _todo,
        methods=["POST"],
        name="transcript_retranscribe",
    ),
    Route("/talks/{key}/transkripsjon/godta", _todo, methods=["POST"], name="transcript_accept"),
]
