"""Programme, calendar feeds, sign-up and attendance (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [
    Route("/program", _todo, name="programme"),
    Route("/program.ics", _todo, name="programme_ics"),
    Route("/program/{department}.ics", _todo, name="programme_department_ics"),
    Route("/talks/{key}/pamelding", _todo, methods=["POST"], name="signup"),
    Route("/talks/{key}/oppmote", _todo, name="attendance"),
    Route("/talks/{key}/oppmote", _todo, methods=["POST"], name="attendance_register"),
    Route("/talks/{key}/oppmote/qr.svg", _todo, name="attendance_qr"),
    Route("/talks/{key}/innsjekk/{code}", _todo, name="checkin"),
    Route("/talks/{key}/innsjekk/{code}", _todo, methods=["POST"], name="checkin_submit"),
]
