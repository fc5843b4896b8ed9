"""`ktl doctor`: checks a deployment and says, in Norwegian, what is fine and what to fix.

Each check returns Findings: OK, a warning (worth a look) or an error (must be fixed; the
command then exits with status 1). Only missing data folders are made (to test them).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from server.core.config import Settings
from server.live.manager import _port_free
from server.ops import diskspace
from server.store import DatabaseError
from server.store.postgres import PostgresError

OK, WARN, ERROR = "ok", "advarsel", "feil"
LABELS = {OK: "OK       ", WARN: "ADVARSEL ", ERROR: "RETT OPP "}
FFMPEG_NEEDS = {
    "-encoders": (("libx264", "H.264-koderen libx264"), ("aac", "AAC-lydkoderen")),
    "-protocols": (("srt", "SRT-protokollen (libsrt), for kodere som sender direkte"),),
    "-muxers": (("hls", "HLS-muxeren"),),
}


@dataclass(frozen=True)
class Finding:
    level: str
    text: str


def _run(args: list[str]) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def check_ffmpeg(settings: Settings) -> Iterator[Finding]:
    for tool in ("ffmpeg", "ffprobe"):
        out = _run([tool, "-hide_banner", "-version"])
        if out is None:
            yield Finding(
                ERROR, f"{tool} mangler eller kan ikke kjøres: installer Debian-pakken ffmpeg."
            )
            continue
        version = out.splitlines()[0] if out else tool
        yield Finding(OK, version.strip())
    for flag, needs in FFMPEG_NEEDS.items():
        listing = _run(["ffmpeg", "-hide_banner", flag]) or ""
        names = set(re.findall(r"^\s*\S+\s+(\S+)", listing, re.MULTILINE)) | set(listing.split())
        for name, what in needs:
            if name in names:
                yield Finding(OK, f"ffmpeg har {what}.")
            else:
                yield Finding(ERROR, f"ffmpeg mangler {what}: installer Debians ffmpeg-pakke.")


def check_slides(settings: Settings) -> Iterator[Finding]:
    """Tesseract and its language data: without them the talks become watchable all the
    same, but their slides are not read (a warning, not an error)."""
    if not settings.slides:
        yield Finding(OK, "Lysbildene i opptakene leses ikke (KTL_SLIDES er slått av).")
        return
    out = _run(["tesseract", "--list-langs"])
    if out is None:
        yield Finding(WARN, "tesseract mangler: lysbildene i opptakene blir ikke lest. Installer "
                            "tesseract-ocr, tesseract-ocr-nor og tesseract-ocr-eng.")  # fmt: skip
        return
    have = {line.strip() for line in out.splitlines()[1:]}
    missing = [lang for lang in settings.slides_languages.split("+") if lang not in have]
    if missing:
        packages = ", ".join(f"tesseract-ocr-{lang}" for lang in missing)
        yield Finding(WARN, f"Tesseract mangler språkdata {'+'.join(missing)} "
                            f"(KTL_SLIDES_LANGUAGES): installer {packages}.")  # fmt: skip
    else:
        yield Finding(OK, f"Tesseract leser lysbildene ({settings.slides_languages}).")


def check_model(settings: Settings) -> Iterator[Finding]:
    from server.pipeline import models

    report = models.report(settings, check_sha=True)
    if report.error:
        yield Finding(ERROR, f"Whisper-modellen: {report.error}")
        return
    if settings.whisper_model == "base":
        if not report.base.installed:
            yield Finding(ERROR, "Whisper base er ikke installert: kjør «ktl model install».")
        elif report.base.sha256_ok is False:
            yield Finding(
                ERROR, "Whisper base har feil sjekksum: slett mappen og kjør «ktl model install»."
            )
        else:
            yield Finding(OK, f"Whisper base er på plass og verifisert (sha256) i {report.in_use}.")
        return
    yield Finding(
        OK,
        f"Whisper-modellen i {report.in_use} finnes "
        "(egen modell: ingen sjekksum å sammenligne med).",
    )


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            return True
    except OSError:
        return False


def check_folders(settings: Settings) -> Iterator[Finding]:
    for folder in (
        settings.data_dir,
        settings.media_dir,
        settings.transcripts_dir,
        settings.uploads_dir,
    ):
        if _writable(folder):
            yield Finding(OK, f"{folder} kan skrives.")
        else:
            yield Finding(ERROR, f"{folder} kan ikke skrives: gi tjenestebrukeren skrivetilgang.")


def check_database(settings: Settings) -> Iterator[Finding]:
    """PostgreSQL at KTL_DATABASE_URL (it answers, its schema is this release's), or the
    SQLite file in the data folder (its schema version)."""
    if settings.database_url:
        yield from _check_postgres(settings.database_url)
        return
    from server.store import db as database

    path = settings.db_path
    if not path.is_file():
        yield Finding(OK, f"Ingen database ennå i {path}: «ktl serve» lager den.")
        return
    try:
        version = database.schema_version(path)
    except DatabaseError as exc:
        yield Finding(ERROR, f"SQLite-databasen {path} kan ikke leses ({exc}): sjekk filen "
                             "og rettighetene, eller gjenopprett med «ktl restore».")  # fmt: skip
        return
    yield from _schema_findings(f"SQLite-databasen {path}", version,
                                len(database.all_migrations()))  # fmt: skip


def _check_postgres(url: str) -> Iterator[Finding]:
    from server.store import postgres
    from server.store.pg_migrations import all_pg_migrations

    where = f"PostgreSQL på {postgres.redacted(url)}"
    try:
        conn = postgres.connect(url, autocommit=True)
    except postgres.PostgresError as exc:
        yield Finding(ERROR, str(exc))
        return
    try:
        version = postgres.schema_version(conn)
        server_version = conn.info.server_version
    except DatabaseError as exc:
        yield Finding(ERROR, f"{where} svarer, men skjemaet kan ikke leses ({exc}): sjekk at "
                             "brukeren i adressen har tilgang til databasen.")  # fmt: skip
        return
    finally:
        conn.close()
    major, minor = divmod(server_version, 10000)
    yield Finding(OK, f"{where} svarer (PostgreSQL {major}.{minor}).")
    yield from _schema_findings(where, version, len(all_pg_migrations()))


def _schema_findings(where: str, version: int, known: int) -> Iterator[Finding]:
    if version > known:
        yield Finding(ERROR, f"{where} har skjemaversjon {version}, men denne utgaven kjenner "
                             f"bare {known}: oppgrader programmet.")  # fmt: skip
    elif version < known:
        yield Finding(WARN, f"{where} har skjemaversjon {version} av {known}: «ktl serve» "
                            "eller «ktl worker» oppgraderer skjemaet når den starter.")  # fmt: skip
    else:
        yield Finding(OK, f"{where} har skjemaversjon {version}, som denne utgaven venter.")


def check_disk(settings: Settings) -> Iterator[Finding]:
    from server.core.units import format_size

    free, floor = diskspace.free_bytes(settings.data_dir), diskspace.floor_bytes(settings)
    limit = format_size(floor)
    text = f"{format_size(free)} ledig i datamappen (grensen KTL_MIN_FREE_DISK_MB er {limit})"
    if free < floor:
        yield Finding(ERROR, f"{text}: opplastinger og sendinger avvises nå. Frigjør plass.")
    elif free < 2 * floor:
        yield Finding(WARN, f"{text}: snart fullt. Frigjør plass eller utvid disken.")
    else:
        yield Finding(OK, f"{text}.")


def check_secret(settings: Settings) -> Iterator[Finding]:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            yield Finding(ERROR, "KTL_SECRET_KEY er for kort: bruk minst 32 tilfeldige tegn.")
        else:
            yield Finding(OK, "KTL_SECRET_KEY er satt.")
        return
    path = settings.paths.secret
    if not path.exists():
        yield Finding(WARN, f"Ingen hemmelig nøkkel ennå: {path} lages ved første oppstart.")
    elif path.stat().st_mode & 0o077:
        yield Finding(ERROR, f"{path} kan leses av andre: kjør «chmod 600 {path}».")
    elif path.stat().st_uid != os.getuid():
        yield Finding(WARN, f"{path} eies av en annen bruker enn den som kjører ktl.")
    else:
        yield Finding(OK, f"Den hemmelige nøkkelen i {path} kan bare leses av eieren.")


def check_public_url(settings: Settings) -> Iterator[Finding]:
    url = settings.public_url
    if not url:
        yield Finding(
            ERROR,
            "KTL_PUBLIC_URL er ikke satt: sett den til nettstedets adresse, f.eks. https://kunnskap.kommune.no.",
        )
        return
    if not url.startswith("https://"):
        yield Finding(
            ERROR,
            f"KTL_PUBLIC_URL ({url}) bruker ikke https: sett opp TLS i nginx og bruk https://.",
        )
        return
    yield Finding(OK, f"KTL_PUBLIC_URL er {url}.")
    if settings.cookie_secure:
        yield Finding(OK, "KTL_COOKIE_SECURE=1: informasjonskapsler sendes bare over HTTPS.")
    else:
        yield Finding(
            ERROR,
            "Nettstedet bruker HTTPS, men KTL_COOKIE_SECURE er ikke 1: sett KTL_COOKIE_SECURE=1.",
        )


def check_oidc(settings: Settings) -> Iterator[Finding]:
    if not settings.oidc_enabled:
        yield Finding(OK, "Enkel pålogging (OIDC) er ikke satt opp; bare lokale passord brukes.")
        return
    import httpx

    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        yield Finding(
            ERROR,
            f"OIDC-oppdagelsen på {url} svarer ikke som den skal ({exc}): "
            "sjekk KTL_OIDC_ISSUER og brannmuren.",
        )
        return
    if document.get("issuer", "").rstrip("/") != settings.oidc_issuer.rstrip("/"):
        yield Finding(
            ERROR, f"OIDC-oppdagelsen på {url} oppgir en annen utsteder: sjekk KTL_OIDC_ISSUER."
        )
    else:
        yield Finding(OK, f"OIDC-oppdagelsen på {url} svarer.")


def check_srt_ports(settings: Settings) -> Iterator[Finding]:
    first, last = settings.srt_port_range()
    taken = [p for p in range(first, last + 1) if not _port_free(settings.srt_bind, p)]
    total = last - first + 1
    if len(taken) == total:
        yield Finding(
            ERROR,
            f"Alle SRT-portene {settings.srt_ports} er opptatt: "
            "velg et annet område i KTL_SRT_PORTS.",
        )
    elif taken:
        ports = ", ".join(map(str, taken[:10]))
        yield Finding(
            WARN,
            f"{len(taken)} av {total} SRT-porter er opptatt ({ports}); "
            "er en sending i gang, er det som ventet.",
        )
    else:
        yield Finding(
            OK, f"SRT-portene {settings.srt_ports} er ledige (åpne UDP i brannmuren for kodere)."
        )


def check_workers(settings: Settings) -> Iterator[Finding]:
    """The workers running now (seen within the job lease) and queued jobs none of them takes."""
    from server.pipeline import presence
    from server.store import db as database
    from server.store import postgres

    if not settings.database_url and not settings.db_path.is_file():
        yield Finding(OK, "Ingen database ennå, så ingen jobber venter.")
        return
    within = settings.job_lease_seconds
    try:
        with database.session(settings) as db:
            if settings.database_url and postgres.schema_version(db) == 0:
                yield Finding(OK, "Databasen har ikke skjemaet ennå, så ingen jobber venter.")
                return
            present, waiting = presence.running(db, within), presence.unserved(db, within)
    except (*DatabaseError, PostgresError) as exc:
        yield Finding(WARN, f"Kunne ikke lese arbeiderne fra databasen ({exc}): start ktl serve.")
        return
    for worker in present:
        takes = ", ".join(sorted(worker.stages)) if worker.stages else "alle trinn"
        yield Finding(OK, f"Arbeideren {worker.name} på {worker.host} kjører og tar {takes}.")
    if not present:
        yield Finding(WARN, "Ingen arbeider kjører nå: start ktl serve (med innebygd arbeider) "
                            "eller ktl worker, ellers blir nye opptak liggende i kø.")  # fmt: skip
    for stage, count in waiting.items():
        yield Finding(
            WARN,
            f"{count} jobb(er) venter på trinnet «{stage}», og ingen arbeider som kjører tar det: "
            f"start en med ktl worker --only {stage} (eller uten --only).",
        )


CHECKS: tuple[tuple[str, Callable[[Settings], Iterator[Finding]]], ...] = (
    ("ffmpeg", check_ffmpeg),
    ("Whisper-modell", check_model),
    ("Lysbilder (Tesseract)", check_slides),
    ("Database", check_database),
    ("Mapper", check_folders),
    ("Diskplass", check_disk),
    ("Hemmelig nøkkel", check_secret),
    ("Offentlig adresse og HTTPS", check_public_url),
    ("Enkel pålogging", check_oidc),
    ("SRT-porter", check_srt_ports),
    ("Arbeidere", check_workers),
)


def run(settings: Settings) -> list[tuple[str, list[Finding]]]:
    return [(title, list(check(settings))) for title, check in CHECKS]


def format_report(results: list[tuple[str, list[Finding]]]) -> list[str]:
    lines = []
    for title, findings in results:
        lines.append(f"{title}:")
        lines += [f"  {LABELS[f.level]}{f.text}" for f in findings]
    errors = sum(f.level == ERROR for _t, found in results for f in found)
    warnings = sum(f.level == WARN for _t, found in results for f in found)
    if errors:
        lines.append(
            f"{errors} ting må rettes opp (og {warnings} advarsler) før driftssettingen er i orden."
        )
    else:
        lines.append(f"Alt som må være i orden, er i orden ({warnings} advarsler).")
    return lines


def has_errors(results: list[tuple[str, list[Finding]]]) -> bool:
    return any(f.level == ERROR for _t, found in results for f in found)
