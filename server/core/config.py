"""One Settings object, read from KTL_* environment variables; CLI flags override."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from server.core import parse
from server.core.paths import DataPaths

LANGUAGES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "Engelsk"}
VISIBILITIES = {
    "public": "Åpen for alle, også uten innlogging",
    "internal": "Bare for innloggede ansatte",
    "draft": "Utkast: bare arrangøren og administratorer",
}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=Path.cwd)
    host: str = "127.0.0.1"
    port: int = 8000
    embedded_worker: bool = True
    whisper_model: str = "base"
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = 5
    whisper_language: str = ""
    whisper_threads: int = 0
    whisper_batch_size: int = 8  # > 0: faster-whisper's batched pipeline, this many windows
    whisper_workers: int = 1  # batches decoded at once (model replicas); 0: 2 on a CPU, 1 on a GPU
    whisper_temperature_fallback: bool = True  # retry a window at higher temperatures
    whisper_condition_on_previous_text: bool = False
    whisper_language_prompt: bool = False  # "Dette er et foredrag på norsk bokmål." per window
    whisper_vad_min_silence_ms: int = 2000  # silence that splits speech (faster-whisper's default)
    model_hub_url: str = "https://huggingface.co"  # where `ktl model install NAME` downloads
    model_cache_dir: Path = field(
        default_factory=lambda: Path.home() / ".cache" / "kunnskap-til-lunsj" / "models"
    )
    max_upload_bytes: int = 50 * 1024**3
    max_body_bytes: int = 8 * 1024**2  # every other request body (forms, JSON)
    search_cache_seconds: float = 2.0  # one search answer shared this long (0: off)
    session_cache_seconds: float = 2.0  # a session looked up at most this often (0: each request)
    list_cache_seconds: float = 2.0  # archive/programme/front lists shared this long (0: off)
    trusted_proxies: str = ""  # addresses/CIDRs whose X-Forwarded-* headers count
    upload_expiry_hours: int = 24
    job_lease_seconds: int = 60
    worker_poll_seconds: float = 1.0
    worker_restart_max_seconds: float = 30.0  # longest pause before restarting a dead worker
    worker_stages: str = ""  # the stages this host's workers take (transcribe,...); "": all
    database_url: str = ""  # postgresql://…: PostgreSQL instead of the data folder's SQLite file
    work_dir: str = ""  # workers' scratch folder; "": beside each talk's media (the data folder)
    default_language: str = "nb"
    secret_key: str = ""
    cookie_secure: bool = False
    session_hours: int = 12
    password_link_hours: int = 24
    login_max_attempts: int = 5
    login_window_minutes: int = 15
    public_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = True
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_group_claim: str = "groups"
    oidc_role_map: str = ""
    oidc_default_role: str = "viewer"
    oidc_allowed_domains: str = ""
    captions_publish: str = "immediately"
    vocabulary_prompt: bool = True
    live_grace_seconds: int = 300
    srt_bind: str = "0.0.0.0"
    srt_ports: str = "9000-9019"
    srt_host: str = ""
    live_captions: bool = True
    live_ingest: bool = True  # this process runs live ingest (one per site: nginx sends it there)
    slides: bool = True  # find and read the slides in recordings with video (OCR)
    slides_languages: str = "nor+eng"  # Tesseract's language data for reading slides
    checkin_margin_minutes: int = 30  # QR check-in opens/closes this long before/after
    accel_redirect: str = ""  # nginx's internal media location (e.g. /_media/); "": app sends
    min_free_disk_mb: int = 2048  # uploads and live broadcasts are refused below this
    metrics_allow: str = "127.0.0.1,::1"  # addresses/CIDRs that may read /metrics
    metrics_token: str = ""  # or a Bearer token for /metrics
    log_format: str = "text"  # "json": one JSON object per log line
    frame_origins: str = ""  # origins that may show /talks/{slug}/embed in a frame
    english_captions: bool = False  # new talks get an English caption track by default

    @property
    def paths(self) -> DataPaths:
        """The data folder's layout (server.core.paths): every file's place is asked there."""
        return DataPaths(self.data_dir)

    @property
    def db_path(self) -> Path:
        return self.paths.db

    @property
    def media_dir(self) -> Path:
        return self.paths.media

    @property
    def transcripts_dir(self) -> Path:
        return self.paths.transcripts

    @property
    def uploads_dir(self) -> Path:
        return self.paths.uploads

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def ensure_dirs(self) -> None:
        for path in (self.media_dir, self.transcripts_dir, self.uploads_dir):
            path.mkdir(parents=True, exist_ok=True)

    def srt_port_range(self) -> tuple[int, int]:
        """KTL_SRT_PORTS as (first, last); one port or FIRST-LAST."""
        first, _, last = self.srt_ports.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            message = "KTL_SRT_PORTS må være en port eller et område, f.eks. 9000-9019."
            raise SettingsError(message) from None
        if not 0 < low <= high < 65536:
            raise SettingsError("KTL_SRT_PORTS må være porter mellom 1 og 65535, minste først.")
        return low, high

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)


ENV_PREFIX = "KTL_"
_TRUE = {"1", "true", "yes", "on", "ja"}
_FALSE = {"0", "false", "no", "off", "nei"}


def _convert(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(raw)
            return lowered in _TRUE
        if kind is Path:
            return Path(raw).expanduser().resolve()
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} har en ugyldig verdi: {raw!r}") from exc


def _field_types() -> dict[str, type]:
    hints = {"Path": Path, "str": str, "int": int, "bool": bool, "float": float}
    return {f.name: hints[str(f.type)] for f in fields(Settings)}


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from the environment, then apply non-None overrides (CLI flags)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, object] = {}
    for name, kind in _field_types().items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, kind)
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if not 0 < settings.port < 65536:
        raise SettingsError("KTL_PORT må være et portnummer mellom 1 og 65535.")
    if settings.default_language not in LANGUAGES:
        raise SettingsError("KTL_DEFAULT_LANGUAGE må være nb, nn eller en.")
    if settings.whisper_beam_size < 1:
        raise SettingsError("KTL_WHISPER_BEAM_SIZE må være minst 1.")
    if settings.whisper_workers < 0:
        raise SettingsError("KTL_WHISPER_WORKERS kan ikke være negativ.")
    if settings.whisper_batch_size < 0 or settings.whisper_vad_min_silence_ms < 0:
        message = "KTL_WHISPER_BATCH_SIZE og KTL_WHISPER_VAD_MIN_SILENCE_MS kan ikke være negative."
        raise SettingsError(message)
    if not settings.model_hub_url.startswith(("https://", "http://")):
        raise SettingsError("KTL_MODEL_HUB_URL må være en adresse som begynner med https://.")
    if settings.job_lease_seconds < 2:
        raise SettingsError("KTL_JOB_LEASE_SECONDS må være minst 2.")
    if settings.worker_restart_max_seconds <= 0:
        raise SettingsError("KTL_WORKER_RESTART_MAX_SECONDS må være et positivt antall sekunder.")
    if settings.max_upload_bytes < 1:
        raise SettingsError("KTL_MAX_UPLOAD_BYTES må være et positivt tall.")
    if settings.max_body_bytes < 1024:
        raise SettingsError("KTL_MAX_BODY_BYTES må være minst 1024.")
    _check_networks("KTL_TRUSTED_PROXIES", settings.trusted_proxies)
    if settings.database_url and not settings.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        message = (
            "KTL_DATABASE_URL må være en PostgreSQL-adresse, postgresql://bruker@vert/database."
        )
        raise SettingsError(message)
    if settings.oidc_default_role not in ("viewer", "organiser", "admin"):
        raise SettingsError("KTL_OIDC_DEFAULT_ROLE må være viewer, organiser eller admin.")
    if settings.captions_publish not in ("immediately", "reviewed"):
        raise SettingsError("KTL_CAPTIONS_PUBLISH må være immediately eller reviewed.")
    if settings.live_grace_seconds < 0:
        raise SettingsError("KTL_LIVE_GRACE_SECONDS kan ikke være negativ.")
    settings.srt_port_range()
    accel = settings.accel_redirect
    if accel and not (accel.startswith("/") and accel.endswith("/")):
        message = "KTL_ACCEL_REDIRECT må være en sti mellom to /, f.eks. /_media/."
        raise SettingsError(message)
    _validate_ops(settings)
    if settings.session_hours < 1 or settings.login_max_attempts < 1:
        raise SettingsError("KTL_SESSION_HOURS og KTL_LOGIN_MAX_ATTEMPTS må være minst 1.")


def _validate_ops(settings: Settings) -> None:
    if settings.min_free_disk_mb < 0:
        raise SettingsError("KTL_MIN_FREE_DISK_MB kan ikke være negativ.")
    if settings.log_format not in ("text", "json"):
        raise SettingsError("KTL_LOG_FORMAT må være text eller json.")
    _check_networks("KTL_METRICS_ALLOW", settings.metrics_allow)
    frame_origins(settings)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# scheme, host name (a wildcard only before two labels or more: *.kommune.no, not *.no), port
_ORIGIN = re.compile(
    rf"https?://(?:\*\.(?={_LABEL}\.{_LABEL}))?{_LABEL}(?:\.{_LABEL})*(?::(\d{{1,5}}))?"
)


def frame_origins(settings: Settings) -> list[str]:
    """KTL_FRAME_ORIGINS as a list of origins (https://intranett.kommune.no), each checked:
    they go into a Content-Security-Policy header as they are."""
    origins = [o.strip().rstrip("/").lower() for o in settings.frame_origins.split(",")]
    for origin in filter(None, origins):
        match = _ORIGIN.fullmatch(origin)
        if not match or int(match.group(1) or 1) not in range(1, 65536):
            message = (
                f"KTL_FRAME_ORIGINS: «{origin}» er ikke et opphav som https://intranett.kommune.no "
                "(skjema og vertsnavn, uten sti; * bare foran minst to ledd, som *.kommune.no)."
            )
            raise SettingsError(message)
    return [o for o in origins if o]


def _check_networks(name: str, value: str) -> None:
    """A comma-separated list of addresses or CIDR networks, or a SettingsError naming it."""
    try:
        parse.networks(value)
    except ValueError as exc:
        message = f"{name}: «{exc}» er ikke en IP-adresse eller et nett (CIDR)."
        raise SettingsError(message) from None
