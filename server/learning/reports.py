"""Completion per department (admins), CSV export, results of one talk (organisers).

Domain code, no HTTP. Completion rates read the `completions` table after a sweep that
stores completions reached but not yet recorded (`sync_completions`), so a quiz passed or
an attendance registered without a refresh still counts.

Per-question statistics read `questions` and `attempts` directly. Attempt answers are
`{"<question id>": answer}`: a list of option indexes for the choice kinds (a single index,
or digits as text, are tolerated too) and a text for reflection questions. Each person's
first submitted attempt counts, so retries do not hide which questions were hard, and in it
only the questions the person answered: a question left unanswered (submitted with "Lever
likevel") is neither right nor wrong, so a question's share is right answers / answers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

import sqlite_utils

from server.catalogue.records import Talk
from server.core import i18n
from server.core.clock import format_date
from server.core.i18n import N_
from server.learning import progress, quizzes

NO_DEPARTMENT = "-"  # the path segment for people without a department
SLICES = 20
# A cell (or a part of one after a separator some spreadsheet locale splits on: Norwegian
# Excel splits on ";") that starts with one of these is run as a formula; a "'" before it
# makes it text.
_FORMULA = re.compile(r"(^|[,;])( *)(?=[=+\-@\t\r])")
SEPARATORS = {"komma": ",", "semikolon": ";"}

# Talks in reports: ready ones that people can take (drafts are left out).
_REPORT_TALKS = "t.status = 'ready' AND t.visibility != 'draft'"


def report_talks(db: sqlite_utils.Database) -> list[Talk]:
    rows = db.execute(
        f"SELECT t.* FROM talks t WHERE {_REPORT_TALKS} "
        "ORDER BY COALESCE(t.starts_at, t.created_at) DESC, t.id DESC"
    )
    return [Talk.from_row(r) for r in rows]


def sync_completions(db: sqlite_utils.Database) -> None:
    """Store completions reached but not recorded yet (anyone with activity on a talk)."""
    pairs = db.execute(
        "SELECT user_id, talk_id FROM watch_progress WHERE watched_seconds > 0 "
        "UNION SELECT user_id, talk_id FROM attendance "
        "UNION SELECT user_id, talk_id FROM attempts WHERE passed = 1 "
        "EXCEPT SELECT user_id, talk_id FROM completions"
    ).fetchall()
    for user_id, talk_id in pairs:
        progress.refresh_completion(db, user_id, talk_id)


# ---------------------------------------------------------------- the matrix


@dataclass
class Cell:
    completed: int
    people: int

    @property
    def rate(self) -> float:
        return self.completed / self.people if self.people else 0.0

    @property
    def percent(self) -> int:
        return round(self.rate * 100)


@dataclass
class Matrix:
    talks: list[Talk]
    departments: list[tuple[str, int]]  # (department, people)
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)

    def cell(self, department: str, talk_id: int) -> Cell:
        return self.cells[(department, talk_id)]


def departments(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    """(department, active people), '' (no department) last."""
    rows = db.execute(
        "SELECT department, COUNT(*) FROM users WHERE active = 1 GROUP BY department "
        "ORDER BY department = '', lower(department)"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def matrix(db: sqlite_utils.Database) -> Matrix:
    sync_completions(db)
    result = Matrix(report_talks(db), departments(db))
    done = {
        (r[0], r[1]): r[2]
        for r in db.execute(
            "SELECT u.department, c.talk_id, COUNT(*) FROM completions c "
            "JOIN users u ON u.id = c.user_id WHERE u.active = 1 GROUP BY u.department, c.talk_id"
        )
    }
    for department, people in result.departments:
        for talk in result.talks:
            result.cells[(department, talk.id)] = Cell(done.get((department, talk.id), 0), people)
    return result


def department_key(department: str) -> str:
    return department or NO_DEPARTMENT


def department_of_key(key: str) -> str:
    return "" if key == NO_DEPARTMENT else key


# ---------------------------------------------------------------- people × talks


@dataclass(frozen=True, slots=True)
class Person:
    """An active person as the reports show them."""

    id: int
    name: str
    email: str
    department: str


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One person × one report talk, and how far they have come with it."""

    person: Person
    talk: Talk
    status: progress.Status


def _people(db: sqlite_utils.Database, department: str | None) -> list[Person]:
    where, params = "active = 1", []
    if department is not None:
        where, params = "active = 1 AND department = ?", [department]
    rows = db.execute(
        f"SELECT id, name, email, department FROM users WHERE {where} "
        "ORDER BY department = '', lower(department), lower(COALESCE(NULLIF(name, ''), email))",
        params,
    )
    return [Person(r["id"], r["name"], r["email"], r["department"]) for r in rows]


def person_rows(db: sqlite_utils.Database, department: str | None = None) -> list[PersonRow]:
    """One row per person × report talk."""
    sync_completions(db)
    talks = report_talks(db)
    return [
        PersonRow(person, talk, progress.status(db, person.id, talk))
        for person in _people(db, department)
        for talk in talks
    ]


def safe_cell(value: object) -> str:
    """A cell that no spreadsheet program runs as a formula, whichever separator it splits
    on: a formula-like start of the cell, or of any part after a "," or ";", gets a "'"."""
    return _FORMULA.sub(lambda m: f"{m.group(1)}{m.group(2)}'", str(value))


# Headers and values are msgids: the file is in the language of the person who asks for it.
CSV_HEADER = (
    N_("Navn"), N_("E-post"), N_("Avdeling"), N_("Foredrag"), N_("Dato"),
    N_("Andel sett (%)"), N_("Quiz bestått"), N_("Fullført"),
)  # fmt: skip
QUIZ_CSV = {
    progress.QUIZ_NONE: N_("ingen quiz"),
    progress.QUIZ_PASSED: N_("ja"),
    progress.QUIZ_FAILED: N_("nei"),
    progress.QUIZ_NOT_TAKEN: N_("nei"),
}


def csv_text(db: sqlite_utils.Database, delimiter: str = ",", lang: str = i18n.DEFAULT) -> str:
    """Every person × talk as CSV in `lang`: every cell quoted and made formula-safe, BOM
    first so that Excel reads it as UTF-8. `delimiter` ";" suits Excel in a Norwegian locale."""
    text = i18n.translations(lang).gettext
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([text(header) for header in CSV_HEADER])
    for row in person_rows(db):
        person, talk, state = row.person, row.talk, row.status
        when = talk.starts_at or talk.created_at
        cells = [
            person.name, person.email, person.department, talk.title,
            format_date(when, False, lang), state.percent, text(QUIZ_CSV[state.quiz]),
            format_date(state.completed_at, False, lang) if state.completed_at else "",
        ]  # fmt: skip
        writer.writerow([safe_cell(cell) for cell in cells])
    return "\ufeff" + out.getvalue()


# ---------------------------------------------------------------- results of one talk


@dataclass
class QuestionStat:
    id: int
    text: str
    answered: int
    correct: int

    @property
    def rate(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    @property
    def percent(self) -> int:
        return round(self.rate * 100)


@dataclass
class Results:
    viewers: int  # people with any progress
    average_share: float  # among them, 0..1
    retention: list[float]  # per slice: share of viewers who watched it, 0..1
    slice_seconds: float
    has_quiz: bool
    takers: int  # people with a submitted attempt
    passers: int
    questions: list[QuestionStat]
    reflections: list[tuple[str, list[str]]]  # (question text, answers)

    @property
    def pass_rate(self) -> float:
        return self.passers / self.takers if self.takers else 0.0


def retention(unions: list[list], duration: float, slices: int = SLICES) -> list[float]:
    """For each of `slices` equal parts of the recording, the share of the unions that cover
    at least half of it."""
    if duration <= 0 or not unions:
        return [0.0] * slices
    width = duration / slices
    result = []
    for index in range(slices):
        start, end = index * width, (index + 1) * width
        seen = sum(1 for u in unions if progress.covered(u, start, end) >= width / 2)
        result.append(seen / len(unions))
    return result


def _choice(answer: object) -> set[int] | None:
    """The chosen option indexes of a stored answer, tolerating an index or digits as text."""
    items = answer if isinstance(answer, list) else [answer]
    chosen = set()
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            chosen.add(item)
        elif isinstance(item, str) and item.strip().isdigit():
            chosen.add(int(item.strip()))
        else:
            return None
    return chosen


def answer_correct(options: list, answer: object) -> bool:
    right = {i for i, o in enumerate(options) if isinstance(o, dict) and o.get("correct")}
    return bool(right) and _choice(answer) == right


def _first_attempts(db: sqlite_utils.Database, talk_id: int) -> list[quizzes.Attempt]:
    rows = db.execute(
        "SELECT a.* FROM attempts a WHERE a.talk_id = ? AND a.submitted_at IS NOT NULL "
        "AND a.id = (SELECT b.id FROM attempts b WHERE b.talk_id = a.talk_id AND b.user_id = "
        "a.user_id AND b.submitted_at IS NOT NULL ORDER BY b.submitted_at, b.id LIMIT 1)",
        [talk_id],
    )
    return [quizzes.Attempt.from_row(row) for row in rows]


def _question_stats(db, talk_id: int, attempts: list[quizzes.Attempt]) -> tuple[list, list]:
    rows = db.execute(
        "SELECT id, kind, text, options FROM questions WHERE talk_id = ? ORDER BY position, id",
        [talk_id],
    ).fetchall()
    stats, reflections = [], []
    for row in rows:
        given = [a.answers.get(str(row["id"])) for a in attempts]
        given = [g for g in given if g not in (None, "", [])]  # answered questions only
        if row["kind"] == "reflection":
            texts = [str(g).strip() for g in given if str(g).strip()]
            if texts:
                reflections.append((row["text"], texts))
            continue
        options = json.loads(row["options"] or "[]")
        correct = sum(1 for g in given if answer_correct(options, g))
        stats.append(QuestionStat(row["id"], row["text"], len(given), correct))
    return stats, reflections


def talk_results(db: sqlite_utils.Database, talk_id: int) -> Results:
    duration = progress.duration_of(db, talk_id)
    unions = [
        [tuple(i) for i in json.loads(r[0] or "[]")]
        for r in db.execute(
            "SELECT intervals FROM watch_progress WHERE talk_id = ? AND watched_seconds > 0",
            [talk_id],
        )
    ]
    shares = [progress.share(progress.total(u), duration) for u in unions]
    attempts = _first_attempts(db, talk_id)
    takers, passers = db.execute(
        "SELECT COUNT(DISTINCT user_id), COUNT(DISTINCT CASE WHEN passed = 1 THEN user_id END) "
        "FROM attempts WHERE talk_id = ? AND submitted_at IS NOT NULL",
        [talk_id],
    ).fetchone()
    stats, reflections = _question_stats(db, talk_id, attempts)
    return Results(
        viewers=len(unions), average_share=sum(shares) / len(shares) if shares else 0.0,
        retention=retention(unions, duration), slice_seconds=duration / SLICES,
        has_quiz=quizzes.has_quiz(db, talk_id), takers=takers, passers=passers,
        questions=stats, reflections=reflections,
    )  # fmt: skip
