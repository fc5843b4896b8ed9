"""server.web.guard.protect: every route keeps its path, name and methods once wrapped."""

from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient

from server.web.app import all_routes, create_app
from server.web.guard import protect


def test_protect_keeps_every_route_s_methods() -> None:
    originals = all_routes()
    protected = protect(all_routes())
    assert [r.name for r in protected] == [r.name for r in originals]
    for original, route in zip(originals, protected, strict=True):
        assert route.path == original.path
        if isinstance(original, Route):
            assert route.methods == original.methods, original.name
    methods = {r.name: r.methods for r in protected if isinstance(r, Route)}
    assert methods["tus_upload"] == {"HEAD", "PATCH", "DELETE", "POST", "OPTIONS"}
    assert "GET" not in methods["tus_upload"]
    assert {"GET", "HEAD"} <= methods["front"]


def test_get_pages_answer_head_through_the_app(settings) -> None:
    with TestClient(create_app(settings)) as client:
        get, head = client.get("/"), client.head("/")
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
