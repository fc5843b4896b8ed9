"""server/static/js/http.js: the one place scripts read the CSRF token (ktl.csrfToken) and
send JSON (ktl.postJSON); base.html loads it before every other script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.liveserver import serve

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "server" / "static" / "js"
READS_TOKEN = re.compile(r"csrf-token|csrf_token")


def test_only_http_js_reads_the_token():
    readers = [p.name for p in sorted(SCRIPTS.glob("*.js")) if READS_TOKEN.search(p.read_text())]
    assert readers == ["http.js"]


def test_base_loads_http_js_before_the_other_scripts():
    base = (ROOT / "templates" / "base.html").read_text()
    scripts = re.findall(r"path='js/([\w-]+\.js)'", base)
    assert scripts[0] == "http.js", scripts


@pytest.fixture
def site(settings, tmp_path: Path):
    with serve(settings.data_dir, tmp_path / "serve.log") as base:
        yield base


@pytest.mark.browser
def test_post_json_carries_the_token_and_asks_for_json(site, page):
    page.goto(site + "/")
    assert page.console_errors == [], "the page's scripts load without errors"
    token = page.evaluate("() => ktl.csrfToken()")
    assert token and token == page.get_attribute('meta[name="csrf-token"]', "content")
    answer = page.evaluate(
        """async () => {
            const response = await ktl.postJSON("/finnes-ikke", {a: 1});
            return [response.status, await response.json()];
        }"""
    )
    assert answer[0] == 404 and answer[1]["error"], "past the CSRF check: the page is missing"
    refused = page.evaluate(
        """async () => (await fetch("/finnes-ikke", {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "Accept": "application/json"},
            body: "{}"})).status"""
    )
    assert refused == 403, "without the token the same request is refused"
