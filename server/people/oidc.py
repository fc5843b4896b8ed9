"""Single sign-on with OpenID Connect (authorization code flow with PKCE). No HTTP framework here.

The pieces, in the order of a sign-in:
- `new_login` makes the state, nonce and PKCE verifier; `seal`/`unseal` keep them in a signed,
  short-lived cookie between the two requests (so any server process can finish the sign-in);
- `OIDCClient` discovers the provider (cached per issuer), builds the authorization URL,
  exchanges the code (Authlib's httpx client) and validates the ID token against the
  provider's JWKS (joserfc, the JOSE library Authlib is built on);
- `sign_in` maps the claims to a user: by subject, else by verified e-mail (links the
  account), else a new user; roles from the group claim; domain and deactivation checks.

Every refusal is an `OIDCError` with a Norwegian sentence a person can act on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx2
import sqlite_utils
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from server.core.config import Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.store import IntegrityError, write
from server.store.locks import serialize

log = logging.getLogger("ktl.oidc")

LOGIN_MAX_AGE = 600  # seconds between leaving for the provider and coming back
CACHE_SECONDS = 3600
CLOCK_LEEWAY = 120
TIMEOUT = 10.0
SIGNING_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                "EdDSA"}  # fmt: skip

NOT_CONFIGURED = N_(
    "Innlogging med organisasjonskonto er ikke satt opp her. Logg inn med e-post og passord, "
    "eller kontakt en administrator."
)
UNREACHABLE = N_(
    "Vi fikk ikke kontakt med innloggingstjenesten til organisasjonen. Prøv igjen om litt; "
    "vedvarer feilen, kontakt IT."
)
MISCONFIGURED = N_(
    "Innlogging med organisasjonskonto er feil satt opp ({detail}). Logg inn med e-post og "
    "passord, og be IT rette oppsettet."
)
EXPIRED = N_(
    "Innloggingen tok for lang tid, eller ble startet i en annen nettleser. Gå tilbake til "
    "innloggingssiden og prøv igjen."
)
BAD_STATE = N_(
    "Vi kunne ikke bekrefte at innloggingen ble startet her (ugyldig tilstand). Gå tilbake "
    "til innloggingssiden og start innloggingen på nytt."
)
CANCELLED = N_(
    "Innloggingen ble avbrutt, eller kontoen din fikk ikke tilgang hos innloggingstjenesten. "
    "Prøv igjen; mener du at du skal ha tilgang, kontakt IT."
)
PROVIDER_ERROR = N_(
    "Innloggingstjenesten avviste innloggingen ({code}). Prøv igjen; vedvarer feilen, kontakt IT."
)
INVALID = N_(
    "Vi kunne ikke bekrefte svaret fra innloggingstjenesten. Start innloggingen på nytt; "
    "vedvarer feilen, kontakt IT."
)
DEACTIVATED = N_(
    "Kontoen din er deaktivert. Kontakt en administrator hvis du trenger tilgang igjen."
)
NO_EMAIL = N_(
    "Innloggingstjenesten sendte ingen e-postadresse for kontoen din, så vi kan ikke logge deg "
    "inn. Be IT sørge for at organisasjonskontoen din har en e-postadresse."
)
UNVERIFIED = N_(
    "Innloggingstjenesten har ikke bekreftet e-postadressen din ({email}), så vi kan ikke "
    "knytte den til en konto her. Bekreft adressen, eller kontakt en administrator."
)
WRONG_DOMAIN = N_(
    "Innlogging med organisasjonskonto er bare åpen for e-postadresser på {domains}, og "
    "{email} er ikke en av dem. Bruk organisasjonskontoen din, eller kontakt en administrator."
)
LINKED_ELSEWHERE = N_(
    "E-postadressen {email} er allerede knyttet til en annen organisasjonskonto. Kontakt en "
    "administrator."
)

CANNOT_CREATE = N_(
    "Vi kunne ikke opprette en konto for {email}. Prøv igjen; vedvarer feilen, kontakt en "
    "administrator."
)


class OIDCError(UserError):
    """A sign-in that cannot go on; `message` is Norwegian, `status` the HTTP status to use."""

    def __init__(self, message: str, status: int = 400, reason: str = "") -> None:
        super().__init__(reason or message)
        self.message = message
        self.status = status


# --- the pending sign-in, kept in a signed cookie ---------------------------------------


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    code_verifier: str
    next: str
    issued: float


def new_login(next_path: str) -> PendingLogin:
    return PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),  # 64 characters, within RFC 7636's 43..128
        next=next_path,
        issued=time.time(),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, b"oidc-login:" + payload.encode(), hashlib.sha256).digest())


def seal(secret: bytes, pending: PendingLogin) -> str:
    payload = _b64(json.dumps(asdict(pending), separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def unseal(secret: bytes, value: str | None, max_age: int = LOGIN_MAX_AGE) -> PendingLogin | None:
    """The pending sign-in in a cookie value, or None if missing, tampered with or too old."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        pending = PendingLogin(**json.loads(_unb64(payload)))
    except (ValueError, TypeError):
        return None
    if not 0 <= time.time() - pending.issued <= max_age:
        return None
    return pending


# --- settings -------------------------------------------------------------------------


def role_map(text: str) -> dict[str, str]:
    """'GROUP=organiser,OTHER=admin' (also ; or new lines) -> {'group': 'organiser', ...}."""
    mapping: dict[str, str] = {}
    for entry in re.split(r"[,;\n]", text):
        if not entry.strip():
            continue
        group, sep, role = entry.rpartition("=")
        role = role.strip()
        if not sep or not group.strip() or role not in accounts.ROLES:
            detail = (
                f"KTL_OIDC_ROLE_MAP: «{entry.strip()}» må ha formen GRUPPE=viewer|organiser|admin"
            )
            raise OIDCError(MISCONFIGURED.format(detail=detail), 500)
        mapping[group.strip().casefold()] = role
    return mapping


def allowed_domains(text: str) -> list[str]:
    return [d.strip().lower().lstrip("@") for d in text.split(",") if d.strip()]


def check_settings(settings: Settings) -> None:
    """Raises OIDCError for settings that cannot work (for start-up checks as well)."""
    role_map(settings.oidc_role_map)
    if settings.oidc_enabled and not settings.oidc_issuer.startswith(("https://", "http://")):
        detail = "KTL_OIDC_ISSUER må være en adresse som begynner med https://"
        raise OIDCError(MISCONFIGURED.format(detail=detail), 500)


# --- talking to the provider ----------------------------------------------------------


class OIDCClient:
    """One per app: the provider's metadata and keys, cached; the calls of a sign-in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def _http(self, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.settings.oidc_client_id, self.settings.oidc_client_secret, timeout=TIMEOUT,
            **kwargs,
        )  # fmt: skip

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.request("GET", url, withhold_token=True, **kwargs)
                response.raise_for_status()
                data = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise OIDCError(UNREACHABLE, 502, f"GET {url}: {exc!r}") from exc
        if not isinstance(data, dict):
            raise OIDCError(UNREACHABLE, 502, f"GET {url}: not a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata and time.monotonic() - self._metadata[0] < CACHE_SECONDS:
            return self._metadata[1]
        issuer = self.settings.oidc_issuer.rstrip("/")
        data = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        if str(data.get("issuer", "")).rstrip("/") != issuer:
            detail = f"tjenesten oppgir utstederen {data.get('issuer')!r}, ikke KTL_OIDC_ISSUER"
            raise OIDCError(MISCONFIGURED.format(detail=detail), 502)
        missing = [
            k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if k not in data
        ]
        if missing:
            detail = f"oppdagelsesdokumentet mangler {', '.join(missing)}"
            raise OIDCError(MISCONFIGURED.format(detail=detail), 502)
        self._metadata = (time.monotonic(), data)
        return data

    async def _keyset(self, jwks_uri: str, kid: str | None) -> KeySet:
        cached = self._keys
        fresh = cached and time.monotonic() - cached[0] < CACHE_SECONDS
        if cached and fresh and (kid is None or any(k.kid == kid for k in cached[1].keys)):
            return cached[1]
        try:  # a new key id means the provider rotated its keys: fetch them again
            keys = KeySet.import_key_set(await self._get_json(jwks_uri))
        except (JoseError, ValueError, TypeError) as exc:
            raise OIDCError(INVALID, 502, f"bad JWKS: {exc!r}") from exc
        self._keys = (time.monotonic(), keys)
        return keys

    def _scope(self) -> str:
        scopes = self.settings.oidc_scopes.split()
        return " ".join(scopes if "openid" in scopes else ["openid", *scopes])

    async def authorization_url(self, redirect_uri: str, pending: PendingLogin) -> str:
        meta = await self.metadata()
        async with self._http(
            redirect_uri=redirect_uri, scope=self._scope(), code_challenge_method="S256"
        ) as http:
            url, _ = http.create_authorization_url(
                meta["authorization_endpoint"], state=pending.state,
                code_verifier=pending.code_verifier, nonce=pending.nonce,
            )  # fmt: skip
        return url

    def _auth_method(self, meta: dict[str, Any]) -> str:
        supported = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"

    async def complete(
        self, redirect_uri: str, pending: PendingLogin, code: str, iss: str | None = None
    ) -> dict[str, Any]:
        """Exchange the code; return the validated ID token claims (plus userinfo if needed).
        `iss` is the issuer sent with the code (RFC 9207), which must be ours when present."""
        meta = await self.metadata()
        if iss is not None and iss != meta["issuer"]:
            raise OIDCError(INVALID, 400, f"iss parameter {iss!r} is not {meta['issuer']!r}")
        try:
            async with self._http(
                redirect_uri=redirect_uri, token_endpoint_auth_method=self._auth_method(meta),
                code_challenge_method="S256",
            ) as http:  # fmt: skip
                token = await http.fetch_token(
                    meta["token_endpoint"], grant_type="authorization_code", code=code,
                    code_verifier=pending.code_verifier,
                )  # fmt: skip
                if "id_token" not in token:
                    raise OIDCError(INVALID, 502, "token response without id_token")
                claims = await self.validate_id_token(token["id_token"], pending.nonce)
                if "email" not in claims and meta.get("userinfo_endpoint"):
                    claims = await _with_userinfo(http, meta["userinfo_endpoint"], claims)
        except OAuthError as exc:
            raise OIDCError(PROVIDER_ERROR.format(code=exc.error), 400, repr(exc)) from exc
        except (httpx2.HTTPError, ValueError) as exc:
            raise OIDCError(UNREACHABLE, 502, f"token exchange: {exc!r}") from exc
        return claims

    async def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        algs = [a for a in meta.get("id_token_signing_alg_values_supported", ["RS256"])
                if a in SIGNING_ALGS]  # fmt: skip
        try:
            header = jws.extract_compact(id_token.encode()).protected
            keys = await self._keyset(meta["jwks_uri"], header.get("kid"))
            claims = jwt.decode(id_token, keys, algorithms=algs or ["RS256"]).claims
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY,
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OIDCError(INVALID, 400, f"ID token rejected: {exc!r}") from exc
        aud = claims["aud"]
        if (
            isinstance(aud, list)
            and len(aud) > 1
            and claims.get("azp") != self.settings.oidc_client_id
        ):
            raise OIDCError(INVALID, 400, "ID token for several audiences without our azp")
        return claims


async def _with_userinfo(http: AsyncOAuth2Client, url: str, claims: dict[str, Any]) -> dict:
    response = await http.get(url)
    response.raise_for_status()
    info = response.json()
    if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
        raise OIDCError(INVALID, 502, "userinfo for another subject")
    return {**info, **claims}  # the signed ID token wins where both have a claim


# --- from claims to a user ------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    email_verified: bool
    name: str
    groups: tuple[str, ...]


def _looks_like_email(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None


def _values(claim: object) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [str(v) for v in claim if isinstance(v, str | int)]
    return []


def identity(settings: Settings, claims: dict[str, Any]) -> Identity:
    """The person in the claims. E-mail: `email`, else an e-mail-shaped `preferred_username`
    (Microsoft Entra ID's UPN). Verified: `email_verified` true, Entra's `xms_edov` true, or,
    when the provider says nothing, an address on a domain in KTL_OIDC_ALLOWED_DOMAINS."""
    email, stated = claims.get("email"), claims.get("email_verified", claims.get("xms_edov"))
    if not _looks_like_email(email):  # a UPN is not what `email_verified` speaks about
        upn = claims.get("preferred_username")
        email, stated = (upn if _looks_like_email(upn) else ""), None
    email = email.strip().lower()
    if isinstance(stated, str):
        stated = stated.lower() == "true"
    if stated is None:
        stated = email.rpartition("@")[2] in allowed_domains(settings.oidc_allowed_domains)
    groups = _values(claims.get(settings.oidc_group_claim))
    if settings.oidc_group_claim != "roles":
        groups += _values(claims.get("roles"))
    if "_claim_names" in claims and settings.oidc_group_claim in claims["_claim_names"]:
        log.warning("%s: too many groups for the token (Entra ID overage); map by app roles or "
                    "'groups assigned to the application' instead", claims["sub"])  # fmt: skip
    name = str(claims.get("name") or "").strip() or email.partition("@")[0]
    return Identity(str(claims["sub"]), email, bool(stated), name, tuple(groups))


def mapped_role(settings: Settings, groups: tuple[str, ...]) -> str | None:
    """The highest role the groups map to; the default role if none; None without a map."""
    mapping = role_map(settings.oidc_role_map)
    if not mapping:
        return None
    roles = [mapping[g.casefold()] for g in groups if g.casefold() in mapping]
    return max(roles, key=accounts.RANK.__getitem__, default=settings.oidc_default_role)


def _check_domain(settings: Settings, email: str) -> None:
    domains = allowed_domains(settings.oidc_allowed_domains)
    if domains and email.rpartition("@")[2] not in domains:
        listed = ", ".join(domains)
        raise OIDCError(WRONG_DOMAIN.format(domains=listed, email=email or N_("(ingen)")), 403)


def _by_subject(db: sqlite_utils.Database, subject: str) -> accounts.User | None:
    row = db.execute("SELECT id FROM users WHERE oidc_subject = ?", [subject]).fetchone()
    return accounts.get(db, row[0]) if row else None


def _subject_of(db: sqlite_utils.Database, user_id: int) -> str | None:
    return db.execute("SELECT oidc_subject FROM users WHERE id = ?", [user_id]).fetchone()[0]


def _link(db: sqlite_utils.Database, user: accounts.User, person: Identity) -> None:
    if _subject_of(db, user.id) not in (None, person.subject):
        raise OIDCError(LINKED_ELSEWHERE.format(email=user.email), 403)
    with write(db):
        db.execute("UPDATE users SET oidc_subject = ? WHERE id = ? AND oidc_subject IS NULL",
                   [person.subject, user.id])  # fmt: skip
        accounts.audit(db, user, N_("koblet kontoen til organisasjonskonto"), user.email)


def _create(db: sqlite_utils.Database, settings: Settings, person: Identity) -> accounts.User:
    role = mapped_role(settings, person.groups) or settings.oidc_default_role
    user = accounts.create_user(db, person.email, person.name, role, oidc_subject=person.subject)
    with write(db):
        accounts.audit(db, None, N_("opprettet bruker ved innlogging med organisasjonskonto"),
                       user.email, f"rolle {role}")  # fmt: skip
    return user


def _refresh(db: sqlite_utils.Database, settings: Settings, user: accounts.User,
             person: Identity) -> accounts.User:  # fmt: skip
    """Apply the role map (when configured) and the name from the provider at every sign-in."""
    role = mapped_role(settings, person.groups) or user.role
    if role == user.role and person.name == user.name:
        return user
    with write(db):  # the last-admin check and the change in one unit, as edit_user's
        serialize(db, "administrators")
        if role != user.role and accounts.removes_last_admin(db, user, role, True):
            log.warning("%s keeps admin: the role map would remove the last admin", user.email)
            role = user.role
        updated = accounts.update_user(db, user.id, person.name, role, user.department,
                                       user.active)  # fmt: skip
        if role != user.role:
            detail = f"rolle {user.role}→{role} fra gruppene i organisasjonskontoen"
            accounts.audit(db, None, N_("endret rolle ved innlogging"), user.email, detail)
    return updated


def _find_or_create(
    db: sqlite_utils.Database, settings: Settings, person: Identity
) -> accounts.User:
    user = _by_subject(db, person.subject)
    if user is not None:
        return user
    if not person.email:
        raise OIDCError(NO_EMAIL, 403)
    if not person.email_verified:
        raise OIDCError(UNVERIFIED.format(email=person.email), 403)
    user = accounts.by_email(db, person.email)
    if user is not None and not user.active:
        raise OIDCError(DEACTIVATED, 403)
    if user is not None:
        _link(db, user, person)
        return user
    try:
        return _create(db, settings, person)
    except (accounts.AccountError, *IntegrityError):  # the same person, twice at once
        user = _by_subject(db, person.subject)
        if user is None:
            raise OIDCError(CANNOT_CREATE.format(email=person.email), 409) from None
        return user


def sign_in(db: sqlite_utils.Database, settings: Settings, claims: dict[str, Any]) -> accounts.User:
    """The active user these validated claims belong to; raises OIDCError to refuse."""
    person = identity(settings, claims)
    existing = _by_subject(db, person.subject)
    _check_domain(settings, person.email or (existing.email if existing else ""))
    user = _find_or_create(db, settings, person)
    if not user.active:
        raise OIDCError(DEACTIVATED, 403)
    return _refresh(db, settings, user, person)
