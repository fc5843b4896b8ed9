"""The interface language: gettext catalogues read from `locale/`, and the choice per request.

Norwegian bokmål is the source language (the msgids), so `nb` needs no catalogue. Every
other language has `locale/<lang>/LC_MESSAGES/messages.po`, read with Babel and turned
into a `babel.support.Translations` object in memory (no compiled .mo files in the
repository), once per process.

The language of a request is, in order: the signed-in user's `users.locale`, the
`ktl_lang` cookie, the browser's Accept-Language, bokmål.
"""

from __future__ import annotations

import functools
import gettext
import io
import re

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from server.core.resources import LOCALE_DIR

DEFAULT = "nb"
LANGUAGES = ("nb", "en")
COOKIE = "ktl_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Accept-Language tags (primary subtag) and the interface language each one gets.
ACCEPTED = {"nb": "nb", "nn": "nb", "no": "nb", "en": "en"}


def N_(message: str) -> str:
    """Marks a string for extraction without translating it (it is translated at render)."""
    return message


# Labels kept in Python (server.core.config, server.people.accounts, server.web.respond)
# and shown in pages;
# render() translates them. Listed here so that `pybabel extract` finds them.
PYTHON_LABELS = (
    N_("Norsk bokmål"), N_("Norsk nynorsk"), N_("Engelsk"),
    N_("Åpen for alle, også uten innlogging"), N_("Bare for innloggede ansatte"),
    N_("Utkast: bare arrangøren og administratorer"),
    N_("Ansatt"), N_("Arrangør"), N_("Administrator"),
    N_("Kommer"), N_("Behandles"), N_("Klar"), N_("Behandlingen feilet"),
)  # fmt: skip


@functools.cache
def _catalog(lang: str) -> Catalog:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of one language, read once per process (bokmål is the source)."""
    if lang not in LANGUAGES or lang == DEFAULT:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(lang), use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


# Messages raised in Python (validation, access, upload, processing errors) are Norwegian
# text made from a msgid, often with values filled in: `N_("«%(name)s» er tom.") % {...}`.
# They are translated where they are shown (render, the error handler, JSON answers) by
# translate(): the msgid itself, or the msgid whose placeholders match the text, with the
# values put into its translation. Both %(name)s and {name} placeholders are understood.
_FIELD = re.compile(r"%%|%\((\w+)\)[sd]|\{(\w+)\}")
_MIN_LITERAL = 8  # a msgid that is (almost) only placeholders would match anything


def _pattern(msgid: str) -> re.Pattern[str] | None:
    parts, seen, last = [], set(), 0
    python = "%(" in msgid
    for field in _FIELD.finditer(msgid):
        parts.append(re.escape(msgid[last : field.start()]))
        last = field.end()
        name = field.group(1) or field.group(2)
        if name is None:
            parts.append(re.escape("%" if python else "%%"))
        elif name in seen:
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            digits = field.group(0).endswith(")d")
            parts.append(f"(?P<{name}>-?\\d+)" if digits else f"(?P<{name}>.+?)")
    parts.append(re.escape(msgid[last:]))
    literal = len(_FIELD.sub("", msgid).strip())
    return re.compile("".join(parts), re.DOTALL) if seen and literal >= _MIN_LITERAL else None


@functools.cache
def _patterns(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern of a msgid with placeholders, its translation), most literal text first."""
    found = []
    for message in _catalog(lang):
        if isinstance(message.id, str) and message.id and message.string:
            pattern = _pattern(message.id)
            if pattern is not None:
                found.append((len(_FIELD.sub("", message.id)), pattern, message.string))
    found.sort(key=lambda item: -item[0])
    return tuple((pattern, string) for _, pattern, string in found)


def _fill(template: str, values: dict[str, str]) -> str:
    python = "%(" in template

    def one(field: re.Match[str]) -> str:
        name = field.group(1) or field.group(2)
        if name is None:
            return "%" if python else "%%"
        return values.get(name, field.group(0))

    return _FIELD.sub(one, template)


def translate(text: str, lang: str) -> str:
    """`text` (a message made from a msgid, see above) in `lang`; unknown text unchanged."""
    if not text or lang not in LANGUAGES or lang == DEFAULT:
        return text
    found = translations(lang).gettext(text)
    if found != text:
        return found
    for pattern, string in _patterns(lang):
        match = pattern.fullmatch(text)
        if match:  # values may be messages themselves ("Kunne ikke ...: %(detail)s")
            values = {k: translate(v, lang) for k, v in match.groupdict().items()}
            return _fill(string, values)
    return text


def text_for(request, text: str) -> str:
    """A message from Python in the language of this request."""
    return translate(text, language_of(request))


def from_accept_language(header: str | None) -> str | None:
    """The best supported language in an Accept-Language header, or None."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        lang = ACCEPTED.get(tag.strip().split("-")[0].lower())
        if lang and quality > 0:
            choices.append((-quality, index, lang))
    return min(choices)[2] if choices else None


def choose(user_locale: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (user_locale, cookie):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language) or DEFAULT


def language_of(request) -> str:
    """The interface language of this request (looked up once, then kept on request.state)."""
    cached = getattr(request.state, "ui_lang", None)
    if cached:
        return cached
    viewer = getattr(request.state, "viewer", None)
    stored = viewer.user.locale if viewer is not None and viewer.user is not None else None
    lang = choose(stored, request.cookies.get(COOKIE), request.headers.get("accept-language"))
    request.state.ui_lang = lang
    return lang
