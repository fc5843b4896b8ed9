"""Resumable uploads in a real browser: Chromium (Playwright) and the page's tus-js-client
against `ktl serve`, through a TCP proxy (tests/netcut.py) that drops connections mid-upload
the way a flaky network does. Without the embedded worker: the tests stop at the queued job,
Whisper is not needed to show that the file arrived whole."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.catalogue import talks
from server.pipeline import tus
from server.store import db as database
from tests import factories
from tests.conftest import need
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve
from tests.netcut import CuttingProxy, part_bytes, wait_unlocked
from tests.webclient import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MB = 1024 * 1024
TUS_KEYS = "() => Object.keys(localStorage).filter(k => k.startsWith('tus::'))"


@dataclass
class Traffic:
    """The tus requests the page made, as the browser reports them."""

    posts: int = 0
    patches: list[int] = field(default_factory=list)  # Upload-Offset of each PATCH sent
    heads: list[int] = field(default_factory=list)  # Upload-Offset of each HEAD answer

    def listen(self, page) -> None:
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request) -> None:
        if "/uploads/" not in request.url:
            return
        if request.method == "POST":
            self.posts += 1
        elif request.method == "PATCH":
            self.patches.append(int(request.headers["upload-offset"]))

    def _response(self, response) -> None:
        request = response.request
        if request.method == "HEAD" and "/uploads/" in response.url and response.ok:
            self.heads.append(int(response.headers["upload-offset"]))


@dataclass
class Site:
    base: str
    settings: object
    talk: dict
    proxy: CuttingProxy
    recording: Path


@pytest.fixture
def site(settings, tmp_path: Path) -> Iterator[Site]:
    need("ffmpeg")
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = factories.talk(db, organiser, title="Vann og avløp", visibility="internal")
    # 25 MB of noise as PCM: big enough for two 16 MB chunks, and no two offsets look alike.
    recording = tmp_path / "opptak.wav"
    factories.ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=130:r=48000", "-ac", "2",
                     "-c:a", "pcm_s16le", str(recording))  # fmt: skip
    env = {"KTL_EMBEDDED_WORKER": "0"}
    with serve(settings.data_dir, tmp_path / "serve.log", **env) as base:
        proxy = CuttingProxy(int(base.rsplit(":", 1)[1]))
        try:
            yield Site(proxy.url, settings, talk, proxy, recording)
        finally:
            proxy.close()


@pytest.fixture
def page(site: Site):
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="nb-NO")
        page = context.new_page()
        page.goto(site.base + "/logg-inn")
        page.fill("#email", "organiser@kommune.no")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(site.base + "/")
        page.goto(f"{site.base}/talks/{site.talk.slug}")
        yield page
        context.close()
        browser.close()


def until(page, condition, what: str, seconds: float = 60) -> None:
    """Let the page run (and Playwright deliver its events) until condition() holds."""
    for _ in range(int(seconds * 20)):
        if condition():
            return
        page.wait_for_timeout(50)
    shown = page.evaluate(
        "() => [...document.querySelectorAll('#upload-status, #upload-error')]"
        ".map(e => e.textContent)"
    )
    pytest.fail(f"waited {seconds} s for {what}; the page says {shown}")


def the_upload(site: Site) -> tus.Upload:
    with database.session(site.settings.db_path) as db:
        rows = db.execute("SELECT id FROM uploads").fetchall()
        assert len(rows) == 1, "one upload, never a second one started from byte 0"
        return tus.get(db, rows[0]["id"])


def resting_offset(site: Site) -> int:
    """The server's offset once the interrupted request has let go of the upload."""
    wait_unlocked(tus.part_path(site.settings, the_upload(site).id))
    return the_upload(site).offset


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_attached(site: Site, page) -> None:
    """The talk has the file, byte for byte, a queued job, and nothing left in uploads."""
    page.wait_for_url(f"{site.base}/talks/{site.talk.slug}", timeout=60_000)
    page.wait_for_selector("section.processing", timeout=30_000)
    with database.session(site.settings.db_path) as db:
        stored = talks.recording(db, site.talk.id)
        jobs = db.execute("SELECT state FROM jobs WHERE talk_id = ?", [site.talk.id])
        assert [row["state"] for row in jobs.fetchall()] == ["queued"]
        assert db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 0
    original = talks.media_dir(site.settings, site.talk.id) / stored.path
    assert sha256(original) == sha256(site.recording)
    assert list(site.settings.uploads_dir.iterdir()) == [], "no part file left behind"
    assert page.evaluate(TUS_KEYS) == [], "the fingerprint is forgotten once attached"


def throttle(page, upload_bytes_per_second: int) -> None:
    """Chromium's own network emulation: slow enough to interrupt (-1: no limit)."""
    cdp = page.context.new_cdp_session(page)
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send(
        "Network.emulateNetworkConditions",
        {**conditions, "uploadThroughput": upload_bytes_per_second},
    )


def test_upload_goes_on_after_the_connection_drops_online_and_offline(site: Site, page) -> None:
    size = site.recording.stat().st_size
    traffic = Traffic()
    traffic.listen(page)
    on_server = lambda: part_bytes(site.settings.uploads_dir)  # noqa: E731
    throttle(page, 4 * MB)
    sent_before = site.proxy.sent

    page.set_input_files("#recording-file", str(site.recording))
    # 1. Online: the network drops mid-PATCH; tus-js-client asks HEAD and goes on.
    until(page, lambda: on_server() >= 6 * MB, "6 MB on the server")
    site.proxy.cut()
    cut_at = resting_offset(site)
    until(page, lambda: on_server() >= cut_at + 4 * MB, "going on after the cut")
    # 2. Offline: no retries while offline; the page waits and goes on when back online.
    page.context.set_offline(True)
    site.proxy.cut()
    page.wait_for_selector("#upload-status:has-text('Nettverket er borte')", timeout=60_000)
    offline_at = resting_offset(site)
    patches_offline = len(traffic.patches)
    page.wait_for_timeout(1500)
    assert len(traffic.patches) == patches_offline, "nothing is sent while offline"
    assert resting_offset(site) == offline_at
    page.context.set_offline(False)
    assert_attached(site, page)

    assert 0 < cut_at < offline_at < size
    assert traffic.posts == 1, "one upload created; never restarted from byte 0"
    assert traffic.patches[0] == 0 and traffic.patches.count(0) == 1
    for offset in (cut_at, offline_at):  # each resumed PATCH starts where the server stood
        assert offset in traffic.heads and offset in traffic.patches
    sent = site.proxy.sent - sent_before
    assert sent < 2 * size, f"{sent} bytes on the wire for a {size}-byte file"
    print(f"\ncut and offline: {sent} bytes sent for {size} ({sent / size:.3f}×), "
          f"resumed at {cut_at} and {offline_at}, PATCH offsets {traffic.patches}")  # fmt: skip


def test_reload_mid_upload_and_choosing_the_file_again_resumes(site: Site, page) -> None:
    size = site.recording.stat().st_size
    traffic = Traffic()
    traffic.listen(page)
    throttle(page, 4 * MB)
    sent_before = site.proxy.sent

    page.set_input_files("#recording-file", str(site.recording))
    until(page, lambda: part_bytes(site.settings.uploads_dir) >= 5 * MB, "5 MB on the server")
    page.reload()
    stored = page.evaluate(TUS_KEYS)
    assert len(stored) == 1, "tus-js-client kept the upload's URL under the file's fingerprint"
    entry = json.loads(page.evaluate(f"() => localStorage.getItem({json.dumps(stored[0])})"))
    upload = the_upload(site)
    assert entry["uploadUrl"].endswith(f"/uploads/{upload.id}")
    reloaded_at = resting_offset(site)
    assert 0 < reloaded_at < size
    throttle(page, -1)

    patches_before = len(traffic.patches)
    page.set_input_files("#recording-file", str(site.recording))
    assert_attached(site, page)

    assert traffic.posts == 1, "the same upload goes on; none started from byte 0"
    assert traffic.patches[patches_before] == reloaded_at == traffic.heads[0]
    sent = site.proxy.sent - sent_before
    assert sent < 2 * size, f"{sent} bytes on the wire for a {size}-byte file"
    print(f"\nreload: {sent} bytes sent for {size} ({sent / size:.3f}×), resumed at "
          f"{reloaded_at}, PATCH offsets {traffic.patches}")  # fmt: skip
