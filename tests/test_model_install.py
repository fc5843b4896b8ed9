"""`ktl model install NAME` from the hub, from a folder and from an archive; `ktl models`
with checksums and `--measure`.

The hub path runs against tests/hubserver.py, a local HTTP server that speaks the model
hub's file URLs (nothing from the internet in tests): it serves the packaged base model's
files as the repository of the catalogue's `tiny` (the same four files
Systran/faster-whisper-tiny ships), cuts the connection once in the middle of model.bin to
prove that the download resumes with a Range request, and in another run changes a byte to
prove that the checksum is checked. The folder and archive paths are real: a CTranslate2
folder built from the packaged base model, installed, listed, loaded and measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from server.core.config import load_settings
from server.pipeline import hub, models, transcribe
from tests.hubserver import COMMIT, Hub, HubServer, repo_from_folder

ROOT = Path(__file__).resolve().parent.parent
BASE_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


@pytest.fixture(scope="module")
def base_dir() -> Path:
    return transcribe.install_base_model(load_settings(env={}).model_cache_dir)


@pytest.fixture(scope="module")
def tiny_repo(base_dir: Path) -> dict[str, bytes]:
    layout = {remote: local for remote, local in hub.CATALOGUE["tiny"].files}
    assert set(layout.values()) == set(BASE_FILES), layout
    return repo_from_folder(base_dir, layout)


def ktl(tmp_path: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KTL_")}
    clean.update(KTL_DATA_DIR=str(tmp_path / "data"), KTL_MODEL_CACHE_DIR=str(cache), **env)
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_hub_install_resumes_a_dropped_download_and_records_checksums(tmp_path, tiny_repo):
    size = len(tiny_repo["model.bin"])
    fake = Hub("Systran/faster-whisper-tiny", tiny_repo, drop_after={"model.bin": size // 3})
    cache = tmp_path / "models"
    with HubServer(fake) as server:
        result = ktl(tmp_path, cache, "model", "install", "tiny", KTL_MODEL_HUB_URL=server.url)
    assert result.returncode == 0, result.stderr
    assert f"Whisper-modellen er på plass i {cache / 'tiny'}" in result.stdout
    assert "KTL_WHISPER_MODEL=tiny" in result.stdout
    assert "model.bin" in result.stderr  # tqdm's bar, labelled with the file
    gets = [(path, rng) for method, path, rng in fake.requests if method == "GET"]
    assert ("/cdn/model.bin", "") in gets
    # resumed where the written part ended (whole 1 MiB blocks), not restarted
    resumed = [int(rng[6:-1]) for path, rng in gets if path == "/cdn/model.bin" and rng]
    assert len(resumed) == 1 and 0 < resumed[0] <= size // 3, gets
    assert all(path.startswith(f"/Systran/faster-whisper-tiny/resolve/{COMMIT}/")
               for path, _ in gets if not path.startswith("/cdn/")), gets  # fmt: skip
    folder = cache / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BASE_FILES, hub.MANIFEST])
    assert hub.sha256_of(folder / "model.bin") == transcribe.BASE_MODEL_SHA256
    manifest = json.loads((folder / hub.MANIFEST).read_text())
    repo = "Systran/faster-whisper-tiny"
    source = {"kind": "hub", "endpoint": server.url, "repo": repo, "revision": COMMIT}
    assert manifest["source"] == source
    model_bin = {"size": size, "sha256": transcribe.BASE_MODEL_SHA256}
    assert manifest["files"]["model.bin"] == model_bin
    assert not list(cache.glob(".download-*")), "the staging folder is gone"

    listing = ktl(tmp_path, cache, "models", "--verify", KTL_WHISPER_MODEL="tiny")
    assert listing.returncode == 0, listing.stderr
    line = next(x for x in listing.stdout.splitlines() if f"{os.sep}tiny  " in x)
    assert line.lstrip().startswith("*") and "sjekksum ok" in line and "← i bruk" in line


def test_hub_install_refuses_a_corrupted_file_and_installs_nothing(tmp_path, tiny_repo):
    fake = Hub("Systran/faster-whisper-tiny", tiny_repo, corrupt={"model.bin"})
    cache = tmp_path / "models"
    with HubServer(fake) as server:
        result = ktl(tmp_path, cache, "model", "install", "tiny", KTL_MODEL_HUB_URL=server.url)
    assert result.returncode == 2
    assert "Feil: model.bin fra modellbanken har feil sjekksum og er slettet." in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cache / "tiny").exists()
    assert not list(cache.rglob("*.part")), "the bad download is deleted"


def test_hub_errors_are_norwegian_sentences(tmp_path, tiny_repo):
    cache = tmp_path / "models"
    unknown = ktl(tmp_path, cache, "model", "install", "whisper-enorm")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("Feil: Kjenner ikke modellen «whisper-enorm».")
    assert "nb-whisper-medium" in unknown.stderr
    missing = {k: v for k, v in tiny_repo.items() if k != "vocabulary.txt"}
    with HubServer(Hub("Systran/faster-whisper-tiny", missing)) as server:
        result = ktl(tmp_path, cache, "model", "install", "tiny", KTL_MODEL_HUB_URL=server.url)
    assert result.returncode == 2
    assert "Feil: Modellbanken svarte 404 for" in result.stderr
    assert "vocabulary.txt" in result.stderr and "Traceback" not in result.stderr
    listed = ktl(tmp_path, cache, "model", "list")
    assert "nb-whisper-large" in listed.stdout and "NbAiLab/nb-whisper-large" in listed.stdout


def _tar(source: Path, dest: Path, top: str = "modell") -> Path:
    with tarfile.open(dest, "w") as tar:
        for name in BASE_FILES:
            tar.add(source / name, arcname=f"{top}/{name}")
    return dest


def test_archive_install_then_list_load_and_measure(tmp_path, base_dir):
    cache = tmp_path / "models"
    archive = _tar(base_dir, tmp_path / "base-ct2.tar")
    result = ktl(tmp_path, cache, "model", "install", "min-base", "--from", str(archive))
    assert result.returncode == 0, result.stderr
    assert "ingen sjekksummer fulgte med; sha256 er registrert" in result.stdout
    folder = cache / "min-base"
    manifest = hub.read_manifest(folder)
    assert manifest and manifest["source"]["kind"] == "path"
    assert manifest["files"]["model.bin"]["sha256"] == transcribe.BASE_MODEL_SHA256

    # --measure loads the installed model with faster-whisper and transcribes the built-in
    # espeak-ng clip; the RTF is stored and listed.
    measured = ktl(tmp_path, cache, "models", "--measure", KTL_WHISPER_MODEL="min-base")
    assert measured.returncode == 0, measured.stderr
    assert "Målt min-base: RTF " in measured.stdout
    line = next(x for x in measured.stdout.splitlines() if f"{os.sep}min-base  " in x)
    assert "RTF ikke målt" not in line and "← i bruk" in line, line
    stored = models.load_measurements(cache)[str(folder.resolve())]
    assert stored.rtf > 0 and stored.clip == "maal.wav" and stored.audio_s > 10

    # A damaged file is found by --verify against the manifest recorded at install.
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    checked = ktl(tmp_path, cache, "models", "--verify", KTL_WHISPER_MODEL="min-base")
    assert "sjekksum feil: config.json" in checked.stdout


def test_folder_with_its_manifest_is_verified_and_a_bad_archive_refused(tmp_path, base_dir):
    cache = tmp_path / "models"
    first = ktl(tmp_path, cache, "model", "install", "a", "--from", str(base_dir))
    assert first.returncode == 0, first.stderr
    # The installed folder, manifest included, carried to another server: checked against it.
    other = tmp_path / "other"
    moved = ktl(tmp_path, other, "model", "install", "a", "--from", str(cache / "a"))
    assert moved.returncode == 0, moved.stderr
    assert "sjekksummene som fulgte med stemmer" in moved.stdout

    # A zip whose SHA256SUMS does not match its model.bin is refused; nothing installed.
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zipped:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            zipped.write(base_dir / name, name)
        zipped.writestr("model.bin", b"not a model")
        zipped.writestr("SHA256SUMS", f"{transcribe.BASE_MODEL_SHA256}  model.bin\n")
    refused = ktl(tmp_path, other, "model", "install", "b", "--from", str(bad))
    assert refused.returncode == 2
    assert "model.bin i" in refused.stderr and "har feil sjekksum" in refused.stderr
    assert not (other / "b").exists() and not list(other.glob(".import-*"))

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.add(base_dir / "config.json", arcname="../../utenfor/config.json")
    escaped = ktl(tmp_path, other, "model", "install", "c", "--from", str(evil))
    assert escaped.returncode == 2 and "Traceback" not in escaped.stderr
    assert not (tmp_path / "utenfor").exists()
    for bad_name in ("base", "Stor Modell"):
        named = ktl(tmp_path, other, "model", "install", bad_name, "--from", str(base_dir))
        assert named.returncode == 2 and named.stderr.startswith("Feil: "), named.stderr


def test_admin_page_shows_the_installed_models(settings, tmp_path, base_dir):
    """The admin's vocabulary page lists what `ktl models` lists: size, measured RTF,
    checksum state and which model is in use, in the reader's language."""
    from starlette.testclient import TestClient

    from server.web.app import create_app
    from tests.webclient import login, make_user

    cache = tmp_path / "models"
    folder, _checked = hub.install_from_path("min-base", base_dir, cache)
    measurement = models.Measurement(0.123, "maal.wav", 25.0, "2026-11-30 06:00", "int8")
    models._save_measurement(cache, folder.resolve(), measurement)
    app_settings = settings.replace(model_cache_dir=cache, whisper_model="min-base")
    admin = make_user(app_settings, "admin")
    with TestClient(create_app(app_settings), follow_redirects=False) as client:
        login(client, admin.email)
        page = client.get("/admin/ordliste", headers={"Accept-Language": "nb"}).text
        english = client.get("/admin/ordliste", headers={"Accept-Language": "en"}).text
    assert "Talemodeller" in page and "(nå: min-base)" in page
    row = page.split('title="' + str(folder.resolve()) + '">min-base</th>', 1)[1]
    row = row.split("</tr>", 1)[0]
    assert "145 MB" in row and "0.123" in row and "registrert" in row and ">ja<" in row
    assert "Speech models" in english and "Real-time factor" in english


def test_batched_and_sequential_decoding_write_the_same_words(tmp_path):
    """KTL_WHISPER_BATCH_SIZE > 0 (the default) goes through faster-whisper's
    BatchedInferencePipeline, 0 decodes window after window; on a clear clip both paths give
    the words spoken, with word timestamps, in order, in caption-sized segments."""
    from benchmarks import wer
    from server.pipeline.transcribe import FasterWhisperEngine
    from tests import factories

    clip = factories.speech_wav(tmp_path / "talk.wav", factories.LONG_ENGLISH_SPEECH)
    sequential = FasterWhisperEngine(load_settings(env={"KTL_WHISPER_BATCH_SIZE": "0"}))
    batched = FasterWhisperEngine(load_settings(env={}))  # the default: batches of 8
    shares: list[float] = []
    texts = {}
    for name, engine in (("sequential", sequential), ("batched", batched)):
        out = engine.transcribe(clip, "en", 0.0, shares.append)
        assert out.segments and all(s.words for s in out.segments), name
        starts = [w.start for s in out.segments for w in s.words]
        assert starts == sorted(starts), name
        assert len(out.segments) >= 3, f"{name}: one segment per sentence or so, not per chunk"
        texts[name] = out.text
        score = wer.wer(factories.LONG_ENGLISH_SPEECH, out.text, "en")
        assert score < 0.25, f"{name}: WER {score:.0%}: {out.text}"
    assert shares and shares[-1] == pytest.approx(1.0, abs=0.1)
    assert wer.wer(texts["sequential"], texts["batched"], "en") < 0.2, texts


def test_nb_whisper_layout_takes_ct2_files_and_skips_a_missing_optional_file(tmp_path, base_dir):
    """NbAiLab's repositories keep the CTranslate2 files in ct2/ and the tokenizer at the
    top; preprocessor_config.json is fetched only when the repository has it. (The bytes
    served are the packaged base model's: only the file mapping is under test here.)"""
    repo = {
        "ct2/model.bin": (base_dir / "model.bin").read_bytes(),
        "ct2/config.json": (base_dir / "config.json").read_bytes(),
        "ct2/vocabulary.json": b'["<|endoftext|>"]',
        "tokenizer.json": (base_dir / "tokenizer.json").read_bytes(),
    }
    fake = Hub("NbAiLab/nb-whisper-tiny", repo)
    with HubServer(fake) as server:
        settings = load_settings(env={}, model_cache_dir=tmp_path, model_hub_url=server.url)
        folder = hub.install_from_hub("nb-whisper-tiny", settings, progress=False)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", hub.MANIFEST, "model.bin", "tokenizer.json", "vocabulary.json"]
    heads = [path for method, path, _ in fake.requests if method == "HEAD"]
    assert any(path.endswith("/resolve/main/preprocessor_config.json") for path in heads)
