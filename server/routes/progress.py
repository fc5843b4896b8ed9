"""Watch progress, "Mine moduler", results and reports (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [
    Route("/talks/{key}/fremdrift", _todo, methods=["POST"], name="progress_report"),
    Route("/mine-moduler", _todo, name="my_modules"),
    Route("/talks/{key}/resultater", _todo, name="talk_results"),
    Route("/rapporter", _todo, name="reports"),
    Route("/rapporter/avdeling/{department}", _todo, name="reports_department"),
    Route("/rapporter.csv", _todo, name="reports_csv"),
]
