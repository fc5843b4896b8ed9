"""Form macros (templates/macros/forms.html): the CSRF field and a labelled field with its
help text and error, tied together for screen readers; templates use them."""

from __future__ import annotations

from pathlib import Path

from server.web.respond import build_templates

ROOT = Path(__file__).resolve().parents[1]
CSRF_INPUT = 'name="csrf_token"'


def _render(source: str, **context) -> str:
    return build_templates().env.from_string(source).render(**context)


def test_only_the_macro_writes_the_csrf_field():
    writers = [
        str(p.relative_to(ROOT)) for p in sorted((ROOT / "templates").rglob("*.html"))
        if CSRF_INPUT in p.read_text()
    ]  # fmt: skip
    assert writers == ["templates/macros/forms.html"]


def test_csrf_macro_carries_the_pages_token():
    page = _render(
        '{% import "macros/forms.html" as forms with context %}{{ forms.csrf() }}',
        csrf_token="abc",
    )
    assert page == '<input type="hidden" name="csrf_token" value="abc">'


def test_a_field_with_help_and_an_error_is_described_by_both():
    source = (
        '{% import "macros/forms.html" as forms with context %}'
        '{{ forms.field("capacity", "Plasser", "x", type="number", help="Tomt: ingen grense.",'
        ' attrs={"min": 1}) }}'
    )
    page = _render(source, errors={"capacity": "Skriv et helt tall."})
    assert '<label for="capacity">Plasser</label>' in page
    assert 'type="number" min="1" value="x"' in page
    assert 'aria-describedby="capacity-hjelp capacity-feil" aria-invalid="true"' in page
    assert '<p class="hint" id="capacity-hjelp">Tomt: ingen grense.</p>' in page
    assert '<p class="field-error" id="capacity-feil">Skriv et helt tall.</p>' in page


def test_a_plain_required_field_and_a_password():
    source = (
        '{% import "macros/forms.html" as forms with context %}'
        '{{ forms.field("title", "Tittel", "<b>", required=true, star=true) }}'
        '{{ forms.field("password", "Passord", type="password") }}'
    )
    page = _render(source)
    assert 'Tittel <span aria-hidden="true">*</span></label>' in page
    assert 'name="title" required value="&lt;b&gt;">' in page, "values are escaped"
    assert 'name="password" type="password">' in page, "a password is never echoed"
    assert "aria-invalid" not in page and "aria-describedby" not in page
