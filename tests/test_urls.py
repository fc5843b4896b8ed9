"""One place for URLs: templates write `{{ url('route_name', param=…) }}` (a Jinja global
on Starlette's url_path_for), never a path of their own, so a route can move in one place."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.routing import NoMatchFound

from server.web.respond import build_templates

ROOT = Path(__file__).resolve().parents[1]
LITERAL_PATH = re.compile(r'(?:href|action|src|data-[a-z-]+)="/[^"]*"')
# A script builds these on (the question id is added in the browser).
ALLOWED = {'data-answered="/talks/{{ talk.slug }}/sporsmal/"'}


def test_no_template_writes_a_site_path():
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if (hits := set(LITERAL_PATH.findall(path.read_text())) - ALLOWED)
    }
    assert found == {}


def _render(app, source: str) -> str:
    env = build_templates().env
    return env.from_string(source).render(request=SimpleNamespace(app=app))


def test_url_is_the_routes_path(app):
    assert _render(app, "{{ url('talk', key='barnehager') }}?t=3") == "/talks/barnehager?t=3"
    assert _render(app, "{{ url('vod', talk_id=7, path='master.m3u8') }}") == (
        "/media/7/vod/master.m3u8"
    )
    assert _render(app, "{{ url('front') }}|{{ url('archive') }}") == "/|/arkiv"
    with pytest.raises(NoMatchFound):
        _render(app, "{{ url('no_such_route') }}")


def test_pages_link_through_the_routes(client):
    page = client.get("/").text
    assert 'href="/arkiv"' in page and 'action="/sok"' in page
