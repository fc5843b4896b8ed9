"""The page checks themselves can fail: a page made to break every rule, served on the
site's own address (Playwright answers the request), must be reported for each rule."""

from __future__ import annotations

import pytest

from tests.journeys.journey import COMBOS, WINTER, utc_texts

pytestmark = [pytest.mark.browser]

BROKEN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checks</title></head>
<body><header class="site-header"><a class="brand" href="/">Brand</a>
<p class="account">Account</p></header><main>
<h1>Checks</h1>
<p>Welcome, du er logget inn.</p>
<p>Asked {utc}.</p>
<a href="/admin/brukere">Users</a>
<a href="/finnes/ikke/her">Nowhere</a>
<form method="post" action="/talks/{live}/direkte/avslutt"><button>End</button></form>
<form method="post" action="/talks/{ready}/quiz/sporsmal/1/slett" data-confirm="Sure?">
  <button>Delete</button></form>
<div style="width: 600px">Wide</div>
<input type="search" aria-label="One"> <input type="search" aria-label="Two">
<img src="/static/favicon.svg">
<script>console.error("broken on purpose");</script>
</main></body></html>"""


def test_each_check_reports_what_breaks_it(journeys, site):
    journey = journeys("guest", COMBOS[3], folder="checks")  # English, 390 px
    html = BROKEN.format(
        utc=utc_texts(WINTER)[1], live=site.talks["live"].slug, ready=site.talks["ready"].slug
    )
    url = journey.url("/kontroll")
    journey.page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    journey.page.goto(url)
    journey.step("a page that breaks every rule", heading="Checks")
    found = "\n".join(journey.problems)
    expected = {
        "overflow": "overflows sideways",
        "route refused to the role": "GET /admin/brukere (Users) is offered but refused",
        "route that does not exist": "GET /finnes/ikke/her (Nowhere) leads nowhere",
        "destructive without a question": "deletes or ends without asking first",
        "other language": "Norwegian on a page in en: du, er",
        "UTC time": "the time in UTC, not in Europe/Oslo",
        "console error": "console error: broken on purpose",
        "axe": "axe image-alt",
        "two search boxes": "2 search boxes on one page",
        "header on two rows": "the header wraps into 2 rows",
    }
    missed = [name for name, text in expected.items() if text not in found]
    assert not missed, f"not reported: {missed}; reported:\n{found}"
    assert found.count("without asking first") == 1, "a form with data-confirm asks first"
    with pytest.raises(AssertionError):
        journey.assert_clean()
