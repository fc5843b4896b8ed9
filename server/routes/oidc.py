"""OpenID Connect sign-in (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _not_configured(request):
    raise HTTPException(404, "Innlogging med organisasjonskonto er ikke satt opp.")


routes = [
    Route("/logg-inn/oidc", _not_configured, name="oidc_start"),
    Route("/logg-inn/oidc/callback", _not_configured, name="oidc_callback"),
]
