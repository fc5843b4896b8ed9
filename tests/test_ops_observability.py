"""Operations through the app as `ktl serve` builds it: /metrics (Prometheus text, parsed
with prometheus-client's own parser), /healthz and /readyz, request ids, JSON log lines,
and the free-space floor for uploads, attaching and going live."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from server.core import i18n
from server.ops import diskspace, stats
from server.pipeline import jobs
from server.store import db as database
from server.store.pg_migrations import all_pg_migrations
from server.web import requestlog
from server.web.app import create_app
from tests import factories
from tests.webclient import login, make_user, post

LOCAL = ("127.0.0.1", 50000)
OUTSIDE = ("203.0.113.9", 50000)
TUS = {"Tus-Resumable": "1.0.0"}


def _client(settings, client=LOCAL) -> TestClient:
    return TestClient(create_app(settings), client=client, follow_redirects=False)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_count_requests_by_route_name_and_read_the_database(settings):
    with database.session(settings) as db:
        talk = factories.talk(db)
        jobs.enqueue(db, talk.id)
        stats.record_transcription(db, talk.id, "base", 60.0, 15.0)  # as the worker does
    with _client(settings) as client:
        for slug in ("finnes-ikke-1", "finnes-ikke-2", talk.slug):
            client.get(f"/talks/{slug}")
        client.get("/dette/finnes/ikke")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(response.text)
    requests = "ktl_http_requests_total"
    assert _value(samples, requests, route="talk", method="GET", status="404") == 2
    assert _value(samples, requests, route="talk", method="GET", status="200") == 1
    assert _value(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert not any("finnes-ikke" in str(key) for key in samples), "no raw paths as labels"
    latency = "ktl_http_request_duration_seconds_count"
    assert _value(samples, latency, route="talk", method="GET") == 3
    assert _value(samples, "ktl_jobs", state="queued", stage="") == 1
    assert _value(samples, "ktl_transcription_realtime_factor_count") == 1
    assert _value(samples, "ktl_transcription_realtime_factor_sum") == 0.25
    assert _value(samples, "ktl_transcription_realtime_factor_bucket", le="0.3") == 1
    assert _value(samples, "ktl_transcription_realtime_factor_bucket", le="0.2") == 0
    assert _value(samples, "ktl_live_viewers") == 0
    assert _value(samples, "ktl_disk_free_bytes") > 0
    assert _value(samples, "ktl_disk_floor_bytes") == settings.min_free_disk_mb * 1024**2


def test_metrics_count_upload_bytes(settings):
    make_user(settings, "organiser")
    with _client(settings) as client:
        login(client, "organiser@kommune.no")
        token = client.cookies  # the session cookie goes with every request
        assert token
        csrf = client.get("/logg-inn").text.split('name="csrf-token" content="')[1][:64]
        headers = {**TUS, "X-CSRF-Token": csrf}
        created = client.post("/uploads/", headers={**headers, "Upload-Length": "1000"})
        assert created.status_code == 201, created.text
        patch = client.patch(
            created.headers["Location"], content=b"x" * 1000,
            headers={**headers, "Upload-Offset": "0",
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        assert patch.status_code == 204, patch.text
        samples = _samples(client.get("/metrics").text)
    assert _value(samples, "ktl_upload_bytes_total") == 1000


def test_metrics_are_hidden_from_other_addresses_unless_they_bring_the_token(settings):
    with _client(settings, OUTSIDE) as client:
        assert client.get("/metrics").status_code == 404
    token = settings.replace(metrics_token="s3cret-token-for-prometheus")
    with _client(token, OUTSIDE) as client:
        assert client.get("/metrics").status_code == 404
        wrong = {"Authorization": "Bearer not-it"}
        assert client.get("/metrics", headers=wrong).status_code == 404
        right = {"Authorization": "Bearer s3cret-token-for-prometheus"}
        assert client.get("/metrics", headers=right).status_code == 200
    nobody = settings.replace(metrics_allow="")
    with _client(nobody, LOCAL) as client:
        assert client.get("/metrics").status_code == 404
    network = settings.replace(metrics_allow="203.0.113.0/24")
    with _client(network, OUTSIDE) as client:
        assert client.get("/metrics").status_code == 200
    with _client(settings, LOCAL) as client:  # nginx on this host passing a visitor on
        forwarded = {"X-Forwarded-For": "198.51.100.7"}
        assert client.get("/metrics", headers=forwarded).status_code == 404
        assert client.get("/metrics", headers={"X-Real-IP": "198.51.100.7"}).status_code == 404
        token = {**forwarded, "Authorization": "Bearer s3cret-token-for-prometheus"}
    with _client(settings.replace(metrics_token="s3cret-token-for-prometheus")) as client:
        assert client.get("/metrics", headers=token).status_code == 200


def test_health_and_readiness(settings):
    with _client(settings, OUTSIDE) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["failing"] == []
    broken = settings.replace(min_free_disk_mb=10**9, whisper_model=str(settings.data_dir / "nix"))
    with _client(broken) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    unwritable = _readiness_of_a_read_only_database(settings)
    assert ready.status_code == 503
    failing = {f["check"]: f["message"] for f in ready.json()["failing"]}
    assert set(failing) == {"disk", "model"}
    assert "lagringsplass" in failing["disk"] and "Whisper-modell" in failing["model"]
    if settings.database_url or os.geteuid() != 0:  # root writes read-only files anyway
        assert "database" in {f["check"] for f in unwritable.json()["failing"]}


def _readiness_of_a_read_only_database(settings):
    """/readyz while the database cannot be written: the SQLite file made read-only before
    the app opens its first connection; PostgreSQL turned read-only (as a standby is) under
    the running app, whose pooled connections are ended so that it connects again."""
    if not settings.database_url:
        os.chmod(settings.db_path, 0o444)
        try:
            with _client(settings) as client:
                return client.get("/readyz")
        finally:
            os.chmod(settings.db_path, 0o644)
    with database.session(settings) as db, _client(settings) as client:
        assert client.get("/readyz").status_code == 200
        name = db.execute("SELECT current_database()").fetchone()[0]
        db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = ? AND pid <> pg_backend_pid()",
                [name],
            )
            return client.get("/readyz")
        finally:
            db.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


def test_readiness_fails_without_ffmpeg(settings, monkeypatch):
    monkeypatch.setenv("PATH", str(settings.data_dir))  # a PATH where ffmpeg is not
    with _client(settings) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert [f["check"] for f in ready.json()["failing"]] == ["ffmpeg"]


def test_request_id_is_made_or_taken_from_a_trusted_proxy_and_echoed(settings):
    with _client(settings) as client:
        made = client.get("/healthz").headers["x-request-id"]
        other = client.get("/healthz").headers["x-request-id"]
        ignored = client.get("/healthz", headers={"X-Request-ID": "fra-klienten-1"})
    assert len(made) == 32 and made != other
    assert ignored.headers["x-request-id"] != "fra-klienten-1"
    proxied = settings.replace(trusted_proxies="127.0.0.1")
    with _client(proxied) as client:
        kept = client.get("/healthz", headers={"X-Request-ID": "nginx-abc123"})
        bad = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert kept.headers["x-request-id"] == "nginx-abc123"
    assert bad.headers["x-request-id"] != "bad id with spaces"


def test_json_log_lines_carry_the_request_id(settings, tmp_path):
    log_path = tmp_path / "ktl.log"
    code = (
        "import logging, sys\n"
        "from server.web import requestlog\n"
        f"logging.basicConfig(filename={str(log_path)!r}, level=logging.INFO)\n"
        "requestlog.configure('json')\n"
        "from starlette.testclient import TestClient\n"
        "from server.web.app import create_app\n"
        "from pathlib import Path\n"
        "from server.core.config import load_settings\n"
        f"s = load_settings(env={{}}, data_dir=Path({str(settings.data_dir)!r}))\n"
        f"s = s.replace(embedded_worker=False, database_url={settings.database_url!r})\n"
        "with TestClient(create_app(s)) as c:\n"
        "    print(c.get('/arkiv').headers['x-request-id'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rid = done.stdout.strip()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    access = [e for e in lines if e["logger"] == "ktl.access"]
    assert access and access[-1]["request_id"] == rid
    assert access[-1]["path"] == "/arkiv" and access[-1]["status"] == 200
    assert {"time", "level", "message", "duration_ms"} <= set(access[-1])


def test_text_logs_also_carry_the_request_id(caplog, settings):
    caplog.set_level(logging.INFO, "ktl.access")
    with _client(settings) as client:
        rid = client.get("/healthz").headers["x-request-id"]
    assert any(rid in r.getMessage() for r in caplog.records)
    assert requestlog.request_id.get() == ""  # nothing leaks out of the request


# ------------------------------------------------------------------ the free-space floor


def _floor_above_free(settings, margin_mb: int):
    """A floor `margin_mb` below what is free now (negative: above it)."""
    free_mb = diskspace.free_bytes(settings.data_dir) // 1024**2
    return settings.replace(min_free_disk_mb=max(free_mb - margin_mb, 0))


def _organiser_client(settings) -> TestClient:
    client = _client(settings)
    client.__enter__()
    make_user(settings, "organiser")
    login(client, "organiser@kommune.no")
    return client


def test_tus_creation_is_refused_before_the_disk_fills(settings):
    roomy = _floor_above_free(settings, 1000)  # 1000 MB above the floor
    client = _organiser_client(roomy)
    try:
        csrf = client.get("/logg-inn").text.split('name="csrf-token" content="')[1][:64]
        headers = {**TUS, "X-CSRF-Token": csrf}
        small = client.post("/uploads/", headers={**headers, "Upload-Length": str(1024**2)})
        big = client.post("/uploads/", headers={**headers, "Upload-Length": str(5000 * 1024**2)})
    finally:
        client.__exit__(None, None, None)
    assert small.status_code == 201
    assert big.status_code == 507
    assert "for lite ledig lagringsplass" in big.text and "administrator" in big.text


def test_attach_and_going_live_are_refused_below_the_floor(settings):
    full = settings.replace(min_free_disk_mb=10**9)
    with database.session(settings) as db:
        organiser = make_user(settings, "organiser")
        talk = factories.talk(db, organiser)
    client = _client(full)
    with client:
        login(client, "organiser@kommune.no")
        csrf = client.get("/logg-inn").text.split('name="csrf-token" content="')[1][:64]
        attach = client.post(
            f"/talks/{talk.slug}/opptak", json={"upload_id": "x" * 32},
            headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
        )  # fmt: skip
        live = post(client, f"/talks/{talk.slug}/direkte/koder")
    assert attach.status_code == 507 and "lagringsplass" in attach.json()["error"]
    assert live.status_code == 507 and "lagringsplass" in live.text
    english = i18n.translate(attach.json()["error"], "en")
    assert "storage" in english and "GB" in english


# ------------------------------------------------------------------ ktl doctor


def _doctor(settings, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KTL_")}
    environment["KTL_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        environment["KTL_DATABASE_URL"] = settings.database_url
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "doctor"], env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_doctor_says_what_to_fix(settings):
    from tests.liveserver import free_port

    port = free_port()
    secret = settings.data_dir / "secret.key"
    secret.write_text("x" * 64)
    secret.chmod(0o644)
    done = _doctor(
        settings, KTL_PUBLIC_URL="https://kunnskap.kommune.no", KTL_MIN_FREE_DISK_MB="999999999",
        KTL_SRT_PORTS=f"{port}-{port}",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "OK       ffmpeg version" in out and "libx264" in out and "libsrt" in out
    assert "verifisert (sha256)" in out
    assert "RETT OPP KTL_COOKIE_SECURE" not in out  # the sentence names it differently:
    assert "KTL_COOKIE_SECURE er ikke 1: sett KTL_COOKIE_SECURE=1" in out
    assert "chmod 600" in out
    assert "opplastinger og sendinger avvises nå" in out
    assert "må rettes opp" in out


def test_doctor_passes_a_sound_deployment(settings):
    from tests.liveserver import free_port

    port = free_port()
    done = _doctor(
        settings, KTL_PUBLIC_URL="https://kunnskap.kommune.no", KTL_COOKIE_SECURE="1",
        KTL_SECRET_KEY="k" * 40, KTL_SRT_PORTS=f"{port}-{port}", KTL_MIN_FREE_DISK_MB="1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RETT OPP" not in done.stdout
    assert "Alt som må være i orden, er i orden" in done.stdout
    version = len(database.all_migrations())
    if settings.database_url:
        assert "OK       PostgreSQL på postgresql://" in done.stdout
        version = len(all_pg_migrations())
    else:
        assert f"OK       SQLite-databasen {settings.db_path}" in done.stdout
    assert f"har skjemaversjon {version}, som denne utgaven venter" in done.stdout


def test_doctor_says_when_postgresql_does_not_answer(settings):
    from tests.liveserver import free_port

    nowhere = f"postgresql://ktl:pg-passord-9@127.0.0.1:{free_port()}/ktl"  # nothing listens
    done = _doctor(settings, KTL_DATABASE_URL=nowhere)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "RETT OPP Fikk ikke kontakt med PostgreSQL på postgresql://ktl:***@" in done.stdout
    assert "pg-passord-9" not in done.stdout


def test_doctor_checks_oidc_discovery(settings):
    from tests.liveserver import free_port

    port = free_port()  # nothing listens there
    done = _doctor(
        settings, KTL_PUBLIC_URL="http://kunnskap.kommune.no", KTL_SRT_PORTS=f"{port}-{port}",
        KTL_OIDC_ISSUER=f"http://127.0.0.1:{port}/realm", KTL_OIDC_CLIENT_ID="ktl",
        KTL_OIDC_CLIENT_SECRET="s",
    )  # fmt: skip
    assert done.returncode == 1
    assert "OIDC-oppdagelsen på" in done.stdout and "sjekk KTL_OIDC_ISSUER" in done.stdout
    assert "bruker ikke https" in done.stdout


@pytest.mark.parametrize("value", ["-1"])
def test_a_negative_floor_is_refused(settings, value):
    done = _doctor(settings, KTL_MIN_FREE_DISK_MB=value)
    assert done.returncode == 2 and "KTL_MIN_FREE_DISK_MB" in done.stderr


def test_readiness_and_metrics_use_the_apps_store(settings, monkeypatch):
    """/readyz and /metrics borrow the app's pooled connections (app.state.store) instead
    of opening a store, and so a new SQLite connection, at every call. Counted by wrapping
    the store's real `connect` (a spy: every connection is still a real one)."""
    from server.store import store as store_module

    opened = []
    real_connect = store_module.connect

    def counting_connect(path):
        opened.append(path)
        return real_connect(path)

    def counting_pg_connect(cls, *args, **kwargs):  # what the pool opens connections with
        opened.append(args[:1])
        return real_pg_connect(cls, *args, **kwargs)

    monkeypatch.setattr(store_module, "connect", counting_connect)
    real_pg_connect = psycopg.Connection.connect.__func__
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(counting_pg_connect))
    with _client(settings) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        before = len(opened)
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
            assert client.get("/metrics").status_code == 200
    assert len(opened) == before
