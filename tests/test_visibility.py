"""One visibility rule: for random viewers × talks, the Python check of one talk and the SQL
filter for lists (server.people.access.Visibility) pick exactly the same talks, in a real
SQLite database with the real schema. The rule itself is pinned by a table as well."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from server.catalogue.records import Talk
from server.core.config import load_settings
from server.people.access import VISIBILITIES, Viewer, Visibility, can_edit, can_view
from server.people.accounts import ROLES, User
from server.store import db as database
from server.transcript import editing

IDS = (1, 2, 3)


BASE = load_settings(env={})  # only captions_publish is read

viewers = st.one_of(
    st.just(Viewer(None)),
    st.builds(
        lambda uid, role: Viewer(User(uid, f"u{uid}@k.no", "U", role, "", True)),
        st.sampled_from(IDS),
        st.sampled_from(ROLES),
    ),
)
talk_rows = st.lists(
    st.tuples(
        st.sampled_from((*VISIBILITIES, "odd")),  # "odd": a value the form never saves
        st.sampled_from((None, *IDS)),
        st.sampled_from(("machine", "reviewed")),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    path = tmp_path_factory.mktemp("visibility") / "ktl.db"
    database.init(path)
    with database.session(path) as db:
        for uid in IDS:  # talks.organiser_id refers to users
            db.execute(
                "INSERT INTO users (id, email, name, role, department, active, created_at) "
                "VALUES (?, ?, 'U', 'organiser', '', 1, '2026-01-01')",
                [uid, f"u{uid}@k.no"],
            )
        yield db


def _store(db, rows) -> list[Talk]:
    db.execute("DELETE FROM talks")
    for n, (visibility, organiser, state) in enumerate(rows, start=1):
        db.execute(
            "INSERT INTO talks (id, slug, title, visibility, organiser_id, transcript_state, "
            "created_at, updated_at) VALUES (?, ?, 'T', ?, ?, ?, '2026', '2026')",
            [n, f"t{n}", visibility, organiser, state],
        )
    return [Talk.from_row(r) for r in db.execute("SELECT * FROM talks ORDER BY id")]


def _selected(db, where: tuple[str, dict]) -> set[int]:
    return {r[0] for r in db.execute(f"SELECT t.id FROM talks t WHERE {where[0]}", where[1])}


@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(viewer=viewers, rows=talk_rows, publish=st.sampled_from(("immediately", "reviewed")))
def test_python_check_and_sql_filter_agree(conn, viewer, rows, publish):
    stored = _store(conn, rows)
    visibility = Visibility(viewer)
    assert _selected(conn, visibility.visible_sql()) == {t.id for t in stored if visibility.sees(t)}
    assert _selected(conn, visibility.editable_sql()) == {
        t.id for t in stored if visibility.edits(t)
    }
    transcripts = visibility.transcripts(publish)
    assert _selected(conn, transcripts.sql()) == {t.id for t in stored if transcripts.holds(t)}
    settings = BASE.replace(captions_publish=publish)
    for talk in stored:  # the talk page's own check (server.transcript.editing) agrees
        page = editing.transcript_visible(settings, talk, visibility.edits(talk))
        assert page == transcripts.holds(talk)


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(viewer=viewers, rows=talk_rows)
def test_filters_combine_without_parameter_clashes(conn, viewer, rows):
    """Search puts the visible and the transcript filter in one query."""
    stored = _store(conn, rows)
    visibility = Visibility(viewer)
    seen, read = visibility.visible_sql(), visibility.transcripts("reviewed").sql()
    both = (f"{seen.sql} AND {read.sql}", {**seen.params, **read.params})
    read_set = visibility.transcripts("reviewed")
    expected = {t.id for t in stored if visibility.sees(t) and read_set.holds(t)}
    assert _selected(conn, both) == expected


def _viewer(role: str | None, uid: int = 1) -> Viewer:
    return Viewer(None if role is None else User(uid, "u@k.no", "U", role, "", True))


@pytest.mark.parametrize(
    ("role", "visibility", "owner", "sees", "edits"),
    [
        (None, "public", 1, True, False),
        (None, "internal", 1, False, False),
        (None, "draft", 1, False, False),
        ("viewer", "internal", 1, True, False),
        ("viewer", "draft", 1, False, False),  # a viewer who once organised it: no longer
        ("organiser", "draft", 1, True, True),
        ("organiser", "draft", 2, False, False),
        ("organiser", "internal", 2, True, False),
        ("admin", "draft", 2, True, True),
    ],
)
def test_the_rule_in_a_table(role, visibility, owner, sees, edits):
    talk = Talk(id=1, slug="t", title="T", visibility=visibility, organiser_id=owner)
    viewer = _viewer(role)
    assert (can_view(viewer, talk), can_edit(viewer, talk)) == (sees, edits)
