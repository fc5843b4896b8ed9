"""`ktl model install NAME`: Whisper models in CTranslate2 format, as their publishers ship
them, from the model hub or from a folder or archive carried in by hand.

The hub is spoken through its plain file URLs, ``{endpoint}/{repo}/resolve/{revision}/{file}``
(KTL_MODEL_HUB_URL, default https://huggingface.co). A HEAD request per file gives the
commit (``X-Repo-Commit``; every file is then fetched from that one commit) and the
expected checksum: the sha256 of a large (LFS) file in ``X-Linked-Etag``, the git blob sha1
of a small file in ``ETag``. Each file is downloaded into ``NAME.part`` in a hidden staging
folder, resuming with an HTTP Range request after a dropped connection (and in a later
run), checked, and only when every file is right does the staging folder become the
model's folder, with ``ktl-manifest.json`` recording where it came from and each file's
size and sha256. A folder or .tar/.zip archive is checked against the manifest or
``SHA256SUMS`` it carries; without one, the checksums are recorded at install and
``ktl models --verify`` checks the files against them later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from server.core.config import Settings
from server.core.i18n import N_
from server.pipeline.transcribe import BASE_DIR, ModelError, install_base_model

MANIFEST = "ktl-manifest.json"
SUMS_FILE = "SHA256SUMS"
REQUIRED = ("model.bin", "config.json")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RETRIES = 5
CHUNK = 1 << 20
# Fetched when the repository has it: faster-whisper reads the feature size from it (128 mel
# bands for large-v3) and assumes Whisper's 80 without it.
OPTIONAL = {"preprocessor_config.json"}


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    repo: str
    files: tuple[tuple[str, str], ...]  # (path in the repository, file name here)
    about: str


def _nb(size: str, about: str) -> CatalogueEntry:
    # The National Library ships CTranslate2 files in ct2/; the tokenizer and the feature
    # settings (128 mel bands for large) sit at the repository's top. Checked against the
    # hub's published listings of NbAiLab/nb-whisper-{tiny,base,small,medium,large}: ct2/
    # holds config.json, model.bin (float32: 151 MB, 290 MB, 967 MB, 3.06 GB, 6.17 GB) and
    # vocabulary.json, and nothing else; preprocessor_config.json is at the top (80 mel bands,
    # 128 for large), with tokenizer.json (a copy is also in onnx/).
    files = (("ct2/model.bin", "model.bin"), ("ct2/config.json", "config.json"),
             ("ct2/vocabulary.json", "vocabulary.json"), ("tokenizer.json", "tokenizer.json"),
             ("preprocessor_config.json", "preprocessor_config.json"))  # fmt: skip
    return CatalogueEntry(f"nb-whisper-{size}", f"NbAiLab/nb-whisper-{size}", files, about)


def _openai(size: str, about: str, vocabulary: str = "vocabulary.txt") -> CatalogueEntry:
    names = ["model.bin", "config.json", "tokenizer.json", vocabulary]
    if size.startswith("large"):
        names.append("preprocessor_config.json")
    files = tuple((n, n) for n in names)
    return CatalogueEntry(size, f"Systran/faster-whisper-{size}", files, about)


CATALOGUE: dict[str, CatalogueEntry] = {
    e.name: e
    for e in (
        _nb("tiny", "NB-Whisper tiny (Nasjonalbiblioteket), ≈ 150 MB"),
        _nb("base", "NB-Whisper base (Nasjonalbiblioteket), ≈ 290 MB"),
        _nb("small", "NB-Whisper small (Nasjonalbiblioteket), ≈ 970 MB"),
        _nb("medium", "NB-Whisper medium (Nasjonalbiblioteket), ≈ 3 GB, ≈ 7,6 % WER på FLEURS"),
        _nb("large", "NB-Whisper large (Nasjonalbiblioteket), ≈ 6 GB, ≈ 6,6 % WER på FLEURS"),
        _openai("tiny", "OpenAI Whisper tiny, flerspråklig, ≈ 75 MB"),
        _openai("small", "OpenAI Whisper small, flerspråklig, ≈ 480 MB"),
        _openai("medium", "OpenAI Whisper medium, flerspråklig, ≈ 1,5 GB"),
        _openai("large-v3", "OpenAI Whisper large-v3, flerspråklig, ≈ 3 GB", "vocabulary.json"),
    )
}
PACKAGED = "base"  # OpenAI's multilingual base comes from registry packages, not the hub


# --- checksums and the manifest ---------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The id git (and so the hub's ETag) gives a small file: sha1 of "blob SIZE\\0" + data."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, name: str, source: dict) -> dict:
    files = {
        p.name: {"size": p.stat().st_size, "sha256": sha256_of(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith((".", "ktl-"))
    }
    manifest = {"name": name, "source": source, "files": files,
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def check_files(folder: Path, files: dict, full: bool = True) -> list[str]:
    """The files that are missing or differ from the recorded size (and, if full, sha256)."""
    wrong = []
    for name, recorded in files.items():
        path = folder / name
        same_size = path.is_file() and path.stat().st_size == recorded.get("size")
        if not same_size or (full and sha256_of(path) != recorded.get("sha256")):
            wrong.append(name)
    return wrong


# --- installing -------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ModelError(
            N_("«%(name)s» kan ikke være et modellnavn: bruk små bokstaver, tall, - og _.")
            % {"name": name}
        )
    return name


def unknown_model(name: str) -> ModelError:
    known = ", ".join([PACKAGED, *CATALOGUE])
    message = N_(
        "Kjenner ikke modellen «%(name)s». Modeller som kan lastes ned: %(known)s. En modell "
        "du har fra før installeres med «ktl model install NAVN --from MAPPE-ELLER-ARKIV»."
    )
    return ModelError(message % {"name": name, "known": known})


def _staging(cache_dir: Path, name: str) -> Path:
    staging = cache_dir / f".download-{name}"  # hidden: `ktl models` does not list it
    staging.mkdir(parents=True, exist_ok=True)
    return staging


def _publish(staging: Path, target: Path) -> Path:
    old = target.with_name(f".old-{target.name}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _model_folder(root: Path) -> Path:
    """The folder in an unpacked archive or a carried-in folder that holds the model."""
    if all((root / f).is_file() for f in REQUIRED):
        return root
    for path in sorted(root.rglob("model.bin")):
        if (path.parent / "config.json").is_file():
            return path.parent
    message = N_("Fant ingen CTranslate2-modell (model.bin og config.json) i %(path)s.")
    raise ModelError(message % {"path": root})


def _unpack(archive: Path, into: Path) -> None:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ModelError(N_("Arkivet har filnavn utenfor sin egen mappe."))
                zipped.extractall(into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                tar.extractall(into, filter="data")
        else:
            message = N_("%(path)s er verken en mappe, et .tar- eller et .zip-arkiv.")
            raise ModelError(message % {"path": archive})
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        message = N_("Arkivet %(path)s kan ikke pakkes ut: %(error)s")
        raise ModelError(message % {"path": archive, "error": exc}) from exc


def _expected_from(folder: Path) -> dict[str, str] | None:
    """sha256 per file from a manifest or SHA256SUMS that came with the model, if any."""
    manifest = read_manifest(folder)
    if manifest is not None:
        return {n: str(f.get("sha256")) for n, f in manifest["files"].items()}
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return None
    expected = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.strip().partition(" ")
        if digest and name:
            expected[Path(name.strip().lstrip("*")).name] = digest.lower()
    return expected


def install_from_path(name: str, source: Path, cache_dir: Path) -> tuple[Path, bool]:
    """Copy a model folder or archive into the cache as NAME; (folder, checked against
    checksums that came with it)."""
    check_name(name)
    if not source.exists():
        raise ModelError(N_("Fant ingen fil eller mappe på %(path)s.") % {"path": source})
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".import-{name}-") as tmp:
        unpacked = Path(tmp) / "unpacked"
        if source.is_dir():
            model = _model_folder(source)
        else:
            _unpack(source, unpacked)
            model = _model_folder(unpacked)
        staging = Path(tmp) / "model"
        staging.mkdir()
        expected = _expected_from(model)
        files = [p for p in model.iterdir() if p.is_file() and not p.name.startswith(".")]
        for path in files:
            if path.name not in (MANIFEST, SUMS_FILE):
                shutil.copy2(path, staging / path.name)
        if expected is not None:
            _verify_against(staging, expected, source)
        record = {"kind": "path", "path": str(source.resolve()), "checked": expected is not None}
        write_manifest(staging, name, record)
        return _publish(staging, cache_dir / name), expected is not None


def _verify_against(folder: Path, expected: dict[str, str], source: Path) -> None:
    for file_name, digest in expected.items():
        path = folder / file_name
        if not path.is_file():
            message = N_("%(file)s mangler i %(path)s; modellen er ikke installert.")
            raise ModelError(message % {"file": file_name, "path": source})
        if sha256_of(path) != digest:
            message = N_(
                "%(file)s i %(path)s har feil sjekksum (filen er skadet eller en annen enn "
                "den som ble registrert); modellen er ikke installert."
            )
            raise ModelError(message % {"file": file_name, "path": source})


# --- from the hub -----------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    url: str  # the resolve URL at the pinned commit
    size: int | None
    sha256: str | None  # LFS files
    git_sha1: str | None  # small files
    commit: str


def _head(client: httpx.Client, base: str, entry: CatalogueEntry, revision: str,
          remote: str) -> Remote | None:  # fmt: skip
    url = f"{base}/{entry.repo}/resolve/{revision}/{remote}"
    try:
        answer = client.head(url, follow_redirects=False)
    except httpx.HTTPError as exc:
        message = N_("Fikk ikke kontakt med modellbanken %(url)s: %(error)s. Sjekk "
                     "KTL_MODEL_HUB_URL og nettet, eller bruk --from.")  # fmt: skip
        raise ModelError(message % {"url": base, "error": exc}) from exc
    if answer.status_code == 404 and Path(remote).name in OPTIONAL:
        return None
    if answer.status_code >= 400:
        message = N_("Modellbanken svarte %(status)s for %(url)s.")
        raise ModelError(message % {"status": answer.status_code, "url": url})
    h = answer.headers
    linked = h.get("x-linked-etag", "").strip('"').removeprefix("W/").strip('"')
    etag = h.get("etag", "").removeprefix("W/").strip('"')
    size = h.get("x-linked-size") or h.get("content-length")
    commit = h.get("x-repo-commit") or revision
    if not linked and not re.fullmatch(r"[0-9a-f]{40}", etag):
        message = N_("Modellbanken oppga ingen sjekksum for %(url)s; filen lastes ikke ned.")
        raise ModelError(message % {"url": url})
    return Remote(f"{base}/{entry.repo}/resolve/{commit}/{remote}",
                  int(size) if size and size.isdigit() else None,
                  linked or None, None if linked else etag, commit)  # fmt: skip


def _matches(path: Path, remote: Remote) -> bool:
    if remote.sha256:
        return sha256_of(path) == remote.sha256
    return git_blob_sha1(path) == remote.git_sha1


def _fetch(client: httpx.Client, remote: Remote, part: Path, bar: tqdm) -> None:
    """Download into part, resuming with Range after a dropped connection."""
    for attempt in range(RETRIES):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        bar.n = have
        bar.refresh()
        try:
            with client.stream("GET", remote.url, headers=headers, follow_redirects=True) as r:
                if r.status_code == 416:  # nothing left to fetch
                    return
                if r.status_code >= 400:
                    message = N_("Modellbanken svarte %(status)s for %(url)s.")
                    raise ModelError(message % {"status": r.status_code, "url": remote.url})
                mode = "ab" if r.status_code == 206 else "wb"
                with part.open(mode) as out:
                    for block in r.iter_bytes(CHUNK):
                        out.write(block)
                        bar.update(len(block))
            if remote.size is None or part.stat().st_size >= remote.size:
                return
        except (httpx.TransportError, httpx.RemoteProtocolError):
            time.sleep(min(2**attempt, 10) * 0.1)
    message = N_("Nedlastingen av %(url)s ble avbrutt %(count)s ganger. Kjør kommandoen igjen; "
                 "den fortsetter der den slapp.")  # fmt: skip
    raise ModelError(message % {"url": remote.url, "count": RETRIES})


def install_from_hub(name: str, settings: Settings, revision: str = "main",
                     progress: bool = True) -> Path:  # fmt: skip
    entry = CATALOGUE.get(name)
    if entry is None:
        raise unknown_model(name)
    base = settings.model_hub_url.rstrip("/")
    staging = _staging(settings.model_cache_dir, name)
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0)) as client:
        heads = {local: _head(client, base, entry, revision, remote)
                 for remote, local in entry.files}  # fmt: skip
        remotes = {local: head for local, head in heads.items() if head is not None}
        commit = next(iter(remotes.values())).commit
        for local, remote in remotes.items():
            _download_one(client, remote, staging / local, progress)
    source = {"kind": "hub", "endpoint": base, "repo": entry.repo, "revision": commit}
    write_manifest(staging, name, source)
    return _publish(staging, settings.model_cache_dir / name)


def _download_one(client: httpx.Client, remote: Remote, dest: Path, progress: bool) -> None:
    if dest.is_file() and _matches(dest, remote):
        return  # from an earlier, interrupted run
    part = dest.with_name(dest.name + ".part")
    with tqdm(total=remote.size, initial=0, unit="B", unit_scale=True, unit_divisor=1024,
              desc=dest.name, disable=not progress or None, leave=True) as bar:  # fmt: skip
        _fetch(client, remote, part, bar)
    if not _matches(part, remote):
        part.unlink()
        message = N_("%(file)s fra modellbanken har feil sjekksum og er slettet. Kjør "
                     "kommandoen igjen; står feilen seg, er filen i modellbanken en annen "
                     "enn oppgitt.")  # fmt: skip
        raise ModelError(message % {"file": dest.name})
    os.replace(part, dest)


def install(name: str, settings: Settings, source: Path | None = None,
            revision: str = "main", progress: bool = True) -> tuple[Path, str]:  # fmt: skip
    """Install NAME; returns the folder and a sentence saying how it was checked."""
    if name == PACKAGED and source is None:
        path = install_base_model(settings.model_cache_dir)
        return path, N_("fra modellpakkene, sha256 kontrollert")
    if name in (PACKAGED, BASE_DIR):
        raise ModelError(N_("Navnet «base» er den pakkede modellen; gi modellen et annet navn."))
    if source is not None:
        path, checked = install_from_path(name, source, settings.model_cache_dir)
        if checked:
            return path, N_("sjekksummene som fulgte med stemmer")
        return path, N_("ingen sjekksummer fulgte med; sha256 er registrert i ktl-manifest.json")
    path = install_from_hub(name, settings, revision, progress)
    return path, N_("lastet ned, hver fil kontrollert mot modellbankens sjekksum")


def catalogue_lines() -> Iterator[str]:
    yield f"  {PACKAGED:<18} OpenAI Whisper base, flerspråklig (følger med, ingen nedlasting)"
    for entry in CATALOGUE.values():
        yield f"  {entry.name:<18} {entry.about}  [{entry.repo}]"
