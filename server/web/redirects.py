"""The one safe-redirect guard: where a `neste`/`next` value may send the browser.

Login, OIDC's return, the language switch and the vocabulary form all take a target from
the request. Only a relative path on this site passes: it starts with one `/`, has no
scheme or host (`//evil`, `/\\evil`, `https://…`), no backslash, no control characters
(a CR/LF would split the Location header) and is not absurdly long. Anything else gives
the fallback, so a crafted link can never send a person to another site after sign-in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2000


def safe_target(target: object, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback` (no open redirects)."""
    if not isinstance(target, str):
        return fallback
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or len(target) > MAX_LENGTH:
        return fallback
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target
