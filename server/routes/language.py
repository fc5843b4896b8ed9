"""Choosing the interface language (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [Route("/sprak", _todo, methods=["POST"], name="set_language")]
