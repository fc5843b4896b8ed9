"""Search on both engines: SQLite FTS5 (server.catalogue.search) and PostgreSQL full text +
pg_trgm (server.catalogue.search_pg), with the same talks loaded into each.

Every test runs once per engine ("sqlite", "postgres": a real throwaway PostgreSQL cluster,
tests/pgserver.py) and asserts the same Norwegian behaviour as tests/test_search.py:
inflection, compounds, æ/ø/å, phrases, hostile input, visibility, ranking, snippets, near
spellings. `test_engines_give_identical_results` loads one corpus into both and compares
the whole result records query by query.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from psycopg.rows import dict_row

from server.catalogue import search, search_pg
from server.store import db as dbmod
from server.store import postgres
from server.transcript.model import Segment
from tests.test_search import talk_row


@dataclass
class Engine:
    name: str
    module: ModuleType  # search or search_pg: the same public functions
    conn: object  # a sqlite_utils.Database or a psycopg connection (autocommit, dict rows)
    numbers: Iterator[int]

    def execute(self, sql: str, params: tuple = ()) -> None:
        if self.name == "sqlite":
            with self.conn.conn:
                self.conn.execute(sql.replace("%s", "?"), params)
        else:
            self.conn.execute(sql, params)

    def make_talk(self, *texts: str, **fields) -> int:
        """A talks row (ready, internal, nb) with its metadata and segments 10 s apart."""
        row = talk_row(next(self.numbers), **fields)
        if self.name == "sqlite":
            talk_id = self.conn["talks"].insert(row).last_pk
        else:
            names, values = ", ".join(row), ", ".join(f"%({k})s" for k in row)
            sql = f"INSERT INTO talks ({names}) VALUES ({values}) RETURNING id"
            talk_id = self.conn.execute(sql, row).fetchone()["id"]
        segments = [Segment(10.0 * i, 10.0 * i + 8, text) for i, text in enumerate(texts)]
        self.module.index_talk(self.conn, talk_id, segments, row["language"])
        self.module.index_talk_metadata(self.conn, talk_id)
        return talk_id

    def search(self, query: str, **kwargs) -> search.SearchResults:
        return self.module.search(self.conn, query, **kwargs)

    def found(self, query: str, **kwargs) -> set[int]:
        return {g.talk_id for g in self.search(query, **kwargs).groups if not g.approximate}

    def near_found(self, query: str, **kwargs) -> set[int]:
        return {g.talk_id for g in self.search(query, **kwargs).groups if g.approximate}


def pg_connection(url: str) -> psycopg.Connection:
    """The schema migrated; autocommit (a transaction only where the code opens one)."""
    conn = psycopg.connect(url, autocommit=True)
    postgres.migrate(conn)
    conn.row_factory = dict_row
    return conn


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        dbmod.init(tmp_path / "ktl.db")
        conn = dbmod.connect(tmp_path / "ktl.db")
        yield Engine("sqlite", search, conn, itertools.count(1))
    else:
        conn = pg_connection(request.getfixturevalue("postgres_url"))
        yield Engine("postgres", search_pg, conn, itertools.count(1))
    conn.close()


# ---------------------------------------------------------------- Norwegian words


def test_inflected_form_finds_other_inflection(engine):
    talk = engine.make_talk("Vi har bygget tre nye barnehager i år.")
    other = engine.make_talk("Skolen fikk nytt tak.")
    assert engine.found("barnehagen") == {talk}
    assert engine.found("Barnehagene") == {talk}
    assert engine.found("skolene") == {other}


def test_word_inside_compound(engine):
    talk = engine.make_talk("Kommunen driver en barnehage ved sjøen.")
    engine.make_talk("Hagl og regn hele dagen.")
    assert engine.found("hage") == {talk}
    assert engine.found("driver kommunene") == {talk}
    assert engine.found("sjøen") == {talk}


def test_three_letter_word_does_not_match_inside_words(engine):
    nav = engine.make_talk("Ring NAV om du trenger hjelp.")
    engine.make_talk("Skriv navnet ditt her.")
    assert engine.found("nav") == {nav}


def test_stop_words_are_searchable(engine):
    talk = engine.make_talk("Det er og blir viktig.")
    engine.make_talk("Viktig nok.")
    assert engine.found("og") == {talk}
    assert engine.found('"det er"') == {talk}


def test_norwegian_letters_are_distinct(engine):
    talk = engine.make_talk("Det første året gikk fort.")
    assert engine.found("forste") == set()
    assert engine.near_found("forste") == {talk}
    assert engine.found("Første") == {talk}
    assert engine.found("FØRSTE") == {talk}
    assert engine.found("aret") == set()
    assert engine.found("året") == {talk}
    assert engine.found("ÅRET") == {talk}


def test_decomposed_letters_are_normalised(engine):
    talk = engine.make_talk("Ha\u030ardt arbeid på la\u030aven.")  # å written as a + ring
    assert engine.found("hårdt") == {talk}
    assert engine.found("la\u030avene") == {talk}
    assert engine.found("ha") == set()


def test_phrase_needs_adjacent_words(engine):
    adjacent = engine.make_talk("Vi snakker om kommunale barnehager i dag.")
    apart = engine.make_talk("Barnehager er ofte kommunale.")
    assert engine.found("kommunale barnehager") == {adjacent, apart}
    assert engine.found('"kommunale barnehager"') == {adjacent}
    assert engine.found('"Kommunale barnehagene"') == {adjacent}


def test_english_talk_uses_english_stems(engine):
    english = engine.make_talk("The children are playing outside.", language="en")
    norwegian = engine.make_talk("Barna leker ute i hagen.")
    assert engine.found("played") == {english}
    assert engine.found("child") == {english}
    assert engine.found("leken") == {norwegian}
    assert engine.found('"the children"') == {english}


# ---------------------------------------------------------------- hostile input

HOSTILE = [
    "AND (", '"', '"""', "*", "NEAR(", "NEAR(vann avløp, 2)", "-vann", "vann:", "text:vann",
    "{text stems}: vann", "^vann", "vann*", '"vann', 'vann" OR "avløp', "OR AND NOT",
    "vann\x00avløp", "\x00", "ø" * 10_000, "vann " * 2_000, "💧🚰 vann 💧", "💧", "\ud800vann",
    "'; DROP TABLE talks; --", "<script>alert(1)</script>", "\\", "%_%", "a" * 3, "()[]{}<>",
    "é\u0301 å", "\u200b\u202e", "vann & !avløp", "vann | avløp", "vann <-> avløp",
    "'vann':*", "vann:* & !", "%(department)s", "%s %s", "vann%", "_ann", "\\%",
]  # fmt: skip


def test_hostile_queries_never_raise(engine):
    talk = engine.make_talk("Vann og avløp er viktig.", "<b>fet</b> vann")
    for query in HOSTILE:
        results = engine.search(query, department="Oppvekst", year=2024)
        assert isinstance(results, search.SearchResults), query
        assert results.groups or results.message, query
        assert "\x00" not in results.query and len(results.query) <= 500
    assert engine.found("vann%") == {talk}  # the word; % is no wildcard
    assert engine.found("_ann") == set()  # "ann", no wildcard
    assert engine.found("%_%") == set()


def test_random_queries_never_raise(engine):
    engine.make_talk("Vann og avløp er viktig for alle innbyggere.")
    alphabet = "ab vnøæå\"*():^-+.,{}[]\x00\\'💧NEARORAND%_&|!<->"
    rng = random.Random(1)
    for _ in range(300):
        query = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        assert isinstance(engine.search(query), search.SearchResults)


@pytest.mark.parametrize("query", ["", "   ", '""', "*** --- ()", "💧", "\x00"])
def test_nothing_searchable_gives_friendly_message(engine, query):
    engine.make_talk("Vann og avløp.")
    results = engine.search(query)
    assert results.groups == []
    assert results.message == "Skriv ett eller flere ord for å søke."


# ---------------------------------------------------------------- visibility and filters


def test_visibility_filter(engine):
    public = engine.make_talk("Vann i kommunen.", visibility="public")
    internal = engine.make_talk("Vann i kommunen.", visibility="internal")
    assert engine.found("vann") == {public, internal}
    assert engine.found("vann", visibilities=("public",)) == {public}
    assert engine.found("vann", visibilities=()) == set()
    assert engine.found("vann", allowed=("t.visibility = 'public'", {})) == {public}


def test_access_rule_from_access_module(engine):
    """The viewer's rule as server.people.access writes it (':name' parameters, 1 and 0)."""
    from server.people.access import Viewer, Visibility

    public = engine.make_talk("Vann i kommunen.", visibility="public")
    internal = engine.make_talk("Vann i kommunen.", visibility="internal")
    draft = engine.make_talk("Vann i kommunen.", visibility="draft")
    guest = Visibility(Viewer(None)).visible_sql()
    assert engine.found("vann", allowed=guest) == {public}
    assert engine.found("vann", visibilities=("public", "internal", "draft")) == {
        public,
        internal,
        draft,
    }
    assert engine.module.departments(engine.conn, guest) == ["Oppvekst"]
    assert engine.module.departments(engine.conn, ("0", {})) == []


def test_department_and_year_filters(engine):
    oppvekst = engine.make_talk("Om vann.", department="Oppvekst", starts_at="2023-05-02T11:30")
    teknisk = engine.make_talk("Om vann.", department="Teknisk", starts_at="2024-05-02T11:30")
    unplanned = engine.make_talk("Om vann.", starts_at=None, created_at="2022-09-01T08:00")
    assert engine.found("vann") == {oppvekst, teknisk, unplanned}
    assert engine.found("vann", department="Teknisk") == {teknisk}
    assert engine.found("vann", year=2023) == {oppvekst}
    assert engine.found("vann", year=2022) == {unplanned}
    assert engine.found("vann", department="Teknisk", year=2023) == set()
    assert engine.module.departments(engine.conn) == ["Oppvekst", "Teknisk"]
    assert engine.module.years(engine.conn) == [2024, 2023, 2022]


def test_only_ready_or_transcribing_talks_give_transcript_hits(engine):
    ready = engine.make_talk("Snø og is på veiene.")
    transcribing = engine.make_talk("Snø og is på veiene.", status="processing")
    engine.make_talk("Snø og is på veiene.", status="failed")
    planned = engine.make_talk(title="Vinterdrift: snø og is", status="planned")
    results = engine.search("snø")
    assert {g.talk_id for g in results.groups} == {ready, transcribing, planned}
    assert [g.talk_id for g in results.groups if g.transcribing] == [transcribing]
    planned_group = next(g for g in results.groups if g.talk_id == planned)
    assert planned_group.hits == [] and "<mark>snø</mark>" in planned_group.title_html


def test_unreviewed_transcripts_can_be_left_out(engine):
    reviewed = engine.make_talk("Vann.", transcript_state="reviewed")
    machine = engine.make_talk("Vann.", title="Om vann")
    rule = ("t.transcript_state = :state", {"state": "reviewed"})
    results = engine.search("vann", transcripts_allowed=rule)
    assert {g.talk_id for g in results.groups} == {reviewed, machine}  # the title matches
    assert next(g for g in results.groups if g.talk_id == machine).hits == []


# ---------------------------------------------------------------- ranking, snippets, paging


def test_metadata_hits_and_title_ranks_first(engine):
    spoken = engine.make_talk("Vi må snakke om personvern i skolen.")
    titled = engine.make_talk(
        "Ingenting her.",
        title="Personvern for alle",
        description="Et foredrag om GDPR. " * 20 + "Personvernet gjelder deg.",
    )
    groups = engine.search("personvernet").groups
    assert [g.talk_id for g in groups] == [titled, spoken]
    assert groups[0].title_html == "<mark>Personvern</mark> for alle"
    assert "<mark>Personvernet</mark>" in groups[0].description_html
    speaker = engine.make_talk("Hei.", speaker="Ola Normann", department="Helse")
    assert engine.found("normann") == {speaker}
    assert engine.found("helse") == {speaker}
    assert engine.found('"normann helse"') == set()  # a phrase never spans two fields


def test_better_match_ranks_first(engine):
    substring = engine.make_talk("Skolebarnehagen er ny.")
    exact = engine.make_talk("Barnehagen er ny.")
    assert [g.talk_id for g in engine.search("barnehage").groups] == [exact, substring]


def test_snippets_are_escaped(engine):
    engine.make_talk('Vann <script>alert("x")</script> & mer vann', title="<b>Vann</b> & avløp")
    group = engine.search("vann").groups[0]
    assert group.hits[0].snippet_html == (
        "<mark>Vann</mark> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; mer "
        "<mark>vann</mark>"
    )
    assert group.title_html == "&lt;b&gt;<mark>Vann</mark>&lt;/b&gt; &amp; avløp"


def test_many_hits_in_one_talk_are_capped_and_counted(engine):
    quiet = engine.make_talk("Litt vann.")
    busy = engine.make_talk(*[f"Vann nummer {i}." for i in range(30)], "Mye vann i vannet.")
    groups = engine.search("vann", hits_per_talk=3).groups
    assert {g.talk_id for g in groups} == {busy, quiet}
    group = next(g for g in groups if g.talk_id == busy)
    assert group.total_hits == 31 and len(group.hits) == 3
    assert [h.start for h in group.hits] == sorted(h.start for h in group.hits)
    assert len(engine.search("vann", limit_talks=1).groups) == 1
    second = engine.search("vann", limit_talks=1, page=2)
    assert second.page.total == 2 and len(second.groups) == 1


@pytest.mark.parametrize("dense", [False, True])
def test_both_candidate_strategies_agree(engine, monkeypatch, dense):
    monkeypatch.setattr(engine.module, "_PROBE_DENSE", 1 if dense else 10**9)
    monkeypatch.setattr(engine.module, "_FIRST_TALKS", 2, raising=False)  # PostgreSQL: steps
    talks = [
        engine.make_talk("Vann.", *["Mer vann."] * 14, department="Teknisk" if i % 3 else "Helse")
        for i in range(9)
    ]
    helse = {t for i, t in enumerate(talks) if i % 3 == 0}
    assert engine.found("vann", department="Helse") == helse
    assert engine.found("vann", department="Helse", visibilities=("public",)) == set()
    assert {g.total_hits for g in engine.search("vann", department="Helse").groups} == {15}
    assert engine.found("vann") == set(talks)


@pytest.mark.parametrize("dense", [False, True])
def test_candidates_are_the_newest_rows(engine, monkeypatch, dense):
    """With few candidate rows allowed, both engines rank the same newest talks (and count
    a shown talk's hits in full)."""
    monkeypatch.setattr(engine.module, "_PROBE_DENSE", 1 if dense else 10**9)
    monkeypatch.setattr(engine.module, "_PROBE_SPAN", 30)
    monkeypatch.setattr(engine.module, "_MAX_ROWS", 20)
    monkeypatch.setattr(engine.module, "_FIRST_TALKS", 1, raising=False)
    talks = [engine.make_talk(*[f"Vann nummer {i}." for i in range(15)]) for _ in range(9)]
    groups = engine.search("vann").groups
    assert {g.talk_id for g in groups} == set(talks[-2:])
    assert [g.total_hits for g in groups] == [15, 15]


def test_reindexing_and_removing(engine):
    talk = engine.make_talk("Brannvesenet øver.", "Brann i taket.")
    assert engine.search("brann").groups[0].total_hits == 2
    engine.module.index_talk(engine.conn, talk, [Segment(0, 5, "Nå handler det om snø.")], "nb")
    assert engine.found("brann") == set() and engine.found("snø") == {talk}
    engine.module.remove_talk(engine.conn, talk)
    assert engine.found("snø") == set()
    gone = engine.make_talk("Klima og miljø.")
    engine.execute("DELETE FROM talks WHERE id = %s", (gone,))  # the rows follow the talk
    assert engine.found("klima") == set()


# ---------------------------------------------------------------- search that forgives


def test_near_spelling_is_found_and_shown_apart(engine):
    misheard = engine.make_talk("Vi har bygget tre nye barnhager i år.", "Flere barnhager kommer.")
    engine.make_talk("Skolen fikk nytt tak.")
    results = engine.search("barnehager")
    assert [g.talk_id for g in results.groups] == [misheard]
    assert results.groups[0].approximate and results.similar == [("barnhager", 2)]


def test_exact_hits_always_rank_first(engine):
    misheard = engine.make_talk("Tre nye barnhager, barnhager.", title="Barnhager")
    exact = engine.make_talk("Kommunen har en barnehage.")
    results = engine.search("barnehager")
    assert [g.talk_id for g in results.groups] == [exact, misheard]
    assert [g.approximate for g in results.groups] == [False, True]


def test_recogniser_confusions(engine):
    danish = engine.make_talk("De kalder det tillid og håb.")
    split = engine.make_talk("Det gjelder alle barne hager i byen.")
    joined = engine.make_talk("Vi trenger en helsesykepleier.")
    cycles = engine.make_talk("Biblioteket låner ut cykler.")
    assert engine.near_found("kaller") == {danish}
    assert engine.near_found("tillit") == {danish}
    assert engine.near_found("barnehager") == {split}
    assert engine.search("barnehager").similar == [("barne hager", 1)]
    assert engine.near_found("helsesøkepleier") == {joined}
    assert engine.near_found("sykler") == {cycles}


def test_near_words_respect_visibility(engine):
    engine.make_talk("Tre nye barnhager i år.", visibility="internal")
    public = engine.search("barnehager", visibilities=("public",))
    assert public.groups == [] and public.similar == []


# ---------------------------------------------------------------- both engines, one corpus

CORPUS = [
    ("Vi har bygget tre nye barnehager i år.", "Kommunale barnehager får mer penger."),
    ("Kommunen driver en barnehage ved sjøen.", "Hagen er stor."),
    ("Ring NAV om du trenger hjelp.", "Skriv navnet ditt her."),
    ("Det første året gikk fort.", "Året etter var det bedre.", "Tre nye barnhager."),
    ("Helsestasjonen har åpent.", "Helsesykepleieren kommer.", "Vann og avløp."),
    ("Brannvesenet øver.", "Brann i taket, brannen slukket.", "Det er og blir viktig."),
    ("Budsjettet for vann og avløp.", "Økonomi og budsjett 2024.", "Personvern i skolen."),
]
QUERIES = [
    "barnehage", "barnehagene", "hage", "hagen", "nav", "navn", "første", "forste", "året",
    "aret", '"kommunale barnehager"', '"nye barnehager"', "helse", "sykepleier", "brann",
    "vann avløp", '"vann og avløp"', "og", "det er", "budsjett", "2024", "personvernet",
    "skole", "barnhager", "økonomi", "okonomi", 'AND ( "*', "vann\x00", "ø" * 600,
]  # fmt: skip


def test_engines_give_identical_results(tmp_path, postgres_url):
    dbmod.init(tmp_path / "ktl.db")
    lite = Engine("sqlite", search, dbmod.connect(tmp_path / "ktl.db"), itertools.count(1))
    pg = Engine("postgres", search_pg, pg_connection(postgres_url), itertools.count(1))
    for i, texts in enumerate(CORPUS):
        fields = {"visibility": "public" if i % 2 else "internal", "department": f"D{i % 3}"}
        assert lite.make_talk(*texts, **fields) == pg.make_talk(*texts, **fields)
    for query in QUERIES:
        for kwargs in ({}, {"visibilities": ("public",)}, {"department": "D1"}):
            assert lite.search(query, **kwargs) == pg.search(query, **kwargs), (query, kwargs)
    lite.conn.close()
    pg.conn.close()


def test_reindex_all_from_transcript_files(engine, tmp_path):
    from server.transcript.model import Transcript, write_all

    first = engine.make_talk("Dette forsvinner.", "Barnehager og skoler.")
    second = engine.make_talk(title="Sykkelveier")
    transcripts = tmp_path / "transcripts"
    for talk, text in [(first, "Bibliotekene er åpne."), (second, "Bibliotek og sykkel.")]:
        write_all(transcripts / str(talk), Transcript("nb", (Segment(3.5, 7, text),)))
    write_all(transcripts / "999", Transcript("nb", (Segment(0, 1, "Ingen talk."),)))
    assert engine.module.reindex_all(engine.conn, transcripts) == 2
    assert engine.found("biblioteket") == {first, second}
    assert engine.found("forsvinner") == set() and engine.found("barnehage") == set()
    assert engine.found("sykkelveien") == {second}
    vocab = engine.conn.execute("SELECT word, n FROM search_vocab ORDER BY word").fetchall()
    assert [(row["word"], row["n"]) for row in vocab] == [
        ("bibliotek", 1), ("bibliotekene", 1), ("sykkel", 1), ("åpne", 1),
    ]  # fmt: skip
    engine.module.index_talk(engine.conn, first, [Segment(0, 1, "Svømmehall.")], "nb")
    assert engine.found("svømmehallen") == {first}  # indexes and triggers are back
    vocab = engine.conn.execute("SELECT word FROM search_vocab ORDER BY word").fetchall()
    assert [row["word"] for row in vocab] == ["bibliotek", "svømmehall", "sykkel"]


def test_a_copied_installation_searches_alike(tmp_path, postgres_url):
    """`ktl migrate-to-postgres` copies SQLite's columns only: each row's configuration
    comes from its talk's language (a trigger) and its tsvector is generated, so the copy
    finds what the original finds."""
    from server.store.pg_copy import copy_to_postgres

    dbmod.init(tmp_path / "ktl.db")
    lite = Engine("sqlite", search, dbmod.connect(tmp_path / "ktl.db"), itertools.count(1))
    lite.make_talk("The children are playing outside.", "They played well.", language="en")
    for texts in CORPUS:
        lite.make_talk(*texts)
    copy_to_postgres(tmp_path / "ktl.db", postgres_url)
    pg = Engine("postgres", search_pg, pg_connection(postgres_url), itertools.count(99))
    configs = pg.conn.execute(
        "SELECT DISTINCT t.language, s.config::text AS config FROM search_segments s"
        " JOIN talks t ON t.id = s.talk_id ORDER BY 1"
    ).fetchall()
    assert [(row["language"], row["config"]) for row in configs] == [
        ("en", "ktl_english"), ("nb", "ktl_norwegian"),
    ]  # fmt: skip
    for query in [*QUERIES, "played", '"the children"', "child"]:
        assert lite.search(query) == pg.search(query), query
    lite.conn.close()
    pg.conn.close()
