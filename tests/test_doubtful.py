"""Doubtful words for review: low recogniser confidence and words outside Debian's bokmål/
nynorsk hunspell dictionaries (real dictionaries, real binding); the editor page's marks
and the suggestions endpoint through the app."""

from __future__ import annotations

from starlette.testclient import TestClient

from server.catalogue import search, talks, vocabulary
from server.store import write
from server.transcript import doubtful
from server.transcript import model as transcript
from server.transcript.model import Segment, Transcript, Word
from server.web.app import create_app
from tests import factories
from tests.webclient import login, make_user

SPOKEN = Segment(
    0.0, 3.0, "De kalder det tillid og barnehager i Oslo.",
    (Word(0, .2, " De", .95), Word(.2, .5, " kalder", .31), Word(.5, .7, " det", .97),
     Word(.7, 1, " tillid", .88), Word(1, 1.2, " og", .42), Word(1.2, 2, " barnehager", .93),
     Word(2, 2.2, " i", .9), Word(2.2, 3, " Oslo.", .99)),
)  # fmt: skip


def test_marks_low_confidence_and_unknown_words():
    marks = {d.word: d.reasons for d in doubtful.doubts(SPOKEN, "nb")}
    assert marks == {
        "kalder": (doubtful.LOW, doubtful.UNKNOWN),
        "tillid": (doubtful.UNKNOWN,),
        "og": (doubtful.LOW,),
    }
    assert [d.start for d in doubtful.doubts(SPOKEN, "nb")] == [3, 14, 21]


def test_nynorsk_words_are_known_in_a_bokmal_talk_and_english_has_no_dictionary():
    nynorsk = Segment(0, 1, "Eg trur ikkje det er noko problem")
    assert doubtful.doubts(nynorsk, "nb") == []
    english = Segment(0, 1, "Welcome everybody", (Word(0, 1, " Welcome", 0.2),))
    assert [(d.word, d.reasons) for d in doubtful.doubts(english, "en")] == [
        ("Welcome", (doubtful.LOW,))
    ]


def test_an_edited_word_keeps_no_probability():
    edited = Segment(
        0, 1, "De kaller det", (Word(0, 0.5, " De", 0.9), Word(0.5, 1, " kalder", 0.2))
    )
    assert doubtful.doubts(edited, "nb") == []


def test_suggestions_from_dictionary_and_own_vocabulary():
    found = doubtful.suggestions("tillid", "nb", ["tillit", "kommunen"])
    assert found["vocabulary"] == ["tillit"]
    assert "tillit" in found["dictionary"]


def _talk(settings, db, organiser) -> dict:
    talk = factories.talk(db, organiser, language="nb", title="Tillit i kommunen")
    machine = Transcript(language="nb", segments=(SPOKEN,), duration=3.0)
    transcript.write_all(talks.transcript_dir(settings, talk.id), machine)
    search.index_talk(db, talk.id, machine.segments, "nb")
    vocabulary.add_term(db, "Tillitsreformen", talk.id, organiser)
    with write(db):
        talks.set_status(db, talk.id, "ready")
    return talks.get(db, talk.id)


def test_editor_page_marks_words_and_suggests(settings, db):
    organiser = make_user(settings, "organiser")
    talk = _talk(settings, db, organiser)
    with TestClient(create_app(settings)) as client:
        login(client, organiser.email)
        page = client.get(f"/talks/{talk.slug}/transkripsjon").text
        assert page.count('class="doubt"') == 3 and 'data-word="kalder"' in page
        assert "3 ord er merket" in page and "Neste usikre ord" in page
        url = f"/talks/{talk.slug}/transkripsjon/forslag"
        body = client.get(url, params={"ord": "tillid"}).json()
        assert body["word"] == "tillid" and "tillit" in body["dictionary"]
        body = client.get(url, params={"ord": "kalde"}).json()
        assert "kalder" in body["vocabulary"], "the talk's own words are offered"
        for bad in ("", "1234", "x" * 61):
            refused = client.get(url, params={"ord": bad})
            assert refused.status_code == 422 and "Skriv ordet" in refused.json()["error"]
