"""Live broadcasts: the viewers' playlist over parts, the ffmpeg arguments, live caption
windows, SRT ingest with real ffmpeg publishers (right and wrong passphrase, a reconnect
within the grace period ending in one recording), the browser's WebSocket protocol with
resending after a dropped connection, questions, and going live from Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from server.catalogue import programme, talks
from server.catalogue.records import Recording, Talk
from server.live import broadcasts, captions, ffargs, playlist
from server.live.playlist import Segment
from server.store import db as database
from server.web.app import create_app
from tests import factories
from tests.liveserver import free_port, serve
from tests.webclient import PASSWORD, make_user

CSRF = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')


# ---------------------------------------------------------------- pure parts


def _segments(part: str, count: int, start: int = 0) -> list[Segment]:
    return [Segment(part, f"seg-{i:05d}.ts", 1.0, None) for i in range(start, start + count)]


def test_parse_reads_ffmpegs_playlist():
    text = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T12:00:00.000+0000\n#EXTINF:1.000000,\n"
        "seg-00000.ts\n#EXT-X-PROGRAM-DATE-TIME:2026-11-23T12:00:01.000+0000\n"
        "#EXTINF:0.960000,\nseg-00001.ts\n"
    )
    parsed = playlist.parse(text, "part-0001")
    assert [(s.name, s.duration) for s in parsed] == [("seg-00000.ts", 1.0), ("seg-00001.ts", 0.96)]
    assert parsed[1].date == "2026-11-23T12:00:01.000+0000"


def test_live_playlist_window_and_sequence():
    text = playlist.live_playlist([_segments("part-0001", 10)], window=6)
    assert "#EXT-X-MEDIA-SEQUENCE:4" in text and text.count("#EXTINF") == 6
    assert "part-0001/seg-00004.ts" in text and "seg-00003.ts" not in text
    assert "#EXT-X-ENDLIST" not in text and "#EXT-X-DISCONTINUITY\n" not in text
    assert "#EXT-X-ENDLIST" in playlist.live_playlist([_segments("part-0001", 3)], ended=True)


def test_a_reconnect_is_a_discontinuity_and_the_sequence_goes_on():
    first, second = _segments("part-0001", 5), _segments("part-0002", 3)
    text = playlist.live_playlist([first, second], window=6)
    lines = text.splitlines()
    assert "#EXT-X-MEDIA-SEQUENCE:2" in lines and "#EXT-X-DISCONTINUITY-SEQUENCE:0" in lines
    marker = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[marker + 2] == "part-0002/seg-00000.ts"
    later = playlist.live_playlist([first, _segments("part-0002", 9)], window=6)
    assert "#EXT-X-MEDIA-SEQUENCE:8" in later  # 14 segments, the last 6 shown
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in later and "#EXT-X-DISCONTINUITY\n" not in later


def test_ingest_arguments():
    srt = ffargs.srt_ingest("127.0.0.1", 9000, "hemmelig-passfrase-123", Path("/m/part-0001"))
    url = next(a for a in srt if a.startswith("srt://"))
    assert "mode=listener" in url and "passphrase=hemmelig-passfrase-123" in url
    assert "pbkeylen=16" in url and srt[-1] == "/m/part-0001/stream.m3u8"
    assert srt[srt.index("-hls_time") + 1] == "1" and "-hls_list_size" in srt
    browser = ffargs.browser_ingest(Path("/m/part-0002"))
    assert "pipe:0" in browser and "-nostdin" not in browser
    joined = ffargs.join_parts(Path("/m/parts.ffconcat"), Path("/m/recording.mp4"))
    assert joined[joined.index("-c") + 1] == "copy" and "concat" in joined


def test_caption_windows_cut_in_a_pause():
    rate = captions.RATE
    loud = np.full(int(4.2 * rate), 0.3, dtype=np.float32)
    pause = np.zeros(int(0.3 * rate), dtype=np.float32)
    audio = np.concatenate([loud, pause, loud])
    cut = captions.cut_point(audio)
    assert cut is not None and 4.2 * rate <= cut <= 4.5 * rate
    assert captions.cut_point(audio[: int(2 * rate)]) is None, "too short: wait"
    assert captions.cut_point(np.full(int(5 * rate), 0.3, dtype=np.float32)) is None, "no pause"
    assert captions.cut_point(np.full(int(7 * rate), 0.3, dtype=np.float32)) is not None


def test_watching_half_the_broadcast_live_counts_as_attending():
    from server.live.manager import live_attendees

    assert live_attendees({1: 50.0, 2: 49.0, 3: 120.0}, 100.0) == [1, 3]
    assert live_attendees({1: 50.0}, 0.0) == []


def test_viewers_and_live_minutes_come_from_the_talk_pages_event_streams(settings):
    """nginx serves a public talk's playlist from its cache, so viewers are counted from
    the talk page's event stream: one per person however many tabs, gone when they leave;
    signed-in viewers on the page while the talk is live gather minutes towards attending."""
    from server.live.manager import LiveManager

    manager = LiveManager(settings)
    runtime = manager.runtime(7)
    for key, user in [("u1", 1), ("u1", 1), ("a-guest", None)]:
        manager.join(7, key, user)
    assert manager.viewer_count(runtime) == 2
    manager.count_watching(runtime, 5.0)
    assert runtime.watching == {}, "not live yet"
    runtime.state = broadcasts.LIVE
    manager.count_watching(runtime, 5.0)
    assert runtime.watching == {1: 5.0}
    manager.leave(7, "u1", 1)
    assert manager.viewer_count(runtime) == 2, "the other tab is still open"
    manager.count_watching(runtime, 1.0)
    manager.leave(7, "u1", 1)
    manager.leave(7, "a-guest", None)
    manager.count_watching(runtime, 5.0)
    assert manager.viewer_count(runtime) == 0 and runtime.watching == {1: 6.0}


# ---------------------------------------------------------------- with a real server


def _sign_in(base: str, email: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=30)
    token = CSRF.search(client.get("/logg-inn").text).group(1)
    response = client.post("/logg-inn", data={"email": email, "password": PASSWORD,
                                              "csrf_token": token})  # fmt: skip
    assert response.status_code == 303
    return client, CSRF.search(client.get("/").text).group(1)


def _open_encoder(client: httpx.Client, token: str, slug: str) -> str:
    client.get(f"/talks/{slug}/direkte")
    assert (
        client.post(f"/talks/{slug}/direkte/koder", data={"csrf_token": token}).status_code == 303
    )
    page = client.get(f"/talks/{slug}/direkte").text
    return re.search(r'id="srt-url">([^<]+)<', page).group(1).replace("&amp;", "&")


def _publish(url: str, seconds: float, audio: Path | None = None) -> subprocess.Popen:
    sound = ["-stream_loop", "-1", "-re", "-i", str(audio)] if audio else [
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]  # fmt: skip
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "testsrc2=size=320x240:rate=25", *sound, "-t", str(seconds),
         "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
         "-tune", "zerolatency", "-g", "25", "-c:a", "aac", "-f", "mpegts", url],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _state(settings, talk_id: int) -> str | None:
    with database.session(settings) as db:
        row = broadcasts.get(db, talk_id)
    return row.state if row else None


def _talk_row(settings, talk_id: int) -> tuple[Talk, Recording | None]:
    with database.session(settings) as db:
        return talks.get(db, talk_id), talks.recording(db, talk_id)


@pytest.fixture
def live(settings, tmp_path):
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Direkte fra rådhuset", visibility="public"),
                            organiser)  # fmt: skip
    env = {"KTL_SRT_BIND": "127.0.0.1", "KTL_SRT_PORTS": str(free_port()),
           "KTL_LIVE_GRACE_SECONDS": "12", "KTL_LIVE_CAPTIONS": "false"}  # fmt: skip
    with serve(settings, tmp_path / "serve.log", **env) as base:
        client, token = _sign_in(base, organiser.email)
        try:
            yield {"base": base, "client": client, "token": token, "talk": talk,
                   "settings": settings, "tmp": tmp_path}  # fmt: skip
        finally:
            client.close()


def _browser_hello(live: dict) -> str:
    """What the server answers a browser that wants to start sending (a real WebSocket
    client with the organiser's session)."""
    from websockets.sync.client import connect

    url = live["base"].replace("http://", "ws://") + f"/talks/{live['talk'].slug}"
    cookies = "; ".join(f"{k}={v}" for k, v in live["client"].cookies.items())
    headers = {"Origin": live["base"], "Cookie": cookies}
    with connect(url + "/direkte/sender", additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "hello", "stream": "nettleser"}))
        return ws.recv(timeout=10)


def _playlist(base: str, slug: str) -> str:
    return httpx.get(f"{base}/live/{slug}/index.m3u8", timeout=10).text


@pytest.mark.integration
def test_srt_wrong_passphrase_is_refused_right_one_goes_live_and_is_kept(live):
    base, talk, settings = live["base"], live["talk"], live["settings"]
    url = _open_encoder(live["client"], live["token"], talk.slug)
    wrong = re.sub(r"passphrase=[^&]+", "passphrase=feil-passfrase-som-ikke-er-riktig", url)
    intruder = _publish(wrong, 4)
    _, errors = intruder.communicate(timeout=30)
    assert intruder.returncode != 0, f"the SRT handshake refuses a wrong passphrase: {errors}"
    live_dir = settings.paths.live(talk.id)
    assert not list(live_dir.rglob("*.ts")), "nothing was written for the intruder"
    assert _state(settings, talk.id) == "idle"

    publisher = _publish(url, 14)  # the same listener still takes the right publisher
    _wait(lambda: _state(settings, talk.id) == "live", 20, "the broadcast to go live")
    first = _playlist(base, talk.slug).count("#EXTINF")
    _wait(lambda: _playlist(base, talk.slug).count("#EXTINF") > first, 10, "more segments")
    front = httpx.get(base + "/").text
    assert "Direkte nå" in front and talk.title in front
    assert "En koder sender allerede" in _browser_hello(live), "one source at a time"
    segment = re.findall(r"^part-\d{4}/seg-\d{5}\.ts$", _playlist(base, talk.slug), re.M)[-1]
    media = httpx.get(f"{base}/live/{talk.slug}/{segment}")
    assert media.status_code == 200 and media.content[:1] == b"\x47", "an MPEG-TS segment"
    publisher.communicate(timeout=40)

    response = live["client"].post(f"/talks/{talk.slug}/direkte/avslutt",
                                   data={"csrf_token": live["token"]})  # fmt: skip
    assert response.status_code == 303
    said = live["client"].get(response.headers["location"]).text
    assert "Sendingen er avsluttet. Opptaket blir behandlet" in said
    row, recording = _talk_row(settings, talk.id)
    assert row.status in ("processing", "ready") and recording is not None
    assert 11 <= recording.duration <= 15.5, recording
    assert _state(settings, talk.id) == "ended" and not live_dir.exists()
    _wait(lambda: _talk_row(settings, talk.id)[0].status == "ready", 180, "the pipeline")
    assert (settings.paths.vod(talk.id) / "master.m3u8").is_file()


@pytest.mark.integration
def test_an_encoder_that_comes_back_within_the_grace_period_continues_the_recording(live):
    base, talk, settings = live["base"], live["talk"], live["settings"]
    url = _open_encoder(live["client"], live["token"], talk.slug)
    _publish(url, 8).communicate(timeout=40)
    _wait(lambda: _state(settings, talk.id) == "interrupted", 20, "the interruption")
    page = httpx.get(f"{base}/talks/{talk.slug}").text
    notice = re.search(r'<p id="live-notice"[^>]*>([^<]*)<', page)
    assert "hidden" not in notice.group(0) and notice.group(1) == "Sendingen er straks tilbake"
    _publish(url, 8).communicate(timeout=40)  # the same address again, within 12 s
    assert "#EXT-X-DISCONTINUITY" in _playlist(base, talk.slug)
    # Nobody ends it: when the grace period runs out, the parts become one recording.
    _wait(lambda: _talk_row(settings, talk.id)[1], 40, "the recording after the grace period")
    recording = _talk_row(settings, talk.id)[1]
    assert 14 <= recording.duration <= 18.5, recording
    _wait(lambda: _talk_row(settings, talk.id)[0].status == "ready", 180, "the pipeline")
    with database.session(settings) as db:
        parts = broadcasts.get(db, talk.id).parts
    assert parts == 2


@pytest.mark.integration
def test_live_captions_reach_viewers_while_the_talk_goes_on(settings, tmp_path):
    """Real Whisper on the live audio: an encoder sends espeak-ng speech, a viewer's
    event stream receives caption lines with words that were said, before the end."""
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(
            db, talks.TalkInput(title="Teksting", visibility="public", language="en"), organiser
        )
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.LONG_ENGLISH_SPEECH)
    env = {"KTL_SRT_BIND": "127.0.0.1", "KTL_SRT_PORTS": str(free_port())}
    said = set(re.findall(r"[a-z]+", factories.LONG_ENGLISH_SPEECH.lower()))
    with serve(settings, tmp_path / "serve.log", **env) as base:
        client, token = _sign_in(base, organiser.email)
        publisher = _publish(_open_encoder(client, token, talk.slug), 30, audio=speech)
        client.close()
        lines = []
        with httpx.stream("GET", f"{base}/live/{talk.slug}/hendelser", timeout=60) as events:
            for line in events.iter_lines():
                if line.startswith("data:") and '"caption"' in line:
                    lines.append(json.loads(line[5:])["text"])
                    if len(lines) >= 3:
                        break
        assert publisher.poll() is None, "captions arrived while the talk was going on"
        publisher.kill()
        publisher.communicate()
    words = set(re.findall(r"[a-z]+", " ".join(lines).lower()))
    assert len(words & said) >= 3, lines


@pytest.mark.browser
def test_a_viewer_sees_the_interruption_and_playback_recovers_on_its_own(live):
    """A viewer in Chromium: the encoder drops out ("Sendingen er straks tilbake"), comes
    back within the grace period, and the same page plays on without a reload."""
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    base, talk = live["base"], live["talk"]
    url = _open_encoder(live["client"], live["token"], talk.slug)
    first = _publish(url, 12)
    video = "document.getElementById('live-video')"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="nb-NO")
        page.goto(f"{base}/talks/{talk.slug}?direkte=1")
        page.wait_for_function(f"() => {video}.currentTime > 2", timeout=30_000)
        first.communicate(timeout=40)
        page.wait_for_selector("#live-notice:not([hidden])", timeout=20_000)
        assert page.inner_text("#live-notice") == "Sendingen er straks tilbake"
        stalled = page.evaluate(f"{video}.currentTime")
        second = _publish(url, 20)
        page.wait_for_selector("#live-notice", state="hidden", timeout=20_000)
        page.wait_for_function(f"() => {video}.currentTime > {stalled} + 4", timeout=40_000)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        browser.close()
    second.kill()
    second.communicate()


@pytest.mark.browser
def test_the_page_resends_after_its_websocket_drops(settings, tmp_path):
    """Chromium sends; its WebSocket is cut in the middle (Playwright routes the socket and
    closes both ends); the page connects again, resends what was not acknowledged, and the
    broadcast goes on in the same part: one recording covering the whole time."""
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium
    from tests.test_browser import _sign_in as sign_in_page

    require_chromium()
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Ustabilt nett"), organiser)
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    sockets = []

    def route(ws):
        sockets.append((ws, ws.connect_to_server()))  # messages pass through both ways

    env = {"KTL_LIVE_CAPTIONS": "false", "KTL_EMBEDDED_WORKER": "false"}
    with serve(settings, tmp_path / "serve.log", **env) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake)
        page = browser.new_page(locale="nb-NO")
        sign_in_page(page, base, organiser.email)
        page.route_web_socket(re.compile(r".*/direkte/sender$"), route)
        page.goto(f"{base}/talks/{talk.slug}/direkte")
        started = time.monotonic()
        page.click("#live-start")
        page.wait_for_selector("#live-state.state-live", timeout=30_000)
        page.wait_for_timeout(3000)
        ws, server = sockets[0]
        server.close()  # the network drops: the server's side ...
        ws.close(code=4000, reason="nett borte")  # ... and the page's side
        page.wait_for_function(
            "() => document.getElementById('send-status').textContent.includes('Sender')",
            timeout=20_000,
        )  # fmt: skip
        assert len(sockets) >= 2, "the page connected again"
        page.wait_for_timeout(4000)
        asked = []  # "Avslutt sending" asks first
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.click("#live-stop")
        ended = f"{base}/talks/{talk.slug}?melding=sending-avsluttet"
        page.wait_for_url(ended, timeout=60_000)
        assert asked and asked[0].startswith("Avslutte sendingen nå?")
        assert "Sendingen er avsluttet." in page.inner_text("main")
        sent = time.monotonic() - started
        browser.close()
    row, recording = _talk_row(settings, talk.id)
    assert row.status == "processing" and recording is not None
    assert recording.duration >= 0.6 * sent, (recording.duration, sent)
    with database.session(settings) as db:
        assert broadcasts.get(db, talk.id).parts == 1, "the same part went on"


# ---------------------------------------------------------------- the browser protocol


def _chunks(path: Path, size: int = 64 * 1024) -> list[bytes]:
    data = path.read_bytes()
    return [data[i : i + size] for i in range(0, len(data), size)]


def _frame(seq: int, chunk: bytes) -> bytes:
    return seq.to_bytes(4, "big") + chunk


@pytest.mark.integration
def test_a_dropped_websocket_resends_what_was_not_acknowledged(settings, tmp_path):
    """The protocol without a browser: a WebM made by ffmpeg (VP8/Opus, as MediaRecorder
    records) in numbered chunks; the connection drops halfway with chunks unacknowledged;
    the same stream connects again, hears what the server has, and sends from there
    (a few again, which the server skips). One part, one recording of the whole file."""
    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Fra nettleseren"), organiser)
    source = tmp_path / "camera.webm"
    factories.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi",
                     "-i", "sine=frequency=300", "-t", "6", "-c:v", "libvpx", "-deadline",
                     "realtime", "-c:a", "libopus", str(source))  # fmt: skip
    chunks = _chunks(source)
    half = len(chunks) // 2
    app = create_app(settings.replace(live_captions=False, live_grace_seconds=60))
    url = f"/talks/{talk.slug}/direkte/sender"
    with TestClient(app) as client:
        from tests.webclient import login, post

        login(client, organiser.email)
        origin = {"origin": "http://testserver"}
        with client.websocket_connect(url, headers=origin) as ws:
            ws.send_json({"type": "hello", "stream": "abc"})
            assert ws.receive_json() == {"type": "ready", "received": -1}
            for seq in range(half):
                ws.send_bytes(_frame(seq, chunks[seq]))
                assert ws.receive_json()["received"] == seq
            ws.send_bytes(_frame(half, chunks[half]))  # sent, the answer never read
            encoder = post(client, f"/talks/{talk.slug}/direkte/koder")
            assert encoder.status_code == 409 and "Det sendes fra en nettleser" in encoder.text
        with client.websocket_connect(url, headers=origin) as ws:
            ws.send_json({"type": "hello", "stream": "abc"})
            ready = ws.receive_json()
            assert ready["type"] == "ready" and half - 1 <= ready["received"] <= half
            for seq in range(half - 2, len(chunks)):  # two already there: skipped
                ws.send_bytes(_frame(seq, chunks[seq]))
                assert ws.receive_json()["received"] == max(seq, ready["received"])
            ws.send_bytes(_frame(len(chunks) + 3, b"gap"))
            assert ws.receive_json()["type"] == "error", "a gap is refused, not written"
        with client.websocket_connect(url, headers=origin) as ws:
            ws.send_json({"type": "hello", "stream": "abc"})
            assert ws.receive_json()["received"] == len(chunks) - 1
            ws.send_json({"type": "end"})
            assert ws.receive_json() == {"type": "ended"}
    row, recording = _talk_row(settings, talk.id)
    assert row.status == "processing" and recording is not None
    assert 5.0 <= recording.duration <= 7.0, recording
    with database.session(settings) as db:
        assert broadcasts.get(db, talk.id).parts == 1


def test_a_second_browser_is_refused_for_good_while_the_first_sends(settings):
    from starlette.websockets import WebSocketDisconnect

    from tests.webclient import login

    organiser = make_user(settings, "organiser")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="To faner"), organiser)
    app = create_app(settings.replace(live_captions=False))
    url, origin = f"/talks/{talk.slug}/direkte/sender", {"origin": "http://testserver"}
    with TestClient(app) as client:
        login(client, organiser.email)
        with client.websocket_connect(url, headers=origin) as first:
            first.send_json({"type": "hello", "stream": "fane-1"})
            assert first.receive_json()["received"] == -1
            with client.websocket_connect(url, headers=origin) as second:
                second.send_json({"type": "hello", "stream": "fane-2"})
                refusal = second.receive_json()
                assert "annen nettleser" in refusal["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
                assert closed.value.code == 4410, "the page must not connect again"
            first.send_text("ikke json")
            assert first.receive_json()["type"] == "error"
        live_dir = settings.paths.live(talk.id)
        _wait(lambda: not [p for p in live_dir.glob("part-*") if p.is_dir()], 10,
              "the part of a browser that left before sending anything to go")  # fmt: skip
        with database.session(settings) as db:
            assert broadcasts.get(db, talk.id).state == "idle"


# ---------------------------------------------------------------- questions


def test_questions_while_live(settings):
    from tests.webclient import login, post

    organiser = make_user(settings, "organiser")
    viewer = make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Spør oss"), organiser)
        broadcasts.ensure(db, talk)
    slug = talk.slug
    with TestClient(create_app(settings), follow_redirects=False) as client:
        login(client, viewer.email)
        early = post(client, f"/talks/{slug}/sporsmal", {"text": "Kommer det opptak?"})
        assert early.status_code == 409 and "mens foredraget sendes" in early.text
        with database.session(settings) as db:
            broadcasts.set_state(db, talk.id, broadcasts.LIVE)
        page = client.get(f"/talks/{slug}").text
        assert 'id="question-form"' in page and 'id="live-join"' in page
        empty = post(client, f"/talks/{slug}/sporsmal", {"text": "   "})
        assert empty.status_code == 422 and "Skriv et spørsmål" in empty.text
        token = {"X-CSRF-Token": CSRF.search(page).group(1), "Accept": "application/json"}
        scripted = client.post(f"/talks/{slug}/sporsmal", json={"text": ""}, headers=token)
        assert scripted.status_code == 422 and "Skriv et spørsmål" in scripted.json()["error"]
        sent = client.post(f"/talks/{slug}/sporsmal", json={"text": "Fra skriptet?"}, headers=token)
        assert sent.status_code == 201 and sent.json()["text"] == "Fra skriptet?"
        for text in ("Hvem bestemmer budsjettet?", "Gjelder dette også skolene?"):
            assert post(client, f"/talks/{slug}/sporsmal", {"text": text}).status_code == 303
        assert client.get(f"/talks/{slug}/sporsmal.json").status_code == 403
        client.post("/logg-ut", data={"csrf_token": CSRF.search(page).group(1)})

        login(client, organiser.email)
        listed = client.get(f"/talks/{slug}/sporsmal.json").json()["questions"]
        assert [q["text"] for q in listed] == ["Fra skriptet?", "Hvem bestemmer budsjettet?",
                                              "Gjelder dette også skolene?"]  # fmt: skip
        assert listed[0]["asker"] == "Viewer" and listed[0]["answered_at"] is None
        assert set(listed[0]) == {"id", "text", "asker", "created_at", "answered_at", "when"}
        assert set(sent.json()) == {"id", "text"}
        done = post(client, f"/talks/{slug}/sporsmal/{listed[1]['id']}/besvart", {"answered": "1"})
        assert done.status_code == 303
        listed = client.get(f"/talks/{slug}/sporsmal.json").json()["questions"]
        assert listed[1]["answered_at"] and listed[2]["answered_at"] is None
        page = client.get(f"/talks/{slug}/direkte").text
        assert "Gjelder dette også skolene?" in page and "Marker som ubesvart" in page
        refused = post(client, f"/talks/{slug}/slett")
        assert refused.status_code == 409 and "Avslutt sendingen" in refused.text
        attach = client.post(f"/talks/{slug}/opptak", json={"upload_id": "x"},
                             headers={"X-CSRF-Token": CSRF.search(page).group(1)})  # fmt: skip
        assert attach.status_code == 409 and "sendes direkte" in attach.json()["error"]


def test_settings_for_live_are_checked():
    from server.core.config import SettingsError, load_settings

    assert load_settings(env={"KTL_SRT_PORTS": "9100-9102"}).srt_port_range() == (9100, 9102)
    for bad in ("9100-9000", "abc", "0"):
        with pytest.raises(SettingsError, match="KTL_SRT_PORTS"):
            load_settings(env={"KTL_SRT_PORTS": bad})


# ---------------------------------------------------------------- in a real browser


@pytest.mark.browser
def test_going_live_from_the_browser_and_watching(settings, tmp_path):
    """An organiser goes live from the page with Chromium's fake camera and a microphone
    that plays espeak-ng speech; a second browser watches and its video advances; ending
    the broadcast leads to a processed on-demand talk with a transcript."""
    from playwright.sync_api import sync_playwright

    from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, require_chromium
    from tests.test_browser import _sign_in as sign_in_page

    require_chromium()
    speech = factories.speech_wav(tmp_path / "speech.wav", factories.LONG_ENGLISH_SPEECH)
    organiser = make_user(settings, "organiser")
    make_user(settings, "viewer")
    with database.session(settings) as db:
        talk = talks.create(db, talks.TalkInput(title="Direkte fra nettleseren",
                                                visibility="internal", language="en"),
                            organiser)  # fmt: skip
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech}"]  # fmt: skip
    env = {"KTL_LIVE_CAPTIONS": "false", "KTL_LIVE_GRACE_SECONDS": "60"}
    with serve(settings, tmp_path / "serve.log", **env) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake)
        sender = browser.new_context().new_page()
        sign_in_page(sender, base, organiser.email)
        sender.goto(f"{base}/talks/{talk.slug}/direkte")
        sender.click("#live-start")
        sender.wait_for_function("() => document.getElementById('preview').srcObject !== null")
        sender.wait_for_selector("#live-state.state-live", timeout=30_000)

        watcher = browser.new_context().new_page()
        sign_in_page(watcher, base, "viewer@kommune.no")
        watcher.goto(base + "/")
        watcher.click("a.live-link")  # "Direkte nå" on the front page: one click to watch
        watcher.wait_for_selector("#live-badge:not([hidden])", timeout=15_000)
        watcher.wait_for_function(
            "() => document.getElementById('live-video').currentTime > 2", timeout=30_000
        )
        first = watcher.evaluate("document.getElementById('live-video').currentTime")
        watcher.wait_for_timeout(3000)
        assert watcher.evaluate("document.getElementById('live-video').currentTime") > first + 1
        sender.wait_for_function(
            "() => Number(document.getElementById('live-viewers').textContent) >= 1",
            timeout=15_000,
        )
        watcher.wait_for_timeout(12_000)  # watching most of the broadcast: attended live
        sender.once("dialog", lambda dialog: dialog.accept())  # "Avslutt sending" asks first
        sender.click("#live-stop")
        ended = f"{base}/talks/{talk.slug}?melding=sending-avsluttet"
        sender.wait_for_url(ended, timeout=60_000)
        browser.close()
        _wait(lambda: _talk_row(settings, talk.id)[0].status == "ready", 240, "the pipeline")
    _, recording = _talk_row(settings, talk.id)
    assert recording.duration >= 8 and recording.has_video
    with database.session(settings) as db:
        viewer = db.execute("SELECT id FROM users WHERE email = 'viewer@kommune.no'").fetchone()
        assert programme.attended(db, viewer[0], talk.id), "watching live counts as attending"
    words = json.loads((settings.paths.transcript_json(talk.id)).read_text())
    text = " ".join(s["text"] for s in words["segments"]).lower()
    assert len(text.split()) >= 5, text
