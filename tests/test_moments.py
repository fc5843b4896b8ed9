"""Links to a moment (?t=START&til=END), through the app as it ships (create_app, its
middleware and guard), and the time parser behind them."""

from __future__ import annotations

import html

import pytest
from starlette.testclient import TestClient

from server.catalogue import moments
from server.core.config import SettingsError, frame_origins, load_settings
from server.store import db as database
from server.store import write
from server.web.app import create_app
from tests.test_access_matrix import _talk
from tests.webclient import login, make_user


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90", 90.0), ("90.5", 90.5), ("1:30", 90.0), ("01:02:03", 3723.0), (" 0:05 ", 5.0)],
)
def test_times_are_read_as_seconds_or_a_clock(raw, seconds):
    assert moments.parse_time(raw) == seconds


@pytest.mark.parametrize("raw", ["", "x", "-5", "1:75", "1:60:00", "nan", "inf", "1e9", "99999999"])
def test_unreadable_times_are_none(raw):
    assert moments.parse_time(raw) is None


def test_a_range_needs_an_end_after_its_start():
    assert moments.parse("1:30", "2:00") == moments.Moment(90.0, 120.0)
    assert moments.parse("120", "90") == moments.Moment(120.0, None)
    assert moments.parse("tull", "30") == moments.Moment(0.0, 30.0)
    assert moments.link("/talks/a", moments.Moment(90.0, 120.5)) == "/talks/a?t=90&til=120.5"
    assert moments.link("/talks/a", moments.Moment()) == "/talks/a"


def _lasting(db, talk, seconds: float) -> None:
    with write(db):
        db.execute("UPDATE recordings SET duration = ? WHERE talk_id = ?", [seconds, talk.id])


@pytest.fixture
def site(settings):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        public = _talk(db, settings, organiser, "public", "Del et øyeblikk")
        internal = _talk(db, settings, organiser, "internal", "Internt foredrag")
        _lasting(db, public, 600.0)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield {"client": client, "public": public, "internal": internal}


def test_the_talk_page_honours_a_range_link_and_offers_it_to_share(site):
    page = site["client"].get(f"/talks/{site['public'].slug}?t=1:30&til=120")
    assert page.status_code == 200
    assert 'data-start="90.0" data-end="120.0"' in page.text
    assert "http://testserver/talks/del-et-oyeblikk?t=90&amp;til=120" in page.text
    assert 'id="share-times"' in page.text and "js/share.js" in page.text


def test_a_bad_or_backwards_range_plays_from_the_start_without_an_end(site):
    page = site["client"].get(f"/talks/{site['public'].slug}?t=<script>&til=-3")
    assert page.status_code == 200
    assert 'data-start="0.0" data-end=""' in page.text
    assert "<script>&" not in page.text


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [("t=600", "0.0", ""), ("t=9:59&til=99:00", "599.0", ""), ("t=20:00&til=21:00", "0.0", ""),
     ("t=1:2:3:4", "0.0", ""), ("t=１２&til=２０", "12.0", "20.0"), ("t=1e9", "0.0", ""),
     ("t=-5&til=10", "0.0", "10.0")],
)  # fmt: skip
def test_a_moment_outside_the_talk_plays_from_the_start_or_to_the_end(site, query, start, end):
    """The talk lasts 600 s: a start past its end is the start, an end past it the end."""
    for path in (f"/talks/{site['public'].slug}", f"/talks/{site['public'].slug}/embed"):
        page = site["client"].get(f"{path}?{query}")
        assert page.status_code == 200
        assert f'data-start="{start}" data-end="{end}"' in page.text, path


def test_search_hits_carry_a_link_to_copy(site):
    page = site["client"].get("/sok?q=hei")
    hits = html.unescape(page.text)
    assert 'data-share-href="/talks/del-et-oyeblikk?t=0"' in hits
    assert "/talks/internt-foredrag" not in hits  # a guest finds no internal talk


# ---------------------------------------------------------------- the embeddable player


def test_the_embed_page_may_be_framed_only_by_the_configured_origins(settings):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "public", "Innebygd")
        _lasting(db, talk, 60.0)
    framed = settings.replace(frame_origins="https://intranett.kommune.no, https://*.kommune.no")
    with TestClient(create_app(framed), follow_redirects=False) as client:
        embed = client.get(f"/talks/{talk.slug}/embed?t=2&til=4")
        assert embed.status_code == 200
        policy = embed.headers["content-security-policy"]
        assert "frame-ancestors 'self' https://intranett.kommune.no https://*.kommune.no" in policy
        assert "x-frame-options" not in embed.headers
        assert 'data-start="2.0" data-end="4.0"' in embed.text
        assert 'class="site-header"' not in embed.text  # just the player
        assert "Kode for å bygge inn spilleren" in client.get(f"/talks/{talk.slug}").text
        for other in (f"/talks/{talk.slug}", "/", "/sok?q=hei", "/logg-inn"):
            response = client.get(other)
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], other
            assert response.headers["x-frame-options"] == "DENY", other


def test_without_frame_origins_only_this_site_may_frame_the_player(site):
    embed = site["client"].get(f"/talks/{site['public'].slug}/embed")
    assert "frame-ancestors 'self';" in embed.headers["content-security-policy"] + ";"
    assert "Kode for å bygge inn" not in site["client"].get(f"/talks/{site['public'].slug}").text


def test_the_embed_page_keeps_the_talks_access_rule(site, settings):
    client = site["client"]
    assert client.get(f"/talks/{site['internal'].slug}/embed").status_code in (303, 404)
    assert client.get("/talks/finnes-ikke/embed").status_code == 404
    make_user(settings, "viewer")
    login(client, "viewer@kommune.no")
    assert client.get(f"/talks/{site['internal'].slug}/embed").status_code == 200


def test_a_guest_sees_why_in_the_frame_when_the_talk_is_internal(settings):
    """The error of the embed page may be framed like the player (the sign-in page may not,
    so its link opens a new window); every other error page still refuses frames."""
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = _talk(db, settings, organiser, "internal", "Bare for ansatte")
    framed = settings.replace(frame_origins="https://intranett.kommune.no")
    with TestClient(create_app(framed), follow_redirects=False) as guest:
        for path in (f"/talks/{talk.slug}/embed", "/talks/finnes-ikke/embed"):
            refused = guest.get(path, headers={"Accept": "text/html"})
            assert refused.status_code == 404
            policy = refused.headers["content-security-policy"]
            assert "frame-ancestors 'self' https://intranett.kommune.no" in policy
            assert "x-frame-options" not in refused.headers
            assert "må du logge inn for å se det" in refused.text
            assert 'class="site-header"' not in refused.text
        login_link = html.unescape(refused.text)
        assert 'href="/logg-inn?neste=/talks/finnes-ikke" target="_blank"' in login_link
        page = guest.get(f"/talks/{talk.slug}", headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "value",
    ["intranett.kommune.no", "https://a.no/sti", "https://a.no;", "*", "null", "'self'",
     "javascript:alert(1)", "data:", "https://*", "https://*.no", "https://*.com",
     "https://*.*.no", "https://..", "https://-", "https://a-.no", "https://a.no:99999",
     "https://a.no:0", "https://a.no https://b.no"],
)  # fmt: skip
def test_frame_origins_must_be_origins(value):
    with pytest.raises(SettingsError, match="KTL_FRAME_ORIGINS"):
        load_settings(env={"KTL_FRAME_ORIGINS": value})


def test_frame_origins_are_read_leniently_where_it_is_safe():
    env = {"KTL_FRAME_ORIGINS": " HTTPS://Intranett.Kommune.no/ , https://*.kommune.no,"
           "http://localhost:8080,"}  # fmt: skip
    assert frame_origins(load_settings(env=env)) == [
        "https://intranett.kommune.no", "https://*.kommune.no", "http://localhost:8080",
    ]  # fmt: skip


def test_every_chapter_has_a_link_that_plays_just_that_chapter(site, settings):
    from server.catalogue import chapters

    talk = site["public"]
    with database.session(settings) as db:
        chapters.save(db, talk.id, [chapters.Chapter(0.0, "Innledning"),
                                    chapters.Chapter(1.4, "Poenget")])  # fmt: skip
    page = html.unescape(site["client"].get(f"/talks/{talk.slug}").text)
    assert 'data-share-href="/talks/del-et-oyeblikk?t=0&til=2"' in page
    assert 'data-share-href="/talks/del-et-oyeblikk?t=1"' in page  # the last: to the end
