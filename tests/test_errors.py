"""One error base class (server.core.errors.UserError) with one exception handler
(server.web.app.http_error): a domain error that a view does not show in its own form
becomes the error page, or `{"error": …}` for JSON, with the error's status and its
sentence in the reader's language; and every error class with a status derives from it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import server
from server.catalogue import talks
from server.core.errors import UserError
from server.learning.quizzes import NO_QUESTION
from server.store import db as database
from tests.webclient import csrf

ENGLISH = "Could not find the question. Reload the page and try again."


def _classes_with_a_status() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(server.__path__, "server."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            mine = issubclass(value, Exception) and value.__module__ == info.name
            if mine and ("status" in vars(value) or "status" in inspect.getsource(value)):
                found.append(value)
    return found


def test_every_error_with_a_status_is_a_user_error():
    classes = _classes_with_a_status()
    assert len(classes) >= 15, classes
    assert [c.__qualname__ for c in classes if not issubclass(c, UserError)] == []


def test_a_user_error_keeps_its_message_and_status():
    class Full(UserError):
        status = 409

    assert (Full("Salen er full.").status, Full("x", 422).status, UserError().status) == (
        409, 422, 400,
    )  # fmt: skip
    assert Full("Salen er full.").message == str(Full("Salen er full.")) == "Salen er full."


@pytest.fixture
def organiser_client(settings, signed_in):
    client = signed_in("organiser")
    with database.session(settings) as db:
        data = talks.TalkInput(title="Feil", visibility="public")
        client.talk = talks.create(db, data, client.user)
    return client


def _move_a_missing_question(client, **headers):
    url = f"/talks/{client.talk.slug}/quiz/rekkefolge"
    form = {"question_id": "999", "direction": "up", "csrf_token": csrf(client)}
    return client.post(url, data=form, headers=headers)


def test_an_uncaught_domain_error_is_the_error_page_with_its_status(organiser_client):
    response = _move_a_missing_question(organiser_client)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert NO_QUESTION in response.text and "Traceback" not in response.text


def test_json_requests_get_the_error_as_json_in_their_language(organiser_client):
    response = _move_a_missing_question(
        organiser_client, accept="application/json", **{"accept-language": "en"}
    )
    assert response.status_code == 404
    assert response.json() == {"error": ENGLISH}
