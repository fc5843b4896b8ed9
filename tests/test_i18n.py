"""The interface in Norwegian bokmål (default) and English: catalogue, choice, switch."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from server.core import i18n
from server.core.clock import format_date
from server.people import accounts
from server.store import db as database
from server.web.app import create_app
from tests.webclient import PASSWORD, csrf, login, make_user, post

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "en" / "LC_MESSAGES" / "messages.po"
HTML_LANG = re.compile(r'<html lang="([a-z]+)">')
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def _catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="en")


def _extracted() -> set[str]:
    """What `pybabel extract -F locale/babel.cfg ... templates server` finds now."""
    with (ROOT / "locale" / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = set()
    for folder in ("templates", "server"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, options_map
        ):
            found.update([message] if isinstance(message, str) else [message[0]])
    return found


def test_every_message_has_a_complete_english_translation():
    catalog = _catalog()
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if {p for i in ids for p in PLACEHOLDER.findall(i)} != {
            p for s in strings for p in PLACEHOLDER.findall(s or "")
        }:
            problems.append(f"placeholders differ: {message.id}")
    assert problems == [], "untranslated, fuzzy or broken messages in the English catalogue"


def test_the_catalogue_covers_every_string_in_templates_and_code():
    catalog = _catalog()
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = sorted(_extracted() - known)
    assert missing == [], (
        "new interface strings without English: run the commands under 'Languages' in "
        f"README.md and translate them: {missing}"
    )


def _lang(response) -> str:
    match = HTML_LANG.search(response.text)
    assert match, "every page says its language on <html>"
    return match.group(1)


def test_norwegian_is_the_default(client):
    page = client.get("/")
    assert _lang(page) == "nb"
    assert "Kommende foredrag" in page.text and "Upcoming talks" not in page.text
    assert page.headers["content-language"] == "nb"
    assert _lang(client.get("/", headers={"Accept-Language": "de-DE,fr;q=0.8"})) == "nb"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", "en"), ("en-GB,en;q=0.9", "en"), ("nb-NO,nb;q=0.9,en;q=0.8", "nb"),
        ("no", "nb"), ("nn", "nb"), ("de, en;q=0.5", "en"), ("en;q=0.3, nb;q=0.7", "nb"),
        ("en;q=0", "nb"), ("", "nb"), ("q=;;,,", "nb"),
    ],
)  # fmt: skip
def test_accept_language_picks_the_best_supported_language(client, header, expected):
    assert _lang(client.get("/", headers={"Accept-Language": header})) == expected


def test_english_front_page_with_accept_language(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _lang(page) == "en"
    for text in ("Upcoming talks", "Skip to content", "Search everything that was said",
                 "Archive", "Log in"):  # fmt: skip
        assert text in page.text
    assert "Kommende foredrag" not in page.text and "Hopp til innholdet" not in page.text
    assert page.headers["content-language"] == "en"


def test_english_with_the_cookie_even_when_the_browser_prefers_norwegian(client):
    client.cookies.set(i18n.COOKIE, "en")
    page = client.get("/arkiv", headers={"Accept-Language": "nb"})
    assert _lang(page) == "en" and "All years" in page.text
    client.cookies.set(i18n.COOKIE, "xx")  # an unknown value is ignored
    assert _lang(client.get("/arkiv", headers={"Accept-Language": "nb"})) == "nb"


def test_the_switch_sets_a_cookie_and_goes_back(client):
    token = csrf(client)
    response = client.post("/sprak", data={"lang": "en", "neste": "/arkiv?year=2026",
                                           "csrf_token": token})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/arkiv?year=2026"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ktl_lang=en;")
    for part in ("Max-Age=31536000", "HttpOnly", "Path=/", "SameSite=lax"):
        assert part.lower() in cookie.lower()
    assert _lang(client.get("/arkiv")) == "en"
    client.post("/sprak", data={"lang": "nb", "csrf_token": token})
    assert _lang(client.get("/arkiv", headers={"Accept-Language": "en"})) == "nb"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
     "javascript:alert(1)", "/\t/evil.example", "evil.example", "http:/evil.example"],
)  # fmt: skip
def test_the_switch_redirects_only_to_local_paths(client, target):
    response = client.post("/sprak", data={"lang": "en", "neste": target,
                                           "csrf_token": csrf(client)})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_the_switch_refuses_unknown_languages_and_missing_csrf(client):
    response = client.post("/sprak", data={"lang": "de", "csrf_token": csrf(client)})
    assert response.status_code == 400 and "set-cookie" not in response.headers
    assert client.post("/sprak", data={"lang": "en"}).status_code == 403


def test_a_signed_in_users_choice_is_stored_and_follows_them(settings, client):
    user = make_user(settings, "viewer")
    assert login(client, user.email).status_code == 303
    assert _lang(client.get("/")) == "nb"
    client.post("/sprak", data={"lang": "en", "neste": "/", "csrf_token": csrf(client)})
    with database.session(settings) as db:
        assert accounts.user_locale(db, user.id) == "en"
    # Another browser, no cookie, a Norwegian browser: the account's language wins.
    with TestClient(create_app(settings), follow_redirects=False) as other:
        login(other, user.email)
        other.cookies.delete(i18n.COOKIE)
        page = other.get("/", headers={"Accept-Language": "nb"})
        assert _lang(page) == "en" and "Log out" in page.text


def test_the_switch_is_in_the_header_of_every_page(client):
    page = client.get("/logg-inn")
    assert 'action="/sprak"' in page.text and 'name="lang" value="en"' in page.text
    assert 'name="neste" value="/logg-inn"' in page.text
    english = client.get("/logg-inn", headers={"Accept-Language": "en"})
    assert 'name="lang" value="nb"' in english.text


def test_python_side_labels_and_dates_are_translated(settings, client):
    admin = make_user(settings, "admin")
    login(client, admin.email)
    client.cookies.set(i18n.COOKIE, "en")
    with database.session(settings) as conn:
        accounts.set_user_locale(conn, admin.id, "en")
    page = client.get("/admin/brukere")
    assert ">Staff member</option>" in page.text and "Ansatt" not in page.text
    assert "Arrangør" not in page.text and "Deactivated" not in page.text
    new = client.get("/talks/ny").text
    assert "Norwegian Bokmål" in new and "Open to everyone, also without logging in" in new
    assert format_date("2026-12-03T11:30", lang="en") == "3 December 2026, 11:30"
    assert format_date("2026-12-03T11:30") == "3. desember 2026 kl. 11.30"
    assert format_date("2026-12-03T11:30", False, "en") == "3 December 2026"


def test_concurrent_requests_in_both_languages_do_not_mix(settings):
    """Translations are chosen per render (a ContextVar), never on the shared Environment."""
    app = create_app(settings)

    async def run() -> list[tuple[str, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            async def one(lang: str) -> tuple[str, str]:
                page = await http.get("/arkiv", headers={"Accept-Language": lang})
                marker = "All years" if "All years" in page.text else "Alle år"
                return _lang(page), marker

            return await asyncio.gather(*(one("en" if i % 2 else "nb") for i in range(60)))

    try:
        results = asyncio.run(run())
    finally:
        app.state.store.close()  # no lifespan ran (ASGITransport): close its connections here
    for index, (lang, marker) in enumerate(results):
        expected = "en" if index % 2 else "nb"
        assert lang == expected
        assert marker == ("All years" if expected == "en" else "Alle år")


# ---------------------------------------------------------------- no Norwegian in English
# Messages made in Python are msgids translated where they are shown (server.core.i18n.translate);
# JavaScript gets its sentences from the page. These tests find what slips through.

NORWEGIAN = re.compile(
    r"[æøåÆØÅ]|\b(ikke|og|må|finnes|foredrag\w*|opptak\w*|ferdig|venter|pågår|prøv|velg|"
    r"skriv|fant|kunne|lagre|slett|også|eller|hvem|hva|når|ingen|du|deg|din|dine|ditt|vi)\b",
    re.IGNORECASE,
)
# Python files whose Norwegian reaches operators, not the web interface (the CLI, settings
# checks, the demo, search stopwords, the Whisper prompt and calendar feeds). E-mail to
# people is a message like any other: it goes out in the recipient's language.
OPERATOR_FILES = {
    "cli.py",
    "config.py",
    "demo.py",
    "suggest.py",
    "models.py",
    "backup.py",
    "doctor.py",
    "health.py",  # server/ops: backups, ktl doctor, /readyz
    "hub.py",  # ktl model install
    "to_postgres.py",
    "pg_copy.py",
    "postgres.py",  # ktl migrate-to-postgres and PostgreSQL connection errors at start
}
NOT_MESSAGES = {
    "Navn og fagord: ", "Names and terms: ",  # the Whisper prompts, not for people
    "Dette er et foredrag på norsk bokmål.", "Dette er eit føredrag på nynorsk.",  # prompts too
    "opptak", "opptaket", "foredrag", "æ", "ø", "å", "Æ", "Ø", "Å",  # names and slugs
    "ingen-bruker-har-dette-passordet",  # the dummy password hash that evens out timing
}  # fmt: skip
SQL = ("SELECT", "UPDATE", "INSERT", "DELETE", "CREATE", "ALTER", "WITH")
# A sentence a person reads ("Lagret.", "Merk minst ett riktig svar.") needs no tell-tale word.
SENTENCE = re.compile(r"[A-ZÆØÅ«][a-zæøå]+\b.*[.!?:]\s*$", re.DOTALL)


def _python_strings(path: Path):
    """String constants and f-string texts, without docstrings and log messages."""
    import ast

    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {
            "debug", "info", "warning", "error", "exception", "critical",
        }:  # fmt: skip
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            yield node.lineno, text, True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value, False


def test_every_norwegian_string_in_python_is_a_translated_message():
    """A Norwegian sentence in server/ is a msgid of the catalogue (marked with N_()), never
    an f-string: values go in as %(name)s so the English text can place them too."""
    known = {m.id for m in _catalog() if isinstance(m.id, str)}
    problems = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        if path.name in OPERATOR_FILES or path.name == "ics.py":
            continue  # ics: calendar feeds have no interface language
        for line, text, formatted in _python_strings(path):
            if not (NORWEGIAN.search(text) or SENTENCE.match(text)):
                continue
            if text.lstrip().upper().startswith(SQL):
                continue
            if text.startswith("/"):
                continue  # paths of the site
            if text in NOT_MESSAGES or (not formatted and text in known):
                continue
            if path.name == "oidc.py" and ("KTL_" in text or "utstederen" in text):
                continue  # settings errors for IT, raised when the server starts
            where = path.relative_to(ROOT)
            problems.append(f"{where}:{line}: {'f-string ' if formatted else ''}{text[:60]!r}")
    assert problems == [], (
        "Norwegian text or a sentence in Python that is not a translated message: mark it "
        "with N_() and translate it, or list it in NOT_MESSAGES if no person reads it"
    )


JS_DIR = ROOT / "server" / "static" / "js"
# Comments, then the three kinds of string literal ("…", '…', `…`), read left to right so a
# quote inside a comment or a // inside a string is not taken for the other.
JS_TOKEN = re.compile(
    r"//[^\n]*|/\*.*?\*/"
    r'|"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`',
    re.DOTALL,
)


def js_strings(code: str) -> list[str]:
    """The string literals of a script, without its comments."""
    found = []
    for match in JS_TOKEN.finditer(code):
        if not match.group(0).startswith("/"):
            found.append(next((g for g in match.groups() if g is not None), ""))
    return found


def test_the_javascript_reader_sees_code_after_a_comment():
    code = '// a comment\nvar a = "Lagret.";\n/* "not this" */ b(\'Prøv igjen\', `x ${y}`);'
    assert js_strings(code) == ["Lagret.", "Prøv igjen", "x ${y}"]


def test_javascript_takes_its_sentences_from_the_page():
    """No Norwegian string literal in our JS: sentences come translated from the page
    (data- attributes or a JSON block), so an English page's scripts speak English."""
    problems = []
    for path in sorted(JS_DIR.glob("*.js")):
        for text in js_strings(path.read_text()):
            if text.startswith("/"):
                continue  # paths of the site ("/slett")
            if NORWEGIAN.search(text) or SENTENCE.match(text):
                problems.append(f"{path.name}: {text[:60]!r}")
    assert problems == []


def test_placeholders_put_values_into_the_english_message():
    from server.pipeline import probe, worker

    message = probe.NOT_MEDIA % {"name": "notes.txt", "accepted": probe.ACCEPTED}
    english = i18n.translate(message, "en")
    assert english.startswith("“notes.txt” is not a sound or video recording we can read.")
    assert english.endswith("wma or ogg."), "a value that is itself a message is translated"
    assert i18n.translate(message, "nb") == message
    stopped = i18n.translate(worker.give_up_message("transcribe"), "en")
    assert "during “Transcribing speech to text”" in stopped
    nested = "Transkripsjonen ble ikke lagret. Segment 3: starttiden må være et tall (sekunder)."
    assert i18n.translate(nested + "", "en") == (
        "The transcript was not saved. Segment 3: the start time must be a number (seconds)."
    )
    nothing = "Fant ingenting for «hei og hå». Prøv et annet ord eller fjern filtrene."
    assert i18n.translate(nothing, "en").startswith("Nothing found for “hei og hå”.")
    assert i18n.translate("Noe en person skrev", "en") == "Noe en person skrev"


class _Text(__import__("html.parser").parser.HTMLParser):
    """The text a person reads: text nodes and the attributes that are read out or shown
    (titles, labels, confirmations, the sentences scripts show), outside elements that say
    they are in another language (lang="nb": the language switch, transcripts)."""

    SHOWN = ("title", "aria-label", "alt", "placeholder", "data-confirm")
    VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: inside another language

    def _other(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        other = self._other() or values.get("lang") in ("nb", "nn", "no")
        if tag not in self.VOID:
            self.stack.append(other)
        if other:
            return
        for name, value in attrs:
            if value and (name in self.SHOWN or name.startswith(("data-msg-", "data-state-"))):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._other():
            self.parts.append(data)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


def norwegian_words(page: str) -> list[str]:
    """Norwegian tell-tale words a person reading `page` would meet (JSON blocks for the
    scripts included, decoded). "Bokmål" is the English name of the written language."""
    reader = _Text()
    reader.feed(page.replace("Bokmål", "Bokmal"))
    texts = []
    for part in reader.parts:
        try:
            texts += _strings(json.loads(part)) if part.strip()[:1] in "{[" else [part]
        except ValueError:
            texts.append(part)
    return sorted({m.group(0) for text in texts for m in NORWEGIAN.finditer(text)})


def _english_site(settings) -> dict:
    """Users, talks, a quiz and transcript versions, all written in English, so that any
    Norwegian on an English page comes from the interface."""
    from server.catalogue import search, talks
    from server.learning import quizzes
    from server.pipeline import jobs, worker
    from server.transcript import editing
    from server.transcript import model as transcript
    from server.transcript.model import Segment, Transcript
    from tests import factories

    people = {
        role: make_user(settings, role, f"{role}@kommune.no", name=f"Alex {role.title()}",
                        department="Library")
        for role in ("viewer", "organiser", "admin")
    }  # fmt: skip
    segments = (Segment(0.0, 2.0, "Welcome to the library."),
                Segment(2.0, 4.0, "We lend books to everyone."))  # fmt: skip
    with database.session(settings) as db:
        organiser = people["organiser"]
        ready = factories.talk(db, organiser, title="Library basics", speaker="Sam",
                               department="Library", description="How the library works.",
                               starts_at="2030-05-02T11:30")  # fmt: skip
        folder = talks.transcript_dir(settings, ready.id)
        transcript.write_all(folder, Transcript(language="en", segments=segments, duration=4.0))
        search.index_talk(db, ready.id, segments, "en")
        with database.write(db):
            talks.set_status(db, ready.id, "ready")
        edited = (segments[0], Segment(2.0, 4.0, "We lend books and bicycles to everyone."))
        editing.save(db, settings, ready.id, edited, 0, organiser, "")
        quizzes.save_question(db, talks.get(db, ready.id), quizzes.QuestionInput(
            kind="single", text="What does the library lend?", options=("Books", "Cars"),
            correct=(0,)), organiser)  # fmt: skip
        quizzes.save_question(
            db,
            talks.get(db, ready.id),
            quizzes.QuestionInput(
                kind="truefalse", text="The library lends bicycles.", correct=(0,)
            ),
            organiser,
        )
        quizzes.save_settings(db, talks.get(db, ready.id), "50", True, True, organiser)
        failed = factories.talk(db, organiser, title="Parks and paths", visibility="internal")
        with database.write(db):
            talks.set_status(db, failed.id, "processing")
            job_id = jobs.enqueue(db, failed.id)
            db.execute("UPDATE jobs SET state = 'failed', stage = 'transcribe', error = ? "
                       "WHERE id = ?", [worker.give_up_message("transcribe"), job_id])  # fmt: skip
    return {"people": people, "ready": talks_slug(settings, ready.id),
            "failed": talks_slug(settings, failed.id)}  # fmt: skip


def talks_slug(settings, talk_id: int) -> str:
    from server.catalogue import talks

    with database.session(settings) as db:
        return talks.get(db, talk_id).slug


PAGES = {
    "guest": ["/", "/arkiv", "/program", "/sok?q=zebra", "/sok?q=library", "/logg-inn",
              "/glemt-passord", "/talks/{ready}", "/finnes-ikke", "/talks/{failed}"],
    "viewer": ["/", "/mine-moduler", "/talks/{ready}", "/talks/{ready}/quiz", "/program",
               "/admin/brukere"],
    "organiser": ["/talks/ny", "/talks/{ready}/rediger", "/talks/{ready}",
                  "/talks/{ready}/transkripsjon", "/talks/{ready}/transkripsjon/versjoner?vis=1",
                  "/talks/{ready}/quiz/rediger", "/talks/{ready}/resultater",
                  "/talks/{ready}/oppmote", "/talks/{failed}", "/admin/ordliste"],
    "admin": ["/admin/brukere", "/admin/brukere/1", "/admin/logg", "/rapporter"],
}  # fmt: skip


@pytest.mark.parametrize("role", list(PAGES))
def test_english_pages_have_no_norwegian(settings, role):
    site = _english_site(settings)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.cookies.set(i18n.COOKIE, "en")
        if role != "guest":
            assert login(client, f"{role}@kommune.no").status_code == 303
        found = {}
        for pattern in PAGES[role]:
            page = client.get(pattern.format(**site), headers={"Accept-Language": "en"})
            assert page.status_code in (200, 403, 404), (pattern, page.status_code)
            assert _lang(page) == "en", pattern
            words = norwegian_words(page.text)
            if words:
                found[pattern] = words
    assert found == {}, f"Norwegian words on English pages as {role}"


def test_true_or_false_options_are_shown_in_the_page_language(settings):
    """A true/false question stores the options as Python writes them ("Sant", "Usant");
    the quiz shows them in the reader's language (js/quiz.js reads them from the page)."""
    site = _english_site(settings)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.cookies.set(i18n.COOKIE, "en")
        login(client, "viewer@kommune.no")
        page = client.get(f"/talks/{site['ready']}/quiz").text
        assert "> True</label>" in page and "> False</label>" in page
        assert "Sant" not in page and "Usant" not in page


@pytest.mark.parametrize("purpose", ["invite", "reset"])
def test_the_password_mail_is_in_the_recipients_language(purpose):
    from server.people import mail

    link = "https://ktl.example/passord/abc"
    subject, body = mail.password_mail(link, 48, purpose, "en")
    assert subject.endswith("link to choose a password") and body.startswith("Hello!")
    assert link in body and "expires after 48 hours" in body
    assert norwegian_words(subject) == [] and norwegian_words(body) == []
    subject, body = mail.password_mail(link, 48, purpose, "nb")
    assert subject.endswith("lenke for å velge passord") and "utløper etter 48 timer" in body


def test_english_validation_and_error_messages(settings):
    site = _english_site(settings)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.cookies.set(i18n.COOKIE, "en")
        wrong = post(client, "/logg-inn", {"email": "admin@kommune.no", "password": "nope"})
        assert "Wrong email address or password" in wrong.text
        assert norwegian_words(wrong.text) == []
        login(client, "organiser@kommune.no")
        invalid = post(client, "/talks", {"title": " ", "starts_at": "soon", "capacity": "x",
                                          "language": "de", "visibility": "x"})  # fmt: skip
        assert invalid.status_code == 422
        assert "Write a title for the talk." in invalid.text
        assert "Choose the date and time in the date picker" in invalid.text
        past = post(client, "/talks", {"title": "Old talk", "starts_at": "2020-01-02T11:30",
                                       "language": "en", "visibility": "internal"})  # fmt: skip
        assert past.status_code == 422 and "The date has passed." in past.text
        for response in (invalid, past):
            assert norwegian_words(response.text) == []
        status = client.get(f"/talks/{site['failed']}/status.json").json()
        # no English track for this talk: its stage is not listed
        assert [s["label"] for s in status["stages"]] == [
            "Packaging video for playback", "Transcribing speech to text",
            "Making the content searchable", "Finding and reading the slides",
        ]  # fmt: skip
        assert status["error"].startswith("Processing stopped 3 times during")
        retry = post(client, f"/talks/{site['ready']}/prov-igjen")
        assert retry.status_code == 409 and norwegian_words(retry.text) == []
        hits = client.get("/sok.json?q=zebra").json()
        assert hits["message"].startswith("Nothing found for “zebra”")
        tus = client.post("/uploads/", headers={"X-CSRF-Token": csrf(client)})
        assert tus.status_code == 412 and "tus protocol" in tus.text
        attach = client.post(f"/talks/{site['failed']}/opptak", json={"upload_id": "x" * 20},
                             headers={"X-CSRF-Token": csrf(client)})  # fmt: skip
        assert attach.status_code == 404
        assert attach.json()["error"] == (
            "Could not find the upload. Choose the file again and upload it again."
        )
        gone = client.get(f"/talks/{site['failed']}/transcript.txt")
        assert gone.status_code == 404 and norwegian_words(gone.text) == []
        forged = client.post("/talks", data={"title": "x"})
        assert forged.status_code == 403 and "The form was too old" in forged.text
        broken = client.post(f"/talks/{site['ready']}/transkripsjon", json={
            "base_version": 1, "segments": [{"start": 2, "end": 1, "text": ""}]},
            headers={"X-CSRF-Token": csrf(client), "Accept": "application/json"})  # fmt: skip
        assert broken.status_code == 422
        assert broken.json()["error"].startswith("The transcript was not saved. Segment 1:")
        assert all(norwegian_words(e) == [] for e in broken.json()["errors"])


def test_the_csv_export_is_in_the_language_of_the_person_who_asks(settings):
    _english_site(settings)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        login(client, "admin@kommune.no")
        norwegian = client.get("/rapporter.csv").content.decode("utf-8-sig").splitlines()[0]
        assert norwegian.startswith('"Navn","E-post","Avdeling","Foredrag","Dato"')
        client.cookies.set(i18n.COOKIE, "en")
        english = client.get("/rapporter.csv").content.decode("utf-8-sig").splitlines()
        assert english[0] == ('"Name","E-mail","Department","Talk","Date","Share watched (%)",'
                              '"Quiz passed","Completed"')  # fmt: skip
        assert all(norwegian_words(line) == [] for line in english)


@pytest.mark.parametrize("how", ["cookie", "accept-language"])
def test_the_first_sign_in_keeps_the_browsers_language(settings, how):
    """An account that never chose a language takes the one the browser used before
    signing in; a later choice on the account is kept."""
    user = make_user(settings, "viewer")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        headers = {"Accept-Language": "en-GB,en;q=0.9"} if how == "accept-language" else {}
        if how == "cookie":
            client.cookies.set(i18n.COOKIE, "en")
        assert client.get("/", headers=headers).headers["content-language"] == "en"
        token = csrf(client)
        client.post("/logg-inn", data={"email": user.email, "password": PASSWORD,
                                        "csrf_token": token}, headers=headers)  # fmt: skip
        assert _lang(client.get("/", headers=headers)) == "en"
    with database.session(settings) as db:
        assert accounts.user_locale(db, user.id) == "en"
    with TestClient(create_app(settings), follow_redirects=False) as other:
        login(other, user.email)  # another browser, Norwegian
        assert _lang(other.get("/", headers={"Accept-Language": "nb"})) == "en"


def test_a_browser_that_says_nothing_stores_nothing(settings, client):
    user = make_user(settings, "viewer")
    login(client, user.email)
    with database.session(settings) as db:
        assert accounts.user_locale(db, user.id) is None
