"""Vocabulary of names and terms for Whisper (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [
    Route("/admin/ordliste", _todo, name="vocabulary"),
    Route("/admin/ordliste", _todo, methods=["POST"], name="vocabulary_update"),
    Route("/talks/{key}/ordliste", _todo, methods=["POST"], name="talk_vocabulary_update"),
]
