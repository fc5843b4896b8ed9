"""Pages of long lists: /arkiv and search (page and JSON) show a page at a time with links
before and after; a page number that is not a page gets a sentence, not a crash."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server.catalogue import talks
from server.core.paging import Page
from server.store import db as database
from server.store import write
from server.web.app import create_app

CARD = re.compile(r'<article class="talk-card">\s*<a href="/talks/([a-z0-9-]+)"')
LINK = re.compile(r'<a rel="(prev|next)" href="([^"]+)"')


def _ready_talks(settings, count: int, department: str = "Kultur", word: str = "Bibliotek"):
    """`count` public, ready talks, one a day in 2025; returns their slugs newest first."""
    slugs = []
    with database.session(settings) as db:
        for n in range(count):
            talk = talks.create(db, talks.TalkInput(
                title=f"{word} nummer {n}", department=department, visibility="public",
                starts_at=f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}T11:30",
            ))  # fmt: skip
            slugs.append(talk.slug)
        with write(db):
            db.execute("UPDATE talks SET status = 'ready'")
    return slugs[::-1]


@pytest.fixture
def guest(settings):
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def _page(client, url: str) -> tuple[list[str], dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    links = {rel: href.replace("&amp;", "&") for rel, href in LINK.findall(response.text)}
    return CARD.findall(response.text), links


def test_archive_shows_fifty_talks_a_page_with_links_both_ways(settings, guest):
    newest_first = _ready_talks(settings, 55)
    first, links = _page(guest, "/arkiv")
    assert first == newest_first[:50]
    assert links == {"next": "/arkiv?side=2"}
    second, links = _page(guest, links["next"])
    assert second == newest_first[50:]
    assert links == {"prev": "/arkiv"}
    assert "Side 2 av 2" in guest.get("/arkiv?side=2").text


def test_archive_pages_keep_the_filters(settings, guest):
    _ready_talks(settings, 52, department="Helse")
    _ready_talks(settings, 3, department="Kultur", word="Teater")
    shown, links = _page(guest, "/arkiv?department=Helse")
    assert len(shown) == 50 and links == {"next": "/arkiv?department=Helse&side=2"}
    shown, links = _page(guest, links["next"])
    assert len(shown) == 2 and links == {"prev": "/arkiv?department=Helse"}
    shown, links = _page(guest, "/arkiv?department=Kultur")
    assert len(shown) == 3 and links == {}, "one page: no links"
    assert 'class="pager"' not in guest.get("/arkiv?department=Kultur").text


@pytest.mark.parametrize("side", ["0", "-1", "to", "1.5", "2x", " "])
def test_a_page_number_that_is_not_a_number_from_one_gets_a_sentence(settings, guest, side):
    _ready_talks(settings, 3)
    response = guest.get("/arkiv", params={"side": side})
    if side.strip() == "":
        assert response.status_code == 200  # empty: the first page
        return
    assert response.status_code == 400
    assert "Sidetallet må være et helt tall fra 1 og oppover" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize("side", ["2", "3", "100000", "99999999999999999999999"])
def test_a_page_past_the_last_one_says_how_many_there_are(settings, guest, side):
    _ready_talks(settings, 3)
    response = guest.get(f"/arkiv?side={side}")
    assert response.status_code == 404
    assert "listen har bare 1 sider" in response.text


def test_an_empty_archive_has_its_first_page(settings, guest):
    assert guest.get("/arkiv").status_code == 200
    assert guest.get("/arkiv?side=1").status_code == 200
    assert guest.get("/arkiv?side=2").status_code == 404


def test_the_pager_in_english(settings, guest):
    _ready_talks(settings, 51)
    guest.cookies.set("ktl_lang", "en")
    page = guest.get("/arkiv").text
    assert "Next page" in page and "Page 1 of 2" in page
    assert "Previous page" in guest.get("/arkiv?side=2").text
    assert "the list has only 2 pages" in guest.get("/arkiv?side=3").text


def test_search_results_come_twenty_talks_a_page(settings, guest):
    newest_first = _ready_talks(settings, 25, word="Sykkelverksted")
    first = guest.get("/sok?q=sykkelverksted")
    assert first.status_code == 200
    assert first.text.count('class="result-group"') == 20
    assert '<a rel="next" href="/sok?q=sykkelverksted&amp;side=2">' in first.text
    second = guest.get("/sok?q=sykkelverksted&side=2")
    assert second.text.count('class="result-group"') == 5
    assert '<a rel="prev" href="/sok?q=sykkelverksted">' in second.text
    found = re.findall(r'<h2><a href="/talks/([a-z0-9-]+)">', first.text + second.text)
    assert sorted(found) == sorted(newest_first), "every talk once, over the two pages"
    assert guest.get("/sok?q=sykkelverksted&side=3").status_code == 404
    assert guest.get("/sok?q=sykkelverksted&side=0").status_code == 400


def test_search_json_keeps_its_shape_and_adds_paging(settings, guest):
    _ready_talks(settings, 25, word="Sykkelverksted")
    body = guest.get("/sok.json?q=sykkelverksted").json()
    assert {"query", "message", "hits", "talks", "similar"} <= set(body)
    assert (body["page"], body["pages"], body["page_size"], body["total"]) == (1, 2, 20, 25)
    assert len(body["talks"]) == 20 and body["previous"] is None
    assert body["next"] == "http://testserver/sok.json?q=sykkelverksted&side=2"
    second = guest.get(body["next"]).json()
    assert (second["page"], len(second["talks"])) == (2, 5)
    assert second["next"] is None
    assert second["previous"] == "http://testserver/sok.json?q=sykkelverksted"
    bad = guest.get("/sok.json?q=sykkelverksted&side=null")
    assert bad.status_code == 400 and "Sidetallet" in bad.json()["error"]
    past = guest.get("/sok.json?q=sykkelverksted&side=9")
    assert past.status_code == 404 and "bare 2 sider" in past.json()["error"]


def test_search_with_nothing_found_still_has_its_first_page(settings, guest):
    body = guest.get("/sok.json?q=ingenting").json()
    assert (body["page"], body["pages"], body["total"], body["talks"]) == (1, 1, 0, [])


def test_page_arithmetic():
    assert [Page(n, 50, 101).offset for n in (1, 2, 3)] == [0, 50, 100]
    assert Page(3, 50, 101).pages == 3 and Page(1, 50, 0).pages == 1
    assert (Page(1, 50, 100).previous, Page(1, 50, 100).next) == (None, 2)
    assert (Page(2, 50, 100).previous, Page(2, 50, 100).next) == (1, None)
    assert not Page(3, 50, 100).exists and not Page(0, 50, 100).exists
    assert Page(2, 20, 25).to_json() == {"page": 2, "pages": 2, "page_size": 20, "total": 25}
