"""Test helpers for HTTP tests: users of each role, signing in, the CSRF token of a page."""

from __future__ import annotations

import re

from starlette.routing import Match
from starlette.testclient import TestClient

from server.people import accounts
from server.store import db as database

PASSWORD = "riktig-hest-batteri-stift"
_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


def make_user(settings, role: str, email: str | None = None, **fields) -> accounts.User:
    with database.session(settings) as db:
        return accounts.create_user(
            db, email or f"{role}@kommune.no", fields.pop("name", role.title()), role,
            password=PASSWORD, **fields,
        )  # fmt: skip


def csrf(client: TestClient) -> str:
    match = _META.search(client.get("/logg-inn").text)
    assert match, "every page carries the CSRF token in a meta tag"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD):
    return client.post(
        "/logg-inn",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
    )


def post(client: TestClient, url: str, data: dict | None = None, **kwargs):
    """A form POST with the page's CSRF token, as a browser would send it."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf(client)}, **kwargs)


def route_of(app, method: str, path: str) -> tuple[str | None, dict]:
    """The name and path parameters of the app's route that answers METHOD PATH."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route in app.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route.name, child.get("path_params", {})
    return None, {}
