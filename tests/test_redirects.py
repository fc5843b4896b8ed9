"""The one safe-redirect guard (server.web.redirects.safe_target) and the forms that use it:
sign-in, the OIDC start, the language switch and the vocabulary form send the browser only
to a relative path on this site, whatever `neste` a crafted link carries."""

from __future__ import annotations

import pytest

from server.web.redirects import safe_target
from tests.webclient import PASSWORD, csrf, make_user

HOSTILE = [
    "https://evil.example/", "http:/evil.example", "//evil.example/x", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "/x\\y", "javascript:alert(1)", "evil.example",
    "/\t/evil.example", "/x\r\nSet-Cookie: a=b", "/x\x00", "/x\x7f", "", " ", None, 42,
    "/" + "a" * 2001,
]  # fmt: skip
LOCAL = ["/", "/arkiv?year=2026", "/talks/x#pamelding", "/sok?q=%2F%2Fevil", " /arkiv "]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_give_the_fallback(target):
    assert safe_target(target) == "/"
    assert safe_target(target, "/talks/x") == "/talks/x"


@pytest.mark.parametrize("target", LOCAL)
def test_paths_on_this_site_pass(target):
    assert safe_target(target) == target.strip()


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_leaves_the_site(settings, client, target):
    user = make_user(settings, "viewer")
    form = {"email": user.email, "password": PASSWORD, "neste": target}
    form["csrf_token"] = csrf(client)
    response = client.post("/logg-inn", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_sign_in_goes_back_to_a_local_path(settings, client):
    user = make_user(settings, "viewer")
    form = {"email": user.email, "password": PASSWORD, "neste": "/arkiv"}
    form["csrf_token"] = csrf(client)
    response = client.post("/logg-inn", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/arkiv"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/x"])
def test_the_sign_in_page_does_not_carry_a_hostile_target(client, target):
    page = client.get("/logg-inn", params={"neste": target}).text
    assert f'value="{target}"' not in page  # (the language switch's own `neste` is encoded)
    assert 'name="neste" value="/">' in page


@pytest.mark.parametrize("target", ["//evil.example/", "javascript:alert(1)"])
def test_the_language_switch_stays_on_the_site(client, target):
    form = {"lang": "en", "neste": target, "csrf_token": csrf(client)}
    response = client.post("/sprak", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
