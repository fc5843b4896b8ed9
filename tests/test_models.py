"""`ktl models` in a subprocess, and the pure parts of benchmarks/wer.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import wer
from server.core.config import load_settings
from server.pipeline import transcribe

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_base() -> Path:
    """The base model the install step reassembled (installs it if this is a fresh cache)."""
    return transcribe.install_base_model(load_settings(env={}).model_cache_dir)


def _models(tmp_path: Path, cache: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KTL_")}
    clean.update(KTL_DATA_DIR=str(tmp_path / "data"), KTL_MODEL_CACHE_DIR=str(cache), **env)
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "models"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _fake_model(folder: Path, size: int = 2_500_000) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"\0" * size)
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def cache(tmp_path: Path, real_base: Path) -> Path:
    """A model cache with the verified base model (linked), one extra model, and decoys."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / transcribe.BASE_DIR).symlink_to(real_base, target_is_directory=True)
    _fake_model(folder / "nb-whisper-tiny-ct2")
    (folder / "halv").mkdir()
    (folder / "halv" / "model.bin").write_bytes(b"x")  # no config.json: not a model
    _fake_model(folder / ".whisper-base-staging")  # hidden: an unfinished install
    return folder


def _line(output: str, needle: str) -> str:
    """The line of the model listing (the last section) that mentions needle."""
    listing = output.split("CTranslate2-modeller i modellmappen", 1)[1]
    lines = [line for line in listing.splitlines()[1:] if needle in line]
    assert lines, f"{needle!r} not in:\n{output}"
    return lines[0]


def test_lists_base_as_installed_and_verified_and_the_extra_model(tmp_path, cache):
    result = _models(tmp_path, cache)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "KTL_WHISPER_MODEL   base (den pakkede flerspråklige base-modellen)" in out
    assert "status              installert og verifisert" in out
    assert "størrelse           145 217 532 byte" in out
    assert "sha256              ok" in out
    assert "enhet               cpu" in out and "beregningstype      int8" in out
    base = _line(out, f"{os.sep}{transcribe.BASE_DIR}  ")
    assert base.lstrip().startswith("*") and base.endswith("← i bruk")
    extra = _line(out, "nb-whisper-tiny-ct2")
    assert "i bruk" not in extra and "2,5 MB" in extra
    assert "halv" not in out and "staging" not in out


def test_another_model_in_the_cache_can_be_chosen_by_folder_name(tmp_path, cache):
    result = _models(tmp_path, cache, KTL_WHISPER_MODEL="nb-whisper-tiny-ct2",
                     KTL_WHISPER_DEVICE="cuda", KTL_WHISPER_COMPUTE_TYPE="float16")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _line(result.stdout, "nb-whisper-tiny-ct2").endswith("← i bruk")
    assert "i bruk" not in _line(result.stdout, f"{os.sep}{transcribe.BASE_DIR}  ")
    assert "enhet               cuda" in result.stdout and "float16" in result.stdout


def test_a_model_outside_the_cache_is_listed_as_in_use(tmp_path, cache):
    outside = _fake_model(tmp_path / "srv" / "nb-whisper-medium-ct2")
    result = _models(tmp_path, cache, KTL_WHISPER_MODEL=str(outside))
    assert result.returncode == 0, result.stderr
    assert _line(result.stdout, str(outside)).endswith("← i bruk")


def test_a_wrong_model_path_is_a_norwegian_error(tmp_path, cache):
    result = _models(tmp_path, cache, KTL_WHISPER_MODEL=str(tmp_path / "finnes-ikke"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"Feil: Fant ingen Whisper-modell i «{tmp_path}/finnes-ikke»")
    assert "KTL_WHISPER_MODEL må være «base»" in result.stderr
    assert "mappe               ikke funnet" in result.stdout
    assert "Traceback" not in result.stderr


def test_base_not_installed_or_corrupt(tmp_path):
    empty = tmp_path / "tom"
    result = _models(tmp_path, empty)
    assert result.returncode == 2
    assert "ikke installert (kjør «ktl model install»)" in result.stdout
    assert "Kjør «ktl model install»" in result.stderr
    broken = _fake_model(tmp_path / "broken" / transcribe.BASE_DIR, size=10)
    (broken / ".verified").write_text(transcribe.BASE_MODEL_SHA256)
    result = _models(tmp_path, broken.parent)
    assert result.returncode == 2
    assert "sha256              feil" in result.stdout
    assert "feil sjekksum" in result.stderr


# --- benchmarks/wer.py: the pure functions ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "words"),
    [
        ("Hei, på deg!  Hvordan går det?", "nb", "hei på deg hvordan går det"),
        ("Kommunen har tjueto barnehager og ett bibliotek.", "nb",
         "kommunen har 22 barnehager og 1 bibliotek"),
        ("Femogtjue eller tjue fem, ikke 25,0.", "nb", "25 eller 25 ikke 25.0"),
        ("Det er en bil og tre trær i 2024.", "nb", "det er en bil og 3 trær i 2024"),
        ("Tjuge og nitti, førtiåtte.", "nn", "20 og 90 48"),
        ("Twenty-one cats, 3.5 dogs; don't panic!", "en", "21 cats 3.5 dogs dont panic"),
        ("I went to the fire station at ten.", "en", "i went to the fire station at 10"),
        ("ÆRLIG Øl – Åpent.", "nb", "ærlig øl åpent"),
    ],
)  # fmt: skip
def test_normalise(text, language, words):
    assert wer.normalise(text, language) == words.split()


def test_edit_distance_and_wer():
    assert wer.edit_distance([], []) == 0
    assert wer.edit_distance(["a", "b", "c"], []) == 3
    assert wer.edit_distance([], ["a", "b"]) == 2
    assert wer.edit_distance(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"]) == 2  # 1 sub + 1 ins
    assert wer.edit_distance(["kitten", "sitting", "on"], ["sitting", "on"]) == 1
    assert wer.wer("Vi har tjue barnehager.", "vi har 20 barnehager") == 0.0
    assert wer.wer("en to tre fire", "en to tre") == pytest.approx(0.25)
    assert wer.wer("", "") == 0.0 and wer.wer("", "noe") == 1.0
    assert wer.wer("a b", "c d e f") == pytest.approx(2.0)  # WER may exceed 100%


def test_find_pairs(tmp_path):
    for name in ("a.wav", "a.txt", "b.mp4", "b.txt", "c.mp3", "notes.txt", "d.TXT"):
        (tmp_path / name).write_text("x")
    assert [(m.name, r.name) for m, r in wer.find_pairs(tmp_path)] == [
        ("a.wav", "a.txt"), ("b.mp4", "b.txt"),
    ]  # fmt: skip
