"""The shared part of the journey suite: one `ktl serve` with real media for the whole
package, a browser context per role, language and viewport, and the checks every page
state on a journey must pass.

A `Journey` is one person's browser. `journey.step(...)` asserts what the person must see
(fails at once: the next step depends on it), saves a screenshot, and collects what is
wrong with the page (horizontal overflow, a control the role may not use, words of the
other language, a UTC time, a destructive action without a question, console errors, axe
violations); `journey.assert_clean()` at the end of a test fails with all of them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe

from server.catalogue import programme, talks
from server.core import i18n
from server.core.config import load_settings
from server.learning import quizzes
from server.live import broadcasts
from server.people import access, accounts
from server.pipeline import jobs
from server.pipeline.worker import give_up_message
from server.store import db as database
from server.transcript import model as transcript
from server.web.app import create_app
from tests import factories
from tests.conftest import need
from tests.liveserver import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, serve
from tests.webclient import PASSWORD, make_user, route_of

OSLO = ZoneInfo("Europe/Oslo")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]}
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
SPEECH = ("Welcome to the lunch talk.", "The bicycles are charged in the basement.")
TIMED_AT = 1.0  # the timed quiz question, seconds into the ready talk

# Stored instants (UTC) shown on pages: winter (CET, +1) and summer (CEST, +2, next day).
WINTER = "2026-01-15T04:12:00+00:00"
SUMMER = "2026-06-30T22:30:00+00:00"
KNOWN_INSTANTS = (WINTER, SUMMER)
SCREENSHOTS = "journey screenshots"

MONTHS = {
    "nb": (
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}

# Words that give away the other language in an interface text (function words and the
# interface's own nouns; none of them is a word of both languages).
_NORWEGIAN = (
    "og ikke på er du deg din ditt dine med av til som det eller å foredrag foredraget "
    "foredragene opptak opptaket søk søket logg lagre slett hvordan kl januar februar mars "
    "mai juni juli oktober desember bruker brukere rolle avdeling ingen nytt ny ser "
    "sendingen teksting transkripsjon transkripsjonen innsjekking innsjekkingen påmelding "
    "påmeldt påmeldte invitert bestått fullført moduler arrangør ansatt spørsmål svar "
    "svaret riktig feil hva hvem når gjelder detaljer endret endringer opprettet behandles "
    "kommer nye alle rediger fra om sett ferdig venter pågår"
)
_ENGLISH = (
    "the and you your is are not of with this that will has have been was were sign search "
    "talk talks recording recordings question questions answer answers save delete upload "
    "uploaded watch watching users attendance results reports log from when where what who "
    "which please here there new edit name email password department role captions "
    "transcript january february march june july october december in on"
)
NORWEGIAN_WORDS, ENGLISH_WORDS = frozenset(_NORWEGIAN.split()), frozenset(_ENGLISH.split())
# Proper names the interface keeps in Norwegian in every language.
NAMES = ("Kunnskap til lunsj", "bokmål", "nynorsk", "Bokmål", "Nynorsk")
# Elements whose text is user content, not interface: transcripts, snippets, typed text.
USER_CONTENT = (
    "#transcript-lines, .hits, .snippet, .live-captions, #segments-data, .question-list "
    ".question-text, .reflection-answers, code.link, code.srt-url, .checkin-url a"
)
# Routes that delete or end something: their forms must ask first.
DESTRUCTIVE_ROUTES = {"talk_delete", "live_end", "quiz_question_delete"}
DESTRUCTIVE_WORDS = re.compile(
    r"\b(slett\w*|delete\w*|avslutt\w*|end|fjern\w*|remove\w*|forkast\w*|discard\w*)\b", re.I
)


@dataclass(frozen=True)
class Combo:
    lang: str
    width: int
    height: int

    @property
    def id(self) -> str:
        return f"{self.lang}-{self.width}"


COMBOS = (
    Combo("nb", 1366, 768),
    Combo("nb", 390, 844),
    Combo("en", 1366, 768),
    Combo("en", 390, 844),
)
FIRST = COMBOS[0]


def translate(lang: str, message: str, **values: object) -> str:
    """The interface text `message` (a bokmål msgid) as a page in `lang` shows it."""
    text = i18n.translations(lang).gettext(message)
    return text % values if values else text


def oslo_text(moment: datetime | str, lang: str, with_time: bool = True) -> str:
    """How a page must write an instant: in Europe/Oslo, in the page's language."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.replace(tzinfo=OSLO) if moment.tzinfo is None else moment.astimezone(OSLO)
    return _date_text(local, lang, with_time)


def _date_text(moment: datetime, lang: str, with_time: bool) -> str:
    month = MONTHS[lang][moment.month - 1]
    if lang == "en":
        text = f"{moment.day} {month} {moment.year}"
        return f"{text}, {moment:%H:%M}" if with_time else text
    text = f"{moment.day}. {month} {moment.year}"
    return f"{text} kl. {moment:%H.%M}" if with_time else text


def utc_texts(instant: str) -> list[str]:
    """The ways a page would write `instant` if it forgot Europe/Oslo."""
    moment = datetime.fromisoformat(instant).astimezone(UTC)
    return [_date_text(moment, lang, True) for lang in ("nb", "en")]


def oslo_in(minutes: float) -> str:
    """A talk start `minutes` from now, as the talk form takes it (Oslo time)."""
    moment = datetime.now(UTC).astimezone(OSLO) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M")


# ---------------------------------------------------------------------------- the site


@dataclass
class Site:
    base: str
    settings: object
    app: object  # create_app(settings): its routes, to resolve links on pages
    people: dict
    talks: dict
    artifacts: Path
    recording: Path
    user_content: set[str] = field(default_factory=set)
    shots: dict[str, int] = field(default_factory=dict)
    broadcast: object = None

    def talk(self, name: str) -> dict:
        with database.session(self.settings.db_path) as db:
            return talks.get(db, self.talks[name].id)

    def checkin_path(self, name: str = "coming") -> str:
        """The address in the talk's QR code (what a phone opens when it scans it)."""
        with database.session(self.settings.db_path) as db:
            talk = talks.get(db, self.talks[name].id)
            return f"/talks/{talk.slug}/innsjekk/{programme.ensure_code(db, talk)}"

    def user(self, email: str) -> accounts.User | None:
        with database.session(self.settings.db_path) as db:
            return accounts.by_email(db, email)


def _people(settings) -> dict:
    people = {
        "organiser": make_user(settings, "organiser", name="Ola Nordmann", department="Kultur")
    }
    for combo in COMBOS:
        people[f"staff-{combo.id}"] = make_user(
            settings,
            "viewer",
            f"staff-{combo.id}@kommune.no",
            name="Kari Nordmann",
            department="Kultur",
        )
    people["admin-nb"] = make_user(settings, "admin", "admin-nb@kommune.no", name="Anne Admin")
    people["admin-en"] = make_user(settings, "admin", "admin-en@kommune.no", name="Anne Admin")
    with database.session(settings.db_path) as db:
        accounts.set_user_locale(db, people["admin-en"].id, "en")  # users.locale picks English
    people["seed"] = make_user(
        settings, "viewer", "seed@kommune.no", name="Per Hansen", department="Kultur"
    )
    return people


def _recording(folder: Path) -> Path:
    """A few seconds of espeak-ng English on a 160x90 test picture: two sentences with a
    pause between them, so that Whisper makes two segments and a search hit lands later."""
    first, second = (
        factories.speech_wav(folder / f"speech-{i}.wav", text) for i, text in enumerate(SPEECH)
    )
    speech = folder / "speech.wav"
    factories.ffmpeg(
        "-i",
        str(first),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=22050:cl=mono:d=2",
        "-i",
        str(second),
        "-filter_complex",
        "[0:a][1:a][2:a]concat=n=3:v=0:a=1",
        str(speech),
    )
    return factories.video(folder / "elsykkel.mp4", audio=speech, seconds=7, size="160x90")


def _create(db, organiser, **fields) -> dict:
    return talks.create(db, talks.TalkInput(**fields), organiser)


def _world(settings, people: dict, clip: Path) -> dict:
    organiser = people["organiser"]
    with database.session(settings.db_path) as db:
        made = {
            "ready": _create(
                db,
                organiser,
                title="Elsykkelverkstedet",
                speaker="Kari Hansen",
                department="Kultur",
                language="en",
                visibility="public",
                description="Elsykkel, verksted, lading.",
                starts_at="2026-01-15T11:30",
            ),
            "coming": _create(
                db,
                organiser,
                title="Vannverket",
                speaker="Per Olsen",
                department="Teknisk drift",
                visibility="public",
                starts_at=oslo_in(10),
                room="Kantina",
                capacity="40",
            ),
            "internal": _create(
                db,
                organiser,
                title="Skolebussen",
                visibility="internal",
                starts_at=oslo_in(7 * 24 * 60),
            ),
            "live": _create(
                db, organiser, title="Havnebussen", speaker="Per Olsen", visibility="public"
            ),
            "failed": _create(
                db, organiser, title="Bybrua", visibility="internal", starts_at="2026-02-03T11:30"
            ),
            "sender": _create(
                db, organiser, title="Vindkraft", visibility="internal", language="en"
            ),
        }
        copy = clip.parent / "kopi.mp4"
        shutil.copy(clip, copy)
        talks.attach_recording(db, settings, made["ready"].id, copy, clip.name)
        _quiz(db, made["ready"], organiser)
        _failed(db, made["failed"])
        _stamps(db, made, people)
    return made


def _quiz(db, talk: dict, organiser) -> None:
    timed = quizzes.QuestionInput(
        kind="single",
        text="Where are the bicycles charged?",
        at="0:01",
        explanation="In the basement.",
        options=("In the basement", "On the roof"),
        correct=(0,),
    )
    form = quizzes.QuestionInput(
        kind=quizzes.TRUEFALSE, text="Bicycles are lent out.", correct=(0,)
    )
    quizzes.save_question(db, talk, timed, organiser)
    quizzes.save_question(db, talk, form, organiser)
    quizzes.save_settings(db, talk, "50", True, True, organiser)


def _failed(db, talk: dict) -> None:
    """A recording whose transcription the worker gave up on (what the page shows then)."""
    with database.write(db):
        db.execute(
            "INSERT INTO recordings (talk_id, original_name, path, size, duration, has_video, "
            "created_at) VALUES (?, 'bybrua.mp4', 'original.mp4', 64, 7.0, 1, ?)",
            [talk.id, WINTER],
        )
        db.execute(
            "INSERT INTO jobs (talk_id, kind, state, stage, stages_done, attempts, error, "
            "created_at, updated_at, finished_at) VALUES (?, 'process', 'failed', 'transcribe', "
            "'[\"package\"]', ?, ?, ?, ?, ?)",
            [talk.id, jobs.MAX_ATTEMPTS, give_up_message("transcribe"), WINTER, WINTER, WINTER],
        )
        talks.set_status(db, talk.id, "failed")


def _stamps(db, made: dict, people: dict) -> None:
    """Rows stored at known instants, so pages can be checked for Oslo time."""
    organiser, seed = people["organiser"], people["seed"]
    broadcasts.ensure(db, made["live"])
    with database.write(db):
        for at in KNOWN_INSTANTS:
            db.execute(
                "INSERT INTO audit_log (at, user_id, actor, action, target) VALUES (?,?,?,?,?)",
                [at, organiser.id, organiser.email, "opprettet foredrag", "Elsykkelverkstedet"],
            )
        db.execute(
            "INSERT INTO live_questions (talk_id, user_id, text, created_at) VALUES (?,?,?,?)",
            [made["live"].id, seed.id, "Hvor går bussen?", WINTER],
        )
        ready = made["ready"].id  # seed attended, passed the quiz and completed at WINTER
        db.execute(
            "INSERT INTO attendance (user_id, talk_id, how, registered_by, at) "
            "VALUES (?, ?, 'room', ?, ?)",
            [seed.id, ready, organiser.id, WINTER],
        )
        db.execute(
            "INSERT INTO attempts (talk_id, user_id, started_at, submitted_at, score, passed) "
            "VALUES (?, ?, ?, ?, 1.0, 1)",
            [ready, seed.id, WINTER, WINTER],
        )
        db.execute(
            "INSERT INTO completions (user_id, talk_id, completed_at) VALUES (?, ?, ?)",
            [seed.id, ready, WINTER],
        )
        db.execute(  # and watched the first four seconds: the results page has a chart
            "INSERT INTO watch_progress (user_id, talk_id, intervals, watched_seconds, duration, "
            "position, updated_at) VALUES (?, ?, '[[0, 4]]', 4, 7, 4, ?)",
            [seed.id, ready, WINTER],
        )


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"waited {seconds} s for {what}")


def _ready(settings, talk_id: int) -> bool:
    with database.session(settings.db_path) as db:
        status = talks.get(db, talk_id).status
    if status == "failed":
        pytest.fail("the ready talk's processing failed: see serve.log")
    return status == "ready"


def _content(settings, people: dict, made: dict) -> set[str]:
    """Text that users wrote (titles, names, transcripts): not the interface's language."""
    found = {
        "Hvor går bussen?",
        "Bicycles are lent out.",
        "Where are the bicycles charged?",
        "In the basement.",
        "In the basement",
        "On the roof",
    }
    for person in people.values():
        found |= {person.name, person.email}
    for talk in made.values():
        fields = ("title", "speaker", "department", "room", "description")
        found |= {getattr(talk, k) for k in fields}
    path = settings.paths.transcript_json(made["ready"].id)
    found |= {segment.text for segment in transcript.load(path).segments}
    return {text for text in found if text}


@pytest.fixture(scope="package")
def site(tmp_path_factory) -> Iterator[Site]:
    """One `ktl serve` (embedded worker, real ffmpeg and Whisper) for the whole suite."""
    need("ffmpeg", "espeak-ng")
    require_chromium()
    root = tmp_path_factory.mktemp("journeys-site")
    settings = load_settings(env={}, data_dir=root / "data")
    settings.ensure_dirs()
    database.init(settings.db_path)
    people = _people(settings)
    recording = _recording(root)
    made = _world(settings, people, recording)
    artifacts = tmp_path_factory.mktemp("journeys")
    print(f"\njourney screenshots: {artifacts}")
    env = {
        "KTL_SRT_BIND": "127.0.0.1",
        "KTL_SRT_PORTS": str(free_port()),
        "KTL_LIVE_CAPTIONS": "0",
        "KTL_WORKER_POLL_SECONDS": "0.3",
        "KTL_LIVE_GRACE_SECONDS": "60",
    }
    with serve(settings.data_dir, root / "serve.log", **env) as base:
        _wait(lambda: _ready(settings, made["ready"].id), 240, "the ready talk's pipeline")
        site = Site(base, settings, create_app(settings), people, made, artifacts, recording)
        site.user_content = _content(settings, people, made)
        yield site
        if site.broadcast is not None:
            site.broadcast.kill()
            site.broadcast.communicate()


def on_air(site: Site) -> dict:
    """The talk "live", on air from an encoder: ffmpeg publishing over SRT (started once)."""
    talk = site.talks["live"]
    if site.broadcast is None:
        url = _open_encoder(site, talk.slug)
        site.broadcast = subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:rate=10",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "900",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                "10",
                "-c:a",
                "aac",
                "-f",
                "mpegts",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    _wait(lambda: _broadcast_state(site, talk.id) == "live", 30, "the broadcast to go live")
    return talk


def _broadcast_state(site: Site, talk_id: int) -> str:
    with database.session(site.settings.db_path) as db:
        return broadcasts.get(db, talk_id).state


def _open_encoder(site: Site, slug: str) -> str:
    csrf = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')
    with httpx.Client(base_url=site.base, timeout=30) as client:
        token = csrf.search(client.get("/logg-inn").text).group(1)
        form = {"email": site.people["organiser"].email, "password": PASSWORD, "csrf_token": token}
        assert client.post("/logg-inn", data=form).status_code == 303
        token = csrf.search(client.get("/").text).group(1)
        opened = client.post(f"/talks/{slug}/direkte/koder", data={"csrf_token": token})
        assert opened.status_code == 303, opened.text
        page = client.get(f"/talks/{slug}/direkte").text
    return re.search(r'id="srt-url">([^<]+)<', page).group(1).replace("&amp;", "&")


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_MEDIA
        )
        yield instance
        instance.close()


@pytest.fixture(params=COMBOS, ids=[combo.id for combo in COMBOS])
def combo(request) -> Combo:
    return request.param


@pytest.fixture
def journeys(site, browser, request):
    """open(role, combo) -> Journey: a fresh browser context; all closed after the test.
    The screenshots' folder goes into the test's report (see conftest's summary)."""
    opened: list[Journey] = []

    def open_journey(role: str, combo: Combo, folder: str = "") -> Journey:
        journey = Journey.open(site, browser, role, combo, folder)
        opened.append(journey)
        request.node.user_properties.append((SCREENSHOTS, str(journey.folder)))
        return journey

    yield open_journey
    for journey in opened:
        journey.context.close()


# ---------------------------------------------------------------------------- the checks

COLLECT = """(userContent) => {
  const docLang = (document.documentElement.lang || "").slice(0, 2);
  const shown = (el) => el.checkVisibility({checkVisibilityCSS: true, visibilityProperty: true});
  const foreign = (el) => {
    const holder = el.closest("[lang]");
    return holder && holder !== document.documentElement
      && (holder.getAttribute("lang") || "").slice(0, 2) !== docLang;
  };
  const skipped = (el) => el.closest(userContent) !== null || foreign(el);
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.nodeValue.trim() || !parent) continue;
    if (parent.closest("script, style, noscript, textarea, select")) continue;
    if (skipped(parent) || !shown(parent)) continue;
    texts.push(node.nodeValue);
  }
  const attributes = "[aria-label], [placeholder], [title], [alt], input[type=submit], "
    + "input[type=button]";
  for (const el of document.body.querySelectorAll(attributes)) {
    if (skipped(el) || !shown(el)) continue;
    for (const name of ["aria-label", "placeholder", "title", "alt"]) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
    if (el.tagName === "INPUT" && el.value) texts.push(el.value);
  }
  for (const select of document.body.querySelectorAll("select")) {
    if (skipped(select) || !shown(select)) continue;
    for (const option of select.options) texts.push(option.text);
  }
  // Messages the page keeps for its scripts to show later.
  const strings = (value) => typeof value === "string" ? [value]
    : value && typeof value === "object" ? Object.values(value).flatMap(strings) : [];
  for (const script of document.querySelectorAll('script[type="application/json"]')) {
    if (skipped(script)) continue;
    try { texts.push(...strings(JSON.parse(script.textContent))); } catch (e) {}
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (skipped(el)) continue;
    for (const [key, value] of Object.entries(el.dataset)) {
      if (/\\s/.test(value) && !/^[\\/{\\[]/.test(value)) texts.push(value);
    }
  }
  const submitters = (form) => [...form.querySelectorAll("button, input[type=submit]")]
    .filter((b) => (b.getAttribute("type") || "submit").toLowerCase() === "submit");
  const controls = [];
  for (const a of document.querySelectorAll("a[href]")) {
    if (shown(a)) controls.push({method: "GET", url: a.href, text: a.innerText.trim()});
  }
  for (const form of document.querySelectorAll("form")) {
    const buttons = submitters(form);
    if (!shown(form) || (buttons.length && !buttons.some(shown))) continue;
    controls.push({
      method: (form.getAttribute("method") || "get").toUpperCase(), url: form.action,
      confirm: Boolean(form.dataset.confirm) || buttons.some((b) => b.dataset.confirm),
      confirmed: Boolean(form.querySelector('input[name="bekreftet"]')),
      buttons: buttons.filter(shown).map((b) => (b.innerText || b.value || "").trim()),
    });
  }
  // The header: one row while its menu is closed (rows of its items by their tops).
  const header = document.querySelector("header.site-header");
  const menuOpen = Boolean(document.querySelector(".menu-toggle[aria-expanded=true]"));
  const tops = header && !menuOpen ? [...header.querySelectorAll(
      ".brand, .menu-toggle, nav > ul > li, .search-box, .account")]
    .filter((el) => shown(el) && el.getBoundingClientRect().height > 0)
    .map((el) => el.getBoundingClientRect().top).sort((a, b) => a - b) : [];
  let headerRows = 0;
  for (let i = 0, row = -Infinity; i < tops.length; i++) {
    if (tops[i] - row > 12) { headerRows += 1; row = tops[i]; }
  }
  const searchBoxes = [...document.querySelectorAll("input[type=search]")].filter(shown).length;
  const doc = document.documentElement;
  const wide = [];
  if (doc.scrollWidth > window.innerWidth) {
    const clipped = (el) => {  // inside a box that scrolls or clips: not what widens the page
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== "visible") return true;
      }
      return false;
    };
    for (const el of document.body.querySelectorAll("*")) {
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > window.innerWidth + 1 && wide.length < 6
          && !clipped(el)) {
        wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
          + (el.className && typeof el.className === "string"
             ? "." + el.className.trim().split(/\\s+/).join(".") : "")
          + " (right edge " + Math.round(box.right) + ")");
      }
    }
  }
  return {lang: doc.lang, texts, controls, scrollWidth: doc.scrollWidth,
          innerWidth: window.innerWidth, wide, body: document.body.innerText, headerRows,
          searchBoxes};
}"""

_AXE = Axe()


def words_of(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.lower())


class Journey:
    """One person (a role with a language and a viewport) in their own browser context."""

    def __init__(self, site: Site, context, role: str, combo: Combo, user, folder: str) -> None:
        self.site, self.context, self.role, self.combo, self.user = site, context, role, combo, user
        self.page = context.new_page()
        self.problems: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.folder = site.artifacts / folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    @classmethod
    def open(cls, site: Site, browser, role: str, combo: Combo, folder: str = "") -> Journey:
        """The role's own way to its language: a guest's browser asks for it
        (Accept-Language), staff press the language button before signing in (the
        ktl_lang cookie), an admin account has it stored (users.locale), and the one
        organiser account, whose browser asks for it, presses the language button after
        signing in when the account is set to the other language."""
        english = combo.lang == "en" and role in ("guest", "organiser")
        asks = "en-GB,en;q=0.9" if english else "nb-NO,nb;q=0.9"
        context = browser.new_context(
            viewport={"width": combo.width, "height": combo.height},
            timezone_id="UTC",
            locale=asks.split(",")[0],
            extra_http_headers={"Accept-Language": asks},
        )
        context.set_default_timeout(20_000)
        user = {
            "guest": None,
            "organiser": site.people["organiser"],
            "staff": site.people[f"staff-{combo.id}"],
            "admin": site.people[f"admin-{combo.lang}"],
        }[role]
        return cls(site, context, role, combo, user, folder or f"{role}-{combo.id}")

    # -- texts

    def t(self, message: str, **values: object) -> str:
        return translate(self.combo.lang, message, **values)

    def when(self, moment: datetime | str, with_time: bool = True) -> str:
        return oslo_text(moment, self.combo.lang, with_time)

    # -- moving around

    def url(self, path: str) -> str:
        return self.site.base + path

    def goto(self, path: str, name: str, status: int = 200, **expect) -> None:
        response = self.page.goto(self.url(path))
        assert response is not None and response.status == status, (
            f"{self.label} {path}: HTTP {response.status if response else None}, not {status}"
        )
        self.step(name, **expect)

    def sign_in(self) -> None:
        if self.role == "staff" and self.combo.lang == "en":  # English chosen on the page
            self.page.goto(self.url("/logg-inn"))
            self.step(
                "login before choosing English", heading=translate("nb", "Logg inn"), lang="nb"
            )
            self.reveal("form.lang-switch button[value=en]").click()
            self.page.wait_for_selector("html[lang=en]")
        asked = self.page.evaluate("navigator.language").split("-")[0]
        chosen = self.context.cookies(self.site.base)
        browser = next((c["value"] for c in chosen if c["name"] == i18n.COOKIE), asked)
        self.goto("/logg-inn", "login", heading=translate(browser, "Logg inn"), lang=browser)
        self.page.fill("#email", self.user.email)
        self.page.fill("#password", PASSWORD)
        self.page.click("main form button[type=submit]")
        self.page.wait_for_url(self.url("/"))
        if self.page.get_attribute("html", "lang") != self.combo.lang:  # the account's choice
            self.reveal(f"form.lang-switch button[value={self.combo.lang}]").click()
            self.page.wait_for_selector(f"html[lang={self.combo.lang}]")

    def reveal(self, selector: str):
        """The header control `selector`, made visible the way a person would: on a phone
        the "Meny" button first, then the dropdown (<details>) it sits in."""
        target = self.page.locator(selector).first
        toggle = self.page.locator(".menu-toggle")
        if not target.is_visible() and toggle.count() and toggle.first.is_visible():
            toggle.first.click()
        if not target.is_visible():
            group = target.locator("xpath=ancestor::details[1]")
            if group.count():
                group.locator("summary").first.click()
        assert target.is_visible(), f"{self.label}: {selector} cannot be reached{self._so_far()}"
        return target

    def wait(self, condition: str, what: str, timeout: float = 20_000) -> None:
        """Wait until the JavaScript `condition` holds; else fail saying what the page says."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(condition, timeout=timeout)
        except PlaywrightTimeout:
            self._shoot(f"waiting for {what}")
            said = " ".join(self.page.inner_text("main").split())[:600]
            pytest.fail(
                f"{self.label}: waited {timeout / 1000:.0f} s for {what} on "
                f"{self.page.url}; the page says: {said}{self._so_far()}"
            )

    def accept_next_dialog(self) -> None:
        self.page.once("dialog", lambda d: (self.dialogs.append(d.message), d.accept()))

    def dismiss_next_dialog(self) -> None:
        self.page.once("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    # -- a step: expectations, screenshot, checks

    @property
    def label(self) -> str:
        return f"{self.role} ({self.combo.id})"

    def step(
        self,
        name: str,
        heading: str | None = None,
        see: tuple[str, ...] | list[str] = (),
        buttons: tuple[str, ...] | list[str] = (),
        links: tuple[str, ...] | list[str] = (),
        lang: str | None = None,
    ) -> dict:
        """Screenshot the page, check it (in `lang`, else the journey's language), and
        assert what the person must see."""
        self._shoot(name)
        found = self._collect()
        where = f"{self.label} at '{name}' ({urlsplit(self.page.url).path})"
        self._check(found, where, lang or self.combo.lang)
        self._axe(where)
        missing = self._missing(found, heading, see, buttons, links)
        if missing:
            pytest.fail(f"{where}: " + "; ".join(missing) + self._so_far())
        return found

    def _collect(self) -> dict:
        """What the page shows; once more if the page reloaded itself meanwhile (a talk
        page does when its processing moves on, js/status.js)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            return self.page.evaluate(COLLECT, USER_CONTENT)
        except PlaywrightError as error:
            if "Execution context was destroyed" not in str(error):
                raise
            self.page.wait_for_load_state()
            return self.page.evaluate(COLLECT, USER_CONTENT)

    def _missing(self, found: dict, heading, see, buttons, links) -> list[str]:
        missing = []
        body = " ".join(found["body"].split())
        if heading is not None:
            shown = " ".join(self.page.locator("h1").first.inner_text().split())
            if shown != heading:
                missing.append(f"heading is {shown!r}, not {heading!r}")
        missing += [f"does not say {text!r}" for text in see if " ".join(text.split()) not in body]
        for role, names in (("button", buttons), ("link", links)):
            for text in names:
                locator = self.page.get_by_role(role, name=text, exact=True)
                if not any(locator.nth(i).is_visible() for i in range(locator.count())):
                    missing.append(f"no visible {role} {text!r}")
        return missing

    def _shoot(self, name: str) -> None:
        number = self.site.shots.get(self.folder.name, 0) + 1
        self.site.shots[self.folder.name] = number
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{number:02d}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=True)
        extra = os.environ.get("KTL_JOURNEY_ARTIFACTS")
        if extra:
            target = Path(extra) / self.folder.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _check(self, found: dict, where: str, lang: str) -> None:
        problems: list[str] = []
        if found["lang"] != lang:
            problems.append(f'<html lang="{found["lang"]}">, expected {lang}')
        if found["scrollWidth"] > found["innerWidth"]:
            problems.append(
                f"overflows sideways: {found['scrollWidth']} px wide in a "
                f"{found['innerWidth']} px window; past the edge: {', '.join(found['wide'])}"
            )
        if found["headerRows"] > 1:
            problems.append(f"the header wraps into {found['headerRows']} rows")
        if found["searchBoxes"] > 1:
            problems.append(f"{found['searchBoxes']} search boxes on one page")
        problems += self._controls(found["controls"])
        problems += self._language(found["texts"], found["lang"])
        problems += self._times(found["body"])
        problems += self.errors
        self.errors.clear()
        self.problems += [f"{where}: {problem}" for problem in problems]

    def _controls(self, controls: list[dict]) -> list[str]:
        viewer = access.Viewer(self._fresh_user())
        problems = []
        for control in controls:
            url = urlsplit(control["url"])
            if url.scheme not in ("http", "https") or url.netloc != urlsplit(self.site.base).netloc:
                continue
            name, params = route_of(self.site.app, control["method"], url.path)
            described = (
                f"{control['method']} {url.path} ({control.get('text') or control.get('buttons')})"
            )
            if name is None:
                problems.append(f"{described} leads nowhere")
                continue
            if name == "static":
                continue
            talk = self._talk_of(params)
            rule = access.RULES[name]
            if rule in (access.TALK_VIEW, access.TALK_EDIT, access.TALK_MEMBER) and talk is None:
                problems.append(f"{described} is about a talk that does not exist")
            elif not access.may(viewer, name, talk):
                problems.append(f"{described} is offered but refused to a {self.role} ({name})")
            if control["method"] == "POST":
                problems += self._asks_first(name, control, described)
        return problems

    def _asks_first(self, name: str, control: dict, described: str) -> list[str]:
        if control["confirm"]:
            return []
        # Without bekreftet=1 the server asks on a page of its own, whose form sends it.
        if name == "talk_delete" and (
            not control["confirmed"] or urlsplit(self.page.url).path.endswith("/slett")
        ):
            return []
        destructive = name in DESTRUCTIVE_ROUTES or any(
            DESTRUCTIVE_WORDS.search(text) for text in control["buttons"]
        )
        return [f"{described} deletes or ends without asking first"] if destructive else []

    def _fresh_user(self):
        return self.site.user(self.user.email) if self.user else None

    def _talk_of(self, params: dict) -> dict | None:
        with database.session(self.site.settings.db_path) as db:
            if "key" in params:
                return talks.find(db, str(params["key"]))
            if "talk_id" in params:
                return talks.get(db, int(params["talk_id"]))
        return None

    def _language(self, texts: list[str], lang: str) -> list[str]:
        text = re.sub(r"\b(https?|webcal|srt)://\S+", " ", "\n".join(texts))  # addresses
        for content in sorted(self.site.user_content | set(NAMES), key=len, reverse=True):
            text = text.replace(content, " ")
        other = NORWEGIAN_WORDS if lang == "en" else ENGLISH_WORDS
        problems = []
        for line in text.splitlines():
            words = words_of(line)
            bad = [w for w in words if w in other or (lang == "en" and re.search("[æøå]", w))]
            if bad:
                language = "Norwegian" if lang == "en" else "English"
                problems.append(
                    f"{language} on a page in {lang}: {', '.join(bad)} in "
                    f"{' '.join(line.split())[:120]!r}"
                )
        return problems

    def _times(self, body: str) -> list[str]:
        return [
            f"shows {shown!r}: the time in UTC, not in Europe/Oslo"
            for instant in KNOWN_INSTANTS
            for shown in utc_texts(instant)
            if shown in body
        ]

    def _axe(self, where: str) -> None:
        violations = _AXE.run(self.page, options=AXE_OPTIONS).response["violations"]
        for violation in violations:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:4])
            self.problems.append(
                f"{where}: axe {violation['id']} ({violation['impact']}): {violation['help']} "
                f"at {targets}"
            )

    # -- the end of a test

    def _so_far(self) -> str:
        if not self.problems:
            return ""
        return "\n\nand on the way:\n" + "\n".join(f"- {p}" for p in self.problems)

    def assert_clean(self) -> None:
        assert not self.problems, (
            f"{len(self.problems)} problems on the journey of {self.label} "
            f"(screenshots in {self.folder}):\n" + "\n".join(f"- {p}" for p in self.problems)
        )


# ---------------------------------------------------------------------------- shared steps

PLAYER_READY = (
    "() => { const v = document.querySelector('video#video');"
    " return v && v.readyState >= 2 && v.textTracks.length > 0; }"
)


def video_time(journey: Journey) -> float:
    return journey.page.evaluate("document.querySelector('video#video').currentTime")


def wait_until_time(journey: Journey, seconds: float, what: str) -> None:
    """Wait until the player stands within half a second of `seconds`."""
    try:
        journey.page.wait_for_function(
            f"() => Math.abs(document.querySelector('video#video').currentTime - {seconds}) < 0.6",
            timeout=15_000,
        )
    except Exception:  # Playwright's timeout: say where the player is
        pytest.fail(
            f"{journey.label}: {what}: the player is at {video_time(journey)} s, "
            f"not {seconds} s{journey._so_far()}"
        )


def open_ready_talk_from_front(journey: Journey) -> dict:
    """Front page → the ready talk's card → its page with player and transcript."""
    talk = journey.site.talk("ready")
    journey.goto(
        "/",
        "front page",
        heading=journey.t("Kunnskap til lunsj"),
        see=[journey.t("Kommende foredrag"), journey.t("Nye opptak"), talk.title],
    )
    journey.page.click(f".talk-card a[href='/talks/{talk.slug}']")
    journey.page.wait_for_url(journey.url(f"/talks/{talk.slug}"))
    journey.page.wait_for_function(PLAYER_READY)
    journey.step(
        "talk page",
        heading=talk.title,
        see=[journey.t("Transkripsjon"), journey.t("Last ned")],
        buttons=[journey.t("Teksting på")],
    )
    return talk


def play_with_captions_and_transcript(journey: Journey) -> None:
    """Play, see the captions shown, turn them off and on, click a transcript line."""
    page = journey.page
    page.evaluate("document.querySelector('video#video').play()")
    page.wait_for_function(
        "() => { const v = document.querySelector('video#video'); const t = v.textTracks[0];"
        " return v.currentTime > 0.3 && t.mode === 'showing' && t.cues && t.cues.length > 0; }"
    )
    page.click("#captions-toggle")
    assert page.get_attribute("#captions-toggle", "aria-pressed") == "false"
    assert page.evaluate("document.querySelector('video#video').textTracks[0].mode") != "showing"
    journey.step("captions off", buttons=[journey.t("Teksting av")])
    page.click("#captions-toggle")
    assert page.evaluate("document.querySelector('video#video').textTracks[0].mode") == "showing"
    line = page.locator("#transcript-lines button").last
    start = float(line.get_attribute("data-start"))
    page.evaluate("document.querySelector('video#video').pause()")
    line.click()
    wait_until_time(journey, start, "a click on the last transcript line")
    page.wait_for_selector("#transcript-lines button[aria-current='true']")
    journey.step("transcript line clicked", buttons=[journey.t("Teksting på")])


def search_and_open_hit(journey: Journey, word: str = "basement") -> None:
    """The header's search box → results → a hit → the talk playing from that second."""
    page = journey.page
    journey.reveal("#sok-q").fill(word)
    page.press("#sok-q", "Enter")
    page.wait_for_url(f"**/sok?q={word}*")
    journey.step(
        "search results",
        heading=journey.t("Søk i alt som er sagt"),
        see=[journey.site.talks["ready"].title],
    )
    talk = journey.site.talks["ready"]
    group = page.locator("li.result-group", has=page.locator(f"a[href='/talks/{talk.slug}']"))
    hit = group.locator("a.hit").first
    href = hit.get_attribute("href")
    second = float(re.search(r"[?&]t=([0-9.]+)", href).group(1))
    assert second >= 1, f"{word!r} is said a few seconds in, the hit says {href}"
    hit.click()
    page.wait_for_url(f"**{href}")
    page.wait_for_function(PLAYER_READY)
    page.wait_for_function("() => document.querySelector('video#video').currentTime > 0")
    landed = video_time(journey)
    assert second - 0.5 <= landed <= second + 3, f"{journey.label}: hit at {second}, at {landed}"
    journey.step("talk from a search hit", heading=journey.site.talks["ready"].title)


def watch_live_from_front(journey: Journey) -> dict:
    """Front page → "Direkte nå" → the broadcast playing on the talk page."""
    talk = on_air(journey.site)
    journey.goto("/", "front page with a broadcast", see=[journey.t("Direkte nå"), talk.title])
    journey.page.click(f"a.live-link[href^='/talks/{talk.slug}']")
    journey.page.wait_for_selector("#live-badge:not([hidden])")
    journey.page.wait_for_function(
        "() => document.getElementById('live-video').currentTime > 1", timeout=30_000
    )
    journey.step("watching live", heading=talk.title, see=[journey.t("Direkte nå")])
    return talk
