"""Watch progress, "Mine moduler", results and reports. Thin handlers over
server.learning.progress and server.learning.reports; the guard has put the talk on
request.state.talk."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.core import i18n, parse
from server.learning import notes, progress, reports
from server.learning.progress import ProgressError
from server.web.respond import in_thread, open_db, render, viewer_of

MAX_BODY = 64 * 1024
NUMBER = (int, float, type(None))  # the player sends null for an unknown duration (NaN)
REPORT = {"intervals": list, "position": NUMBER, "duration": NUMBER}


async def report(request: Request) -> Response:
    talk, user = request.state.talk, viewer_of(request).user
    try:
        payload = parse.json_object(await request.body(), REPORT, limit=MAX_BODY)
        result = await in_thread(request, progress.record, user.id, talk.id, payload)
    except (parse.InputError, ProgressError) as exc:
        return JSONResponse({"error": i18n.text_for(request, str(exc))}, status_code=exc.status)
    return JSONResponse(result.to_json(), headers={"cache-control": "no-store"})


def my_modules(request: Request) -> Response:
    with open_db(request) as db:
        modules = progress.my_modules(db, viewer_of(request))
        my_notes = notes.mine(db, viewer_of(request))
    return render(request, "progress/mine.html", {"modules": modules, "my_notes": my_notes})


def talk_results(request: Request) -> Response:
    talk = request.state.talk
    with open_db(request) as db:
        results = reports.talk_results(db, talk.id)
    return render(request, "progress/results.html", {"talk": talk, "results": results})


def reports_page(request: Request) -> Response:
    with open_db(request) as db:
        matrix = reports.matrix(db)
    links = {d: quote(reports.department_key(d), safe="") for d, _ in matrix.departments}
    return render(request, "progress/reports.html", {"matrix": matrix, "links": links})


def reports_department(request: Request) -> Response:
    department = reports.department_of_key(request.path_params["department"])
    with open_db(request) as db:
        rows = reports.person_rows(db, department)
    context = {"department": department, "rows": rows}
    return render(request, "progress/department.html", context)


def reports_csv(request: Request) -> Response:
    """`?skilletegn=semikolon` gives the ";"-separated file Excel in a Norwegian locale opens
    into columns; the default is comma separated."""
    choice = request.query_params.get("skilletegn", "komma")
    delimiter = reports.SEPARATORS.get(choice, ",")
    with open_db(request) as db:
        text = reports.csv_text(db, delimiter, i18n.language_of(request))
    name = "fullforing-semikolon.csv" if delimiter == ";" else "fullforing.csv"
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


routes = [
    Route("/talks/{key}/fremdrift", report, methods=["POST"], name="progress_report"),
    Route("/mine-moduler", my_modules, name="my_modules"),
    Route("/talks/{key}/resultater", talk_results, name="talk_results"),
    Route("/rapporter", reports_page, name="reports"),
    Route("/rapporter/avdeling/{department}", reports_department, name="reports_department"),
    Route("/rapporter.csv", reports_csv, name="reports_csv"),
]
