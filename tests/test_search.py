"""Search: Norwegian stemming, compounds, phrases, filters, hostile input, snippets.

Every test runs on both engines ([sqlite]: FTS5; [postgres]: full text + pg_trgm through
server.catalogue.search_pg), through the store's connection as domain code gets it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from server.catalogue import search, search_pg
from server.core.config import Settings
from server.store import db as dbmod
from server.store import inserted_id, is_postgres, write
from server.transcript.model import Segment, Transcript, write_all

_numbers = itertools.count(1)


@pytest.fixture
def db(settings: Settings) -> Iterator:
    """A connection to the test's migrated database (SQLite file or PostgreSQL)."""
    with dbmod.session(settings) as database:
        yield database


def talk_row(n: int, **fields) -> dict:
    """A talks row: ready, internal, nb, number `n`, `fields` on top."""
    return {
        "slug": f"foredrag-{n}",
        "title": f"Foredrag nummer {n}",
        "speaker": "Kari Nordmann",
        "department": "Oppvekst",
        "starts_at": "2024-03-14T11:30",
        "description": "",
        "language": "nb",
        "visibility": "internal",
        "status": "ready",
        "created_at": "2024-01-01T10:00",
        "updated_at": "2024-01-01T10:00",
        **fields,
    }


def insert_talk(db, row: dict) -> int:
    """A talks row with these columns; its id."""
    names, values = ", ".join(row), ", ".join(f":{name}" for name in row)
    with write(db):
        sql = f"INSERT INTO talks ({names}) VALUES ({values}) RETURNING id"
        return inserted_id(db.execute(sql, row))


def make_talk(db, *texts: str, **fields) -> int:
    """A talks row (ready, internal, nb) with its metadata and segments 10 s apart indexed."""
    row = talk_row(next(_numbers), **fields)
    talk_id = insert_talk(db, row)
    segments = [Segment(10.0 * i, 10.0 * i + 8, text) for i, text in enumerate(texts)]
    search.index_talk(db, talk_id, segments, row["language"])
    search.index_talk_metadata(db, talk_id)
    return talk_id


def found(db, query: str, **kwargs) -> set[int]:
    """Talks found exactly (not through a near spelling)."""
    groups = search.search(db, query, **kwargs).groups
    return {group.talk_id for group in groups if not group.approximate}


def near_found(db, query: str, **kwargs) -> set[int]:
    groups = search.search(db, query, **kwargs).groups
    return {group.talk_id for group in groups if group.approximate}


def fts_ok(db) -> None:
    """The derived index agrees with its rows: SQLite's FTS5 tables (their integrity
    check); on both engines, the vocabulary the triggers keep equals the talks' words."""
    if not is_postgres(db):  # PostgreSQL's GIN indexes are kept by the database itself
        for table in ("search_segments_fts", "search_talks_fts"):
            db.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")
    summed = "SELECT word, sum(n) FROM search_talk_vocab GROUP BY word"
    kept = {word: n for word, n in db.execute("SELECT word, n FROM search_vocab").fetchall()}
    assert kept == {word: n for word, n in db.execute(summed).fetchall()}


@contextmanager
def without_cascade(db) -> Iterator[None]:
    """Foreign keys not enforced for a moment (a row removed as if the cascade were lost)."""
    if is_postgres(db):  # the foreign-key triggers fire only in the default role (superuser)
        db.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            db.execute("SET session_replication_role = DEFAULT")
        return
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def test_inflected_form_finds_other_inflection(db):
    talk = make_talk(db, "Vi har bygget tre nye barnehager i år.")
    other = make_talk(db, "Skolen fikk nytt tak.")
    assert found(db, "barnehagen") == {talk}
    assert found(db, "Barnehagene") == {talk}
    assert found(db, "skolene") == {other}


def test_word_inside_compound(db):
    talk = make_talk(db, "Kommunen driver en barnehage ved sjøen.")
    make_talk(db, "Hagl og regn hele dagen.")
    assert found(db, "hage") == {talk}
    assert found(db, "driver kommunene") == {talk}


def test_three_letter_word_does_not_match_inside_words(db):
    nav = make_talk(db, "Ring NAV om du trenger hjelp.")
    make_talk(db, "Skriv navnet ditt her.")
    assert found(db, "nav") == {nav}


def test_norwegian_letters_are_distinct(db):
    talk = make_talk(db, "Det første året gikk fort.")
    assert found(db, "forste") == set()
    assert near_found(db, "forste") == {talk}  # a near spelling, shown apart
    assert found(db, "Første") == {talk}
    assert found(db, "FØRSTE") == {talk}
    assert found(db, "aret") == set()
    assert found(db, "året") == {talk}


def test_decomposed_letters_are_normalised(db):
    talk = make_talk(db, "Ha\u030ardt arbeid på la\u030aven.")  # å written as a + ring
    assert found(db, "hårdt") == {talk}
    assert found(db, "la\u030avene") == {talk}
    assert found(db, "ha") == set()


def test_phrase_needs_adjacent_words(db):
    adjacent = make_talk(db, "Vi snakker om kommunale barnehager i dag.")
    apart = make_talk(db, "Barnehager er ofte kommunale.")
    assert found(db, "kommunale barnehager") == {adjacent, apart}
    assert found(db, '"kommunale barnehager"') == {adjacent}
    assert found(db, '"Kommunale barnehagene"') == {adjacent}  # stems, adjacent


def test_unbalanced_quote_searches_the_words(db):
    talk = make_talk(db, "Budsjettet for vann og avløp.")
    assert found(db, 'vann "avløp') == {talk}


HOSTILE = [
    "AND (",
    '"',
    '"""',
    "*",
    "NEAR(",
    "NEAR(vann avløp, 2)",
    "-vann",
    "vann:",
    "text:vann",
    "{text stems}: vann",
    "^vann",
    "vann*",
    '"vann',
    'vann" OR "avløp',
    "OR AND NOT",
    "vann\x00avløp",
    "\x00",
    "ø" * 10_000,
    "vann " * 2_000,
    "💧🚰 vann 💧",
    "💧",
    "\ud800vann",
    "'; DROP TABLE talks; --",
    "<script>alert(1)</script>",
    "\\",
    "%_%",
    "a" * 3,
    "()[]{}<>",
    "é\u0301 å",
    "\u200b\u202e",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(db, query):
    make_talk(db, "Vann og avløp er viktig.", "<b>fet</b> vann")
    results = search.search(db, query, department="Oppvekst", year=2024)
    assert isinstance(results, search.SearchResults)
    assert results.groups or results.message
    assert "\x00" not in results.query and len(results.query) <= 500
    assert db.execute("SELECT count(*) FROM talks").fetchone()[0] == 1


def test_random_queries_never_raise(db):
    make_talk(db, "Vann og avløp er viktig for alle innbyggere.")
    alphabet = "ab vnøæå\"*():^-+.,{}[]\x00\\'💧NEARORAND"
    rng = random.Random(1)
    for _ in range(500):
        query = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        assert isinstance(search.search(db, query), search.SearchResults)


@pytest.mark.parametrize("query", ["", "   ", '""', "*** --- ()", "💧", "\x00"])
def test_nothing_searchable_gives_friendly_message(db, query):
    make_talk(db, "Vann og avløp.")
    results = search.search(db, query)
    assert results.groups == []
    assert results.message == "Skriv ett eller flere ord for å søke."


def test_no_hits_message_names_the_query(db):
    make_talk(db, "Vann og avløp.")
    results = search.search(db, "  snøbrøyting ")
    assert results.groups == []
    assert results.message == (
        "Fant ingenting for «snøbrøyting». Prøv et annet ord eller fjern filtrene."
    )
    assert search.search(db, "vann").message is None


def test_department_and_year_filters(db):
    oppvekst = make_talk(db, "Om vann.", department="Oppvekst", starts_at="2023-05-02T11:30")
    teknisk = make_talk(db, "Om vann.", department="Teknisk", starts_at="2024-05-02T11:30")
    unplanned = make_talk(db, "Om vann.", starts_at=None, created_at="2022-09-01T08:00")
    assert found(db, "vann") == {oppvekst, teknisk, unplanned}
    assert found(db, "vann", department="Teknisk") == {teknisk}
    assert found(db, "vann", year=2023) == {oppvekst}
    assert found(db, "vann", year=2022) == {unplanned}
    assert found(db, "vann", department="Teknisk", year=2023) == set()
    assert search.departments(db) == ["Oppvekst", "Teknisk"]
    assert search.years(db) == [2024, 2023, 2022]


def test_visibility_filter(db):
    public = make_talk(db, "Vann i kommunen.", visibility="public")
    internal = make_talk(db, "Vann i kommunen.", visibility="internal")
    assert found(db, "vann") == {public, internal}
    assert found(db, "vann", visibilities=("public",)) == {public}
    assert found(db, "vann", visibilities=()) == set()


def test_only_ready_or_transcribing_talks_give_transcript_hits(db):
    ready = make_talk(db, "Snø og is på veiene.")
    transcribing = make_talk(db, "Snø og is på veiene.", status="processing")
    make_talk(db, "Snø og is på veiene.", status="failed")
    planned = make_talk(db, title="Vinterdrift: snø og is", status="planned")
    results = search.search(db, "snø")
    assert {g.talk_id for g in results.groups} == {ready, transcribing, planned}
    assert [g.talk_id for g in results.groups if g.transcribing] == [transcribing]
    planned_group = next(g for g in results.groups if g.talk_id == planned)
    assert planned_group.hits == [] and "<mark>snø</mark>" in planned_group.title_html


def test_metadata_hits_and_title_ranks_first(db):
    spoken = make_talk(db, "Vi må snakke om personvern i skolen.")
    titled = make_talk(
        db,
        "Ingenting her.",
        title="Personvern for alle",
        description="Et foredrag om GDPR. " * 20 + "Personvernet gjelder deg.",
    )
    groups = search.search(db, "personvernet").groups
    assert [g.talk_id for g in groups] == [titled, spoken]
    assert groups[0].title_html == "<mark>Personvern</mark> for alle"
    assert "<mark>Personvernet</mark>" in groups[0].description_html
    assert groups[0].description_html.startswith("… ")
    assert groups[1].description_html == ""
    speaker = make_talk(db, "Hei.", speaker="Ola Normann", department="Helse")
    assert found(db, "normann") == {speaker}
    assert found(db, "helse") == {speaker}


def test_metadata_follows_edits(db):
    talk = make_talk(db, title="Om skatt")
    with write(db):
        db.execute("UPDATE talks SET title = 'Om avgifter' WHERE id = ?", [talk])
    search.index_talk_metadata(db, talk)
    assert found(db, "skatt") == set()
    assert found(db, "avgift") == {talk}
    with without_cascade(db), write(db):  # a talks row gone without the cascade
        db.execute("DELETE FROM talks WHERE id = ?", [talk])
    assert db.execute("SELECT count(*) FROM search_talks").fetchone()[0] == 1
    search.index_talk_metadata(db, talk)
    assert db.execute("SELECT count(*) FROM search_talks").fetchone()[0] == 0
    fts_ok(db)


def test_index_talk_twice_keeps_one_copy(db):
    talk = make_talk(db)
    segments = [Segment(0, 5, "Brannvesenet øver."), Segment(5, 9, "Brann i taket.")]
    search.index_talk(db, talk, segments, "nb")
    search.index_talk(db, talk, segments, "nb")
    rows = db.execute("SELECT count(*) FROM search_segments WHERE talk_id = ?", [talk])
    assert rows.fetchone()[0] == 2
    assert search.search(db, "brann").groups[0].total_hits == 2
    search.index_talk(db, talk, [Segment(0, 5, "Nå handler det om snø.")], "nb")
    assert found(db, "brann") == set() and found(db, "snø") == {talk}
    fts_ok(db)


def test_index_talk_is_atomic(db):
    talk = make_talk(db, "Gammel tekst om vann.")
    broken = [Segment(0, 1, "Ny tekst."), Segment(1, 2, None)]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        search.index_talk(db, talk, broken, "nb")
    assert found(db, "vann") == {talk}
    assert not db.conn.in_transaction


def test_remove_talk_and_cascade(db):
    gone = make_talk(db, "Klima og miljø.", title="Klima")
    deleted = make_talk(db, "Klima og miljø.")
    kept = make_talk(db, "Klima og miljø.")
    search.remove_talk(db, gone)
    with write(db):
        db.execute("DELETE FROM talks WHERE id = ?", [deleted])
    assert found(db, "klima") == {kept}
    fts_ok(db)


def test_reindex_all_from_transcript_files(db, tmp_path):
    first = make_talk(db, "Dette forsvinner.")
    second = make_talk(db, title="Sykkelveier")
    transcripts = tmp_path / "transcripts"
    for talk, text in [(first, "Bibliotekene er åpne."), (second, "Bibliotek og sykkel.")]:
        write_all(transcripts / str(talk), Transcript("nb", (Segment(3.5, 7, text),)))
    write_all(transcripts / "999", Transcript("nb", (Segment(0, 1, "Ingen talk."),)))
    with write(db):  # the index is derived data: wiped, it comes back
        db.execute("DELETE FROM search_talks")
    assert search.reindex_all(db, transcripts) == 2
    assert found(db, "biblioteket") == {first, second}
    assert found(db, "forsvinner") == set()
    assert found(db, "sykkelveien") == {second}
    fts_ok(db)
    search.index_talk(db, first, [Segment(0, 1, "Svømmehall.")], "nb")  # triggers are back
    assert found(db, "svømmehallen") == {first}
    fts_ok(db)


def test_snippets_are_escaped(db):
    make_talk(db, 'Vann <script>alert("x")</script> & mer vann', title="<b>Vann</b> & avløp")
    group = search.search(db, "vann").groups[0]
    snippet = group.hits[0].snippet_html
    assert "<script>" not in snippet and "&lt;script&gt;" in snippet
    assert snippet == (
        "<mark>Vann</mark> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; mer "
        "<mark>vann</mark>"
    )
    assert group.title_html == "&lt;b&gt;<mark>Vann</mark>&lt;/b&gt; &amp; avløp"
    assert search.search(db, "script").groups[0].hits[0].snippet_html.count("<mark>") == 2


def test_hit_start_end_and_url(db):
    talk = insert_talk(
        db,
        {
            "slug": "vann-og-avlop",
            "title": "Vann",
            "created_at": "2024-01-01T00:00",
            "updated_at": "2024-01-01T00:00",
            "status": "ready",
        },
    )
    segments = [Segment(0.0, 4.0, "Innledning."), Segment(754.9, 761.25, "Om avløpet.")]
    search.index_talk(db, talk, segments, "nb")
    (hit,) = search.search(db, "avløp").groups[0].hits
    assert (hit.start, hit.end) == (754.9, 761.25)
    assert hit.url == "/talks/vann-og-avlop?t=754"
    assert hit.snippet_html == "Om <mark>avløpet</mark>."


def test_many_hits_in_one_talk_are_capped_and_counted(db):
    quiet = make_talk(db, "Litt vann.")  # older: found only by jumping past the busy talk
    busy = make_talk(db, *[f"Vann nummer {i}." for i in range(30)], "Mye vann i vannet.")
    groups = search.search(db, "vann", hits_per_talk=3).groups
    assert {g.talk_id for g in groups} == {busy, quiet}
    group = next(g for g in groups if g.talk_id == busy)
    assert group.total_hits == 31
    assert len(group.hits) == 3
    assert [h.start for h in group.hits] == sorted(h.start for h in group.hits)
    assert "Mye <mark>vann</mark> i <mark>vannet</mark>." in [h.snippet_html for h in group.hits]
    assert len(search.search(db, "vann", limit_talks=1).groups) == 1


@pytest.mark.parametrize("dense", [False, True])
def test_both_candidate_strategies_agree(db, monkeypatch, dense):
    for engine in (search, search_pg):  # each engine's own candidate strategies
        monkeypatch.setattr(engine, "_PROBE_DENSE", 1 if dense else 10**9)
    talks = [
        make_talk(db, "Vann.", "Mer vann.", department="Teknisk" if i % 3 else "Helse")
        for i in range(9)
    ]
    helse = {t for i, t in enumerate(talks) if i % 3 == 0}
    assert found(db, "vann", department="Helse") == helse
    assert found(db, "vann", department="Helse", visibilities=("public",)) == set()
    assert {g.total_hits for g in search.search(db, "vann", department="Helse").groups} == {2}


def test_english_talk_uses_english_stems(db):
    english = make_talk(db, "The children are playing outside.", language="en")
    norwegian = make_talk(db, "Barna leker ute i hagen.")
    assert found(db, "played") == {english}
    assert found(db, "child") == {english}
    assert found(db, "leken") == {norwegian}


def test_better_match_ranks_first(db):
    substring = make_talk(db, "Skolebarnehagen er ny.")
    exact = make_talk(db, "Barnehagen er ny.")
    assert [g.talk_id for g in search.search(db, "barnehage").groups] == [exact, substring]


# ---------------------------------------------------------------- search that forgives


def test_near_spelling_is_found_and_shown_apart(db):
    misheard = make_talk(db, "Vi har bygget tre nye barnhager i år.", "Flere barnhager kommer.")
    make_talk(db, "Skolen fikk nytt tak.")
    results = search.search(db, "barnehager")
    assert [g.talk_id for g in results.groups] == [misheard]
    assert results.groups[0].approximate and results.message is None
    assert results.similar == [("barnhager", 2)]
    assert "<mark>barnhager</mark>" in results.groups[0].hits[0].snippet_html


def test_exact_hits_always_rank_first(db):
    misheard = make_talk(db, "Tre nye barnhager, barnhager og barnhager.", title="Barnhager")
    exact = make_talk(db, "Kommunen har en barnehage.")
    results = search.search(db, "barnehager")
    assert [g.talk_id for g in results.groups] == [exact, misheard]
    assert [g.approximate for g in results.groups] == [False, True]


def test_frequent_words_do_not_look_for_near_spellings(db):
    make_talk(db, "Barnehager", "barnehagen", "barnehager igjen")
    misheard = make_talk(db, "Tre nye barnhager.")
    results = search.search(db, "barnehager")
    assert results.similar == [] and misheard not in {g.talk_id for g in results.groups}


def test_recogniser_confusions(db):
    danish = make_talk(db, "De kalder det tillid og håb.")
    split = make_talk(db, "Det gjelder alle barne hager i byen.")
    joined = make_talk(db, "Vi trenger en helsesykepleier.")
    cycles = make_talk(db, "Biblioteket låner ut cykler.")
    assert near_found(db, "kaller") == {danish}
    assert near_found(db, "tillit") == {danish}
    assert near_found(db, "barnehager") == {split}
    results = search.search(db, "barnehager")
    assert results.similar == [("barne hager", 1)]
    assert near_found(db, "helsesøkepleier") == {joined}
    assert near_found(db, "sykler") == {cycles}


def test_near_words_respect_visibility(db):
    make_talk(db, "Tre nye barnhager i år.", visibility="internal")
    public = search.search(db, "barnehager", visibilities=("public",))
    assert public.groups == [] and public.similar == []
    assert "barnhager" not in str(public)
    hidden = search.search(db, "barnehager", allowed=("t.visibility = 'public'", {}))
    assert hidden.groups == [] and hidden.similar == []


def test_unrelated_words_are_not_offered(db):
    make_talk(db, "Budsjettet for neste år er vedtatt.")
    assert search.search(db, "barnehager").similar == []
    assert search.search(db, "bud").similar == []  # short words: no guessing


def test_vocabulary_follows_the_index(db, tmp_path):
    def vocab(talk_id=None):
        if talk_id is None:
            return dict(db.execute("SELECT word, n FROM search_vocab").fetchall())
        sql = "SELECT word, n FROM search_talk_vocab WHERE talk_id = ?"
        return dict(db.execute(sql, [talk_id]).fetchall())

    one = make_talk(db, "Barnehager og skoler.", "Skoler igjen, 2024!")
    two = make_talk(db, "Skoler.")
    assert vocab(one) == {"barnehager": 1, "skoler": 2, "igjen": 1}
    assert vocab() == {"barnehager": 1, "skoler": 3, "igjen": 1}
    search.index_talk(db, one, [Segment(0, 1, "Skoler")], "nb")
    assert vocab() == {"skoler": 2}
    search.remove_talk(db, two)
    assert vocab() == {"skoler": 1}
    write_all(tmp_path / "transcripts" / str(one), Transcript("nb", (Segment(0, 1, "Hager"),)))
    search.reindex_all(db, tmp_path / "transcripts")
    assert vocab() == {"hager": 1}
    db.execute("DELETE FROM talks WHERE id = ?", [one])
    assert vocab() == {}


@pytest.mark.parametrize(
    "query", ['barnehager" AND (', "barnehagr' OR 1=1 --", "b\u0000arnhager", "ø" * 400]
)
def test_hostile_queries_with_near_spellings_are_safe(db, query):
    make_talk(db, "Tre nye barnhager i år.", "Ørsmå øøøø")
    results = search.search(db, query)
    assert results.message is None or isinstance(results.message, str)
    fts_ok(db)
