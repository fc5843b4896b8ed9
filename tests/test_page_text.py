"""Texts in templates (server.web.respond): `_()` and `gettext()` keep the translation of a
message without values per language, and give exactly what Jinja's newstyle gettext gives
(Markup, values escaped into it, `%%` read as `%`), in both languages."""

from __future__ import annotations

import jinja2
import pytest

from server.core import i18n
from server.web.respond import _CURRENT, build_templates

SOURCE = (
    '{{ _("Arkiv") }}|{{ gettext("Tid") }}|{{ _("Laster opp: {percent} %%") }}|'
    '{{ _("Side %(page)s av %(pages)s", page="<b>", pages=2) }}|{{ _("<i>ikke</i> & mer") }}|'
    '{{ _("Arkiv") ~ "<" }}|{% autoescape false %}{{ _("Side %(page)s av %(pages)s", '
    'page="<b>", pages=3) }}{% endautoescape %}'
)


def _jinja_newstyle(translations) -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(translations.gettext, translations.ngettext, newstyle=True)
    return env.from_string(SOURCE)


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_template_texts_are_what_jinja_newstyle_gettext_gives(lang):
    translations = i18n.translations(lang)
    ours = build_templates().env.from_string(SOURCE)
    token = _CURRENT.set(translations)
    try:
        rendered = [ours.render(), ours.render()]  # the second from what the first kept
    finally:
        _CURRENT.reset(token)
    assert rendered[0] == rendered[1] == _jinja_newstyle(translations).render()
    if lang == "en":
        assert rendered[0].startswith("Archive|Time|")
    assert "&lt;b&gt;" in rendered[0]  # a value escaped into an escaped page
    assert rendered[0].endswith("Page <b> of 3" if lang == "en" else "Side <b> av 3")


def test_a_page_in_english_then_in_norwegian_keeps_each_language(client):
    assert "<h1>Program</h1>" in client.get("/program").text
    client.cookies.set(i18n.COOKIE, "en")
    english = client.get("/program").text
    assert "Programme" in english and "Abonner" not in english
    client.cookies.set(i18n.COOKIE, "nb")
    assert "Abonner i kalenderen" in client.get("/program").text
