"""HTTP behaviour of the pages and endpoints (Starlette's TestClient, real SQLite, real ffprobe)."""

from __future__ import annotations

import base64

import pytest

from server.pipeline import jobs
from server.store import db as database
from server.store import write
from server.transcript import model as transcript
from tests import factories
from tests.webclient import csrf, post


@pytest.fixture
def client(signed_in):
    """A client signed in as an organiser (organiser@kommune.no)."""
    return signed_in("organiser")


def _create(client, **fields) -> str:
    form = {"title": "Bli kjent med NAV", "language": "nb", "visibility": "public", **fields}
    response = post(client, "/talks", form)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("#")[0]


def _tus_upload(client, data: bytes, filename: str) -> str:
    meta = "filename " + base64.b64encode(filename.encode()).decode()
    token = csrf(client)
    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": meta, "X-CSRF-Token": token}  # fmt: skip
    created = client.post("/uploads/", headers=headers)
    assert created.status_code == 201
    location = created.headers["location"]
    patch_headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "X-CSRF-Token": token,
                     "Content-Type": "application/offset+octet-stream"}  # fmt: skip
    assert client.patch(location, content=data, headers=patch_headers).status_code == 204
    return location.rstrip("/").rsplit("/", 1)[-1]


def _attach(client, url: str, body):
    kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
    return client.post(f"{url}/opptak", headers={"X-CSRF-Token": csrf(client)}, **kwargs)


def test_front_page_is_norwegian_and_has_search(client):
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="nb">' in page.text
    assert 'action="/sok"' in page.text


def test_create_talk_validates_in_norwegian(client):
    response = post(client, "/talks", {"title": "  ", "starts_at": "i morgen", "language": "de"})
    assert response.status_code == 422
    assert "Skriv en tittel på foredraget." in response.text
    assert "Velg dato og klokkeslett i datovelgeren" in response.text
    assert "Velg språket det snakkes på" in response.text
    assert 'value="i morgen"' in response.text, "what was typed is kept"


def test_created_talk_page_offers_upload(client):
    url = _create(client, starts_at="2026-12-03T11:30", speaker="Kari", department="NAV")
    page = client.get(url)
    assert page.status_code == 200
    assert "Last opp opptaket" in page.text
    assert "3. desember 2026 kl. 11.30" in page.text
    assert "tus.min.js" in page.text


def test_unknown_talk_is_a_norwegian_404(client):
    page = client.get("/talks/finnes-ikke")
    assert page.status_code == 404
    assert "Fant ikke foredraget" in page.text
    assert client.get("/talks/finnes-ikke/status.json").json()["error"]


@pytest.mark.parametrize("query", ["AND (", '"', "NEAR(a b", "*", "-", "a:b", "\x00", "x" * 5000])
def test_hostile_search_never_errors(client, query):
    assert client.get("/sok", params={"q": query}).status_code == 200
    body = client.get("/sok.json", params={"q": query}).json()
    assert body["hits"] == [] and body["message"]


@pytest.mark.integration
def test_upload_attach_queues_processing(client, settings, tmp_path):
    url = _create(client)
    source = factories.video(tmp_path / "talk.mp4", seconds=2)
    upload_id = _tus_upload(client, source.read_bytes(), "talk.mp4")
    response = _attach(client, url, {"upload_id": upload_id})
    assert response.status_code == 201, response.text
    assert response.json()["url"] == url
    status = client.get(f"{url}/status.json").json()
    assert status["talk_status"] == "processing" and status["job_state"] == "queued"
    stages = [s["name"] for s in status["stages"]]  # no English track: no English stage
    assert stages == [name for name in jobs.STAGES if name != "translate"]
    assert {s["state"] for s in status["stages"]} == {"waiting"}
    assert not list(settings.uploads_dir.iterdir()), "the upload was moved into place"
    again = _attach(client, url, {"upload_id": upload_id})
    assert again.status_code == 404


@pytest.mark.integration
def test_uploaded_pdf_is_refused_with_a_message_and_removed(client, settings):
    url = _create(client)
    upload_id = _tus_upload(client, b"%PDF-1.4\n%%EOF\n" * 100, "notat.pdf")
    response = _attach(client, url, {"upload_id": upload_id})
    assert response.status_code == 422
    assert "«notat.pdf» er ikke et lyd- eller videoopptak" in response.json()["error"]
    assert not list(settings.uploads_dir.iterdir())
    with database.session(settings) as db:
        assert db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_attach_without_upload_is_refused(client):
    url = _create(client)
    assert _attach(client, url, {}).status_code == 404
    unreadable = _attach(client, url, b"not json")
    assert unreadable.status_code == 400 and "Kunne ikke lese" in unreadable.json()["error"]


def test_downloads_and_media_paths(client, settings, db):
    talk = factories.talk(db, visibility="public")
    folder = settings.transcripts_dir / str(talk.id)
    segments = (transcript.Segment(0.5, 2.0, "Hei <alle>"),)
    transcript.write_all(folder, transcript.Transcript(language="nb", segments=segments))
    vtt = client.get(f"/talks/{talk.slug}/transcript.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert "attachment" in vtt.headers["content-disposition"]
    assert "00:00:00.500 --> 00:00:02.000\nHei &lt;alle>" in vtt.text
    assert client.get(f"/talks/{talk.slug}/transcript.srt").text.startswith("1\n00:00:00,500")
    assert client.get(f"/talks/{talk.slug}/transcript.exe").status_code == 404
    vod = settings.paths.vod(talk.id)
    vod.mkdir(parents=True)
    (vod / "master.m3u8").write_text("#EXTM3U\n")
    playlist = client.get(f"/media/{talk.id}/vod/master.m3u8")
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    for path in ("../../ktl.db", "..%2F..%2Fktl.db", "%2e%2e/%2e%2e/ktl.db", "nope.m3u8"):
        assert client.get(f"/media/{talk.id}/vod/{path}").status_code == 404


def test_retry_requeues_a_failed_job(client, settings, db):
    from server.people import accounts

    talk = factories.talk(db, organiser=accounts.by_email(db, "organiser@kommune.no"))
    with write(db):
        job_id = jobs.enqueue(db, talk.id)
        db.execute("UPDATE jobs SET state='failed', error='Kunne ikke pakke' WHERE id=?", [job_id])
        db.execute("UPDATE talks SET status='failed' WHERE id=?", [talk.id])
    page = client.get(f"/talks/{talk.slug}")
    assert "Kunne ikke pakke" in page.text and "Prøv igjen" in page.text
    response = post(client, f"/talks/{talk.slug}/prov-igjen")
    assert response.status_code == 303
    assert jobs.get(db, job_id).state == "queued"


def test_search_page_counts_the_hits_not_shown(client, db):
    """A talk with more hits than shown says how many more (a translated, formatted string)."""
    from server.catalogue import search, talks

    talk = factories.talk(db, visibility="public")
    segments = tuple(
        transcript.Segment(i * 3.0, i * 3.0 + 2.0, f"Sykkelen nummer {i} står i kjelleren.")
        for i in range(8)
    )
    search.index_talk(db, talk.id, segments, "nb")
    with write(db):
        talks.set_status(db, talk.id, "ready")
    page = client.get("/sok", params={"q": "kjelleren"})
    assert page.status_code == 200
    assert "og 3 treff til i dette foredraget" in page.text
    english = client.get("/sok", params={"q": "kjelleren"}, headers={"Accept-Language": "en"})
    assert english.status_code == 200
