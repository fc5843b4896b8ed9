"""Review guided to doubtful words, in a real browser (headless Debian Chromium against
`ktl serve`): the marks, "Neste usikre ord" and its shortcut, suggestions from the talk's
words and the dictionary, and how much has been reviewed (kept across a reload)."""

from __future__ import annotations

import pytest

from server.catalogue import search, talks
from server.store import db as database
from server.transcript import model as transcript
from server.transcript.model import Segment, Word
from tests import test_browser, test_editor_browser
from tests.webclient import make_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]
server = test_browser.server

SEGMENTS = (
    Segment(0.0, 2.0, "Velkommen til lunsjforedraget"),
    Segment(2.0, 4.0, "De kalder det tillid",
            (Word(2.0, 2.4, " De", 0.9), Word(2.4, 3.0, " kalder", 0.3),
             Word(3.0, 3.4, " det", 0.9), Word(3.4, 4.0, " tillid", 0.8))),
    Segment(4.0, 6.0, "Vi kaller det lunsj",
            (Word(4.0, 4.4, " Vi", 0.9), Word(4.4, 5.0, " kaller", 0.9),
             Word(5.0, 5.4, " det", 0.9), Word(5.4, 6.0, " lunsj", 0.2))),
)  # fmt: skip


def _progress(page) -> str:
    return page.inner_text("#review-progress")


def _selected(page) -> tuple[str, str]:
    return tuple(
        page.evaluate(
            "() => { const a = document.activeElement;"
            " return [a.id, a.value.slice(a.selectionStart, a.selectionEnd)]; }"
        )
    )


def test_next_doubtful_word_suggestions_and_progress(server, settings, page, tmp_path):
    organiser = make_user(settings, "organiser")
    talk = test_editor_browser._ready_talk(settings, organiser, tmp_path)
    machine = transcript.Transcript(language="nb", segments=SEGMENTS, duration=6.0)
    transcript.write_all(talks.transcript_dir(settings, talk.id), machine)
    with database.session(settings) as db:
        search.index_talk(db, talk.id, SEGMENTS, "nb")
    test_browser._sign_in(page, server, organiser.email)
    page.goto(f"{server}/talks/{talk.slug}/transkripsjon")

    chips = page.eval_on_selector_all("button.doubt", "bs => bs.map(b => b.dataset.word)")
    assert chips == ["kalder", "tillid", "lunsj"]
    assert "usikker" in page.get_attribute("button.doubt[data-word=lunsj]", "title")
    assert _progress(page) == "Gjennomgått 0 av 3 segmenter (0 prosent). 3 usikre ord igjen."

    page.keyboard.press("Alt+u")  # from the top: the first doubtful word
    assert _selected(page) == ("text-2", "kalder")
    page.wait_for_selector("#suggestion-list button.suggestion")
    assert "kaller" in page.eval_on_selector_all(
        "#suggestion-list button", "bs => bs.map(b => b.textContent)"
    ), "the talk's own word is offered"
    page.click("#suggestion-list button.suggestion:text-is('kaller')")
    assert page.input_value("#text-2") == "De kaller det tillid"
    assert _progress(page) == "Gjennomgått 1 av 3 segmenter (33 prosent). 2 usikre ord igjen."

    page.keyboard.press("Alt+u")
    assert _selected(page) == ("text-2", "tillid")
    page.wait_for_selector("#suggestion-list button.suggestion:text-is('tillit')")
    page.click("#next-doubt")  # the button does the same as the shortcut
    assert _selected(page)[1] == "lunsj"
    page.keyboard.press("Alt+u")
    assert "Ingen flere usikre ord." in page.inner_text("#save-status")
    assert _progress(page) == "Gjennomgått 2 av 3 segmenter (67 prosent). 0 usikre ord igjen."

    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-status.saved")
    page.reload()
    assert page.input_value("#text-2") == "De kaller det tillid"
    assert page.eval_on_selector_all("button.doubt", "bs => bs.map(b => b.dataset.word)") == [
        "tillid", "lunsj"
    ]  # fmt: skip
    assert _progress(page).startswith("Gjennomgått 2 av 3 segmenter")
