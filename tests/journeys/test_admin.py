"""An administrator invites a user and gives them a role, reads the audit log (in Oslo
time), and reads the reports: departments × talks, one department, a talk's results, and
the CSV for Excel."""

from __future__ import annotations

import pytest

from tests.journeys.journey import SUMMER, WINTER

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_admin_invites_a_user_gives_a_role_and_reads_the_audit_log(journeys, combo, site):
    journey = journeys("admin", combo)
    page = journey.page
    journey.sign_in()
    journey.reveal("a[href='/admin/brukere']").click()
    page.wait_for_url(journey.url("/admin/brukere"))
    journey.step("users", heading=journey.t("Brukere"), buttons=[journey.t("Inviter")])
    email, name = f"ny-{combo.id}@kommune.no", "Nina Berg"
    site.user_content |= {email, name}
    page.fill("#email", email)
    page.fill("#name", name)
    page.select_option("#role", "viewer")
    page.fill("#department", "Kultur")
    page.get_by_role("button", name=journey.t("Inviter")).click()
    page.wait_for_selector("#password-link")
    journey.step("user invited", see=[email, journey.t("Invitert")])

    page.locator("tr", has_text=email).get_by_role("link", name=name).click()
    journey.step("one user", heading=name, buttons=[journey.t("Lagre")])
    page.select_option("#role", "organiser")
    page.get_by_role("button", name=journey.t("Lagre"), exact=True).click()
    page.wait_for_selector("main .notice[role=status]")
    journey.step("role changed", heading=name, see=[journey.t("Endringene er lagret.")])
    assert site.user(email).role == "organiser"

    journey.reveal("a[href='/admin/logg']").click()
    page.wait_for_url(journey.url("/admin/logg"))
    journey.step("audit log", see=[email, journey.when(WINTER), journey.when(SUMMER)])
    journey.assert_clean()


def test_an_admin_reads_the_reports_and_downloads_them_for_excel(journeys, combo, site):
    journey = journeys("admin", combo)
    page = journey.page
    ready = site.talk("ready")
    journey.sign_in()
    journey.reveal("a[href='/rapporter']").click()
    page.wait_for_url(journey.url("/rapporter"))
    journey.step("reports", heading=journey.t("Fullføring per avdeling"), see=[ready.title])
    for link, separator in (
        ("a[href='/rapporter.csv?skilletegn=semikolon']", ";"),
        ("a[href='/rapporter.csv']", ","),
    ):
        with page.expect_download() as download:
            page.click(link)
        data = download.value.path().read_bytes()
        assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, for Excel"
        header = data[3:].decode().splitlines()[0]
        assert header.count(separator) >= 5 and ready.title in data.decode(), header

    page.get_by_role("link", name="Kultur", exact=True).click()
    completed = journey.t("Fullført %(date)s", date=journey.when(WINTER, with_time=False))
    journey.step("one department", heading="Kultur", see=["Per Hansen", completed])
    page.go_back()
    page.locator(f"a.results-link[href='/talks/{ready.slug}/resultater']").click()
    journey.step("results of a talk", heading=journey.t("Resultater"))
    journey.assert_clean()
