"""Quizzes: authoring, suggestions, taking, timed questions (being written)."""

from starlette.exceptions import HTTPException
from starlette.routing import Route


def _todo(request):
    raise HTTPException(404, "Ikke tilgjengelig ennå.")


routes = [
    Route("/talks/{key}/quiz/rediger", _todo, name="quiz_edit"),
    Route("/talks/{key}/quiz/rediger", _todo, methods=["POST"], name="quiz_update"),
    Route("/talks/{key}/quiz/sporsmal", _todo, methods=["POST"], name="quiz_question_save"),
    Route(
        "/talks/{key}/quiz/sporsmal/{question_id:int}/slett",
        _todo,
        methods=["POST"],
        name="quiz_question_delete",
    ),
    Route("/talks/{key}/quiz/rekkefolge", _todo, methods=["POST"], name="quiz_reorder"),
    Route("/talks/{key}/quiz/forslag", _todo, methods=["POST"], name="quiz_suggest"),
    Route("/talks/{key}/quiz/forhandsvisning", _todo, name="quiz_preview"),
    Route("/talks/{key}/quiz", _todo, name="quiz"),
    Route("/talks/{key}/quiz", _todo, methods=["POST"], name="quiz_submit"),
    Route("/talks/{key}/quiz.json", _todo, name="quiz_timed_json"),
    Route("/talks/{key}/quiz/svar", _todo, methods=["POST"], name="quiz_timed_answer"),
]
