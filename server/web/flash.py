"""What the next page says after an action ("Foredraget «X» er slettet.").

The handler that acted puts message keys (and their values) in a short-lived cookie on its
redirect; the next page that is rendered shows the messages once and clears the cookie.
Fixed messages can also come as `?melding=<name>`, for scripts that navigate after acting
(the end of a broadcast sent from the browser). The cookie is not signed: only this site
(or the person themselves) can set it, its values are shown as escaped text, and a page
can only be made to say one of the sentences below.
"""

from __future__ import annotations

import base64
import binascii
import json

from starlette.requests import Request
from starlette.responses import Response

from server.core.i18n import N_

COOKIE = "ktl_melding"
MAX_AGE = 120  # seconds: long enough for the redirect, short enough not to linger
MAX_VALUE = 300
MESSAGES = {
    "talk_created": N_("Foredraget er lagret."),
    "talk_saved": N_("Endringene er lagret."),
    "talk_deleted": N_("Foredraget «%(title)s» er slettet."),
    "not_in_feed": N_(
        "Foredraget er ikke åpent for alle, så det kommer ikke med i kalenderen alle kan "
        "abonnere på fra programsiden."
    ),
    "broadcast_ended": N_(
        "Sendingen er avsluttet. Opptaket blir behandlet og kommer på foredragssiden."
    ),
    "question_deleted": N_("Spørsmålet «%(text)s» er slettet."),
}
BY_QUERY = {"sending-avsluttet": "broadcast_ended"}  # only messages without values


def flash(request: Request, response: Response, *keys: str, **values: str) -> Response:
    """Let the next page say `keys` (from MESSAGES), filled in with `values`."""
    unknown = [key for key in keys if key not in MESSAGES]
    if unknown:
        raise KeyError(f"no such message: {unknown}")
    payload = {"keys": list(keys), "values": {k: str(v)[:MAX_VALUE] for k, v in values.items()}}
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    response.set_cookie(
        COOKIE, encoded, max_age=MAX_AGE, path="/", httponly=True, samesite="lax",
        secure=request.app.state.settings.cookie_secure,
    )  # fmt: skip
    return response


def _read(raw: str) -> tuple[list[str], dict[str, str]]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        keys = [k for k in payload["keys"] if isinstance(k, str) and k in MESSAGES]
        values = {str(k): str(v)[:MAX_VALUE] for k, v in dict(payload["values"]).items()}
    except (binascii.Error, ValueError, TypeError, KeyError):
        return [], {}  # a cookie we did not write: say nothing
    return keys, values


def take_messages(request: Request, translations) -> list[str]:
    """The messages this page should show, translated."""
    raw = request.cookies.get(COOKIE)
    keys, values = _read(raw) if raw else ([], {})
    named = BY_QUERY.get(request.query_params.get("melding", ""))
    if named and named not in keys:
        keys.append(named)
    shown = []
    for key in keys:
        try:
            shown.append(translations.gettext(MESSAGES[key]) % values)
        except (KeyError, TypeError, ValueError):
            continue  # a value is missing: leave that message out
    return shown


def clear_messages(request: Request, response: Response) -> None:
    """Once shown, the messages are gone."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
