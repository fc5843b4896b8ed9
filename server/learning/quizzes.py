"""Quizzes: questions, scoring on the server, attempts (domain, no HTTP).

Options are stored as JSON ``[{"text": ..., "correct": true|false}, ...]``; an answer is a
sorted list of option indexes (choice kinds) or a text (reflection). Attempt answers are
``{"<question id>": answer}``. Correctness never leaves this module except through
``Result`` (after submitting) and ``record_answer`` (after answering a timed question).

Timed answers are no answer oracle. ``record_answer`` takes only a question with a moment
in the video, only into the person's open attempt (made by the first timed answer), and
only once: the answer is then part of that attempt and neither a second timed answer nor
the quiz form changes it. So revealing correctness and the explanation at once is safe:
with retries off it commits the one attempt that counts, and with retries on it can only
inform a later attempt, which a retry (and the result page) allows anyway. Questions
without a moment are answered in the form only, and revealed only after submitting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from server.catalogue.records import Talk
from server.core import parse
from server.core.clock import now_iso
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.people.access import Viewer, can_edit
from server.store import inserted_id, write
from server.store.locks import serialize

SINGLE, MULTIPLE, TRUEFALSE, REFLECTION = "single", "multiple", "truefalse", "reflection"
KINDS = (SINGLE, MULTIPLE, TRUEFALSE, REFLECTION)
# The options of a true/false question, stored as written here and shown translated.
TRUEFALSE_OPTIONS = (N_("Sant"), N_("Usant"))
MAX_TEXT, MAX_OPTION, MAX_OPTIONS, MAX_ANSWER = 1000, 300, 8, 5000
DEFAULT_PASS_MARK = 80
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2}(?:[.,]\d+)?)$|^(\d+(?:[.,]\d+)?)$")

NOT_PUBLISHED = N_("Quizen til dette foredraget er ikke publisert ennå.")
RETRY_REFUSED = N_("Du har allerede levert denne quizen, og arrangøren tillater ikke nye forsøk.")
BAD_ANSWER = N_("Svaret kunne ikke leses. Velg et av alternativene og prøv igjen.")
NO_QUESTION = N_("Fant ikke spørsmålet. Last siden på nytt og prøv igjen.")
NO_TIMED = N_("Fant ikke dette spørsmålet underveis i videoen. Last siden på nytt og prøv igjen.")
ALREADY_ANSWERED = N_(
    "Du har allerede svart på dette spørsmålet. Svaret ditt står, og teller når du leverer quizen."
)
NO_CHOICE = N_("Velg et svar først, og prøv igjen.")
UNANSWERED = N_("Noen spørsmål er ikke besvart. Svar på dem, eller lever likevel.")


class ValidationError(UserError):
    """Input that cannot be saved; `errors` maps field name to a Norwegian sentence."""

    status = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class QuizError(UserError):
    """A participant action that is refused; the message is for the participant."""

    status = 409


class Incomplete(QuizError):
    """A submission with unanswered questions and no "submit anyway": nothing is saved; the
    form is shown again with `numbers` (1-based, as on the page) and the `answers` given."""

    def __init__(self, numbers: list[int], answers: dict) -> None:
        super().__init__(UNANSWERED, 422)
        self.numbers, self.answers = numbers, answers


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool = False


@dataclass(frozen=True)
class Question:
    id: int
    position: int
    kind: str
    text: str
    explanation: str = ""
    at_seconds: float | None = None
    options: tuple[Option, ...] = ()

    @property
    def scored(self) -> bool:
        return self.kind != REFLECTION

    def public(self) -> dict:
        """What a participant may see before answering: no correctness, no explanation."""
        return {
            "id": self.id, "kind": self.kind, "text": self.text, "at_seconds": self.at_seconds,
            "options": [o.text for o in self.options],
        }  # fmt: skip


@dataclass(frozen=True)
class QuizSettings:
    pass_mark: int = DEFAULT_PASS_MARK
    retries_allowed: bool = True
    published: bool = False


@dataclass(frozen=True)
class Item:
    question: Question
    answer: list[int] | str | None
    correct: bool | None  # None: reflection, not scored


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of `attempts`: a person's go at a talk's quiz, open until submitted.
    `answers` maps question id (str) to the answer (option indexes or a text)."""

    id: int
    talk_id: int
    user_id: int
    started_at: str
    submitted_at: str | None = None
    score: float | None = None
    passed: bool = False
    answers: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> Attempt:
        """The row as a record; answers that are not a JSON object read as none given."""
        try:
            answers = json.loads(row["answers"] or "{}")
        except ValueError:
            answers = {}
        return cls(
            id=row["id"], talk_id=row["talk_id"], user_id=row["user_id"],
            started_at=row["started_at"], submitted_at=row["submitted_at"], score=row["score"],
            passed=bool(row["passed"]), answers=answers if isinstance(answers, dict) else {},
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a timed answer reveals at once: whether it was right, and the explanation."""

    correct: bool | None
    explanation: str

    def to_json(self) -> dict[str, Any]:
        return {"correct": self.correct, "explanation": self.explanation}


@dataclass(frozen=True, slots=True)
class QuizBox:
    """What the talk page shows about the quiz (templates/talks/_quiz_box.html)."""

    published: bool = False
    can_edit: bool = False
    count: int = 0  # questions
    timed: bool = False  # a published quiz with questions at moments in the video
    best: int | None = None  # the viewer's best score in per cent
    passed_at: str | None = None  # when the viewer first passed (ISO time)


@dataclass(frozen=True)
class Result:
    score: float  # correct scored questions / scored questions, 0..1
    passed: bool
    items: list[Item] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(self.score * 100)


# ---------------------------------------------------------------- reading


def settings(db: sqlite_utils.Database, talk_id: int) -> QuizSettings:
    row = db.execute("SELECT * FROM quizzes WHERE talk_id = ?", [talk_id]).fetchone()
    if row is None:
        return QuizSettings()
    return QuizSettings(row["pass_mark"], bool(row["retries_allowed"]), bool(row["published"]))


def _question(row) -> Question:
    options = tuple(Option(str(o["text"]), bool(o["correct"])) for o in json.loads(row["options"]))
    return Question(row["id"], row["position"], row["kind"], row["text"], row["explanation"],
                    row["at_seconds"], options)  # fmt: skip


def questions(db: sqlite_utils.Database, talk_id: int) -> list[Question]:
    rows = db.execute(
        "SELECT * FROM questions WHERE talk_id = ? ORDER BY position, id", [talk_id]
    ).fetchall()
    return [_question(r) for r in rows]


def has_quiz(db: sqlite_utils.Database, talk_id: int) -> bool:
    """A published quiz with at least one scored question (reflection questions score nothing)."""
    row = db.execute(
        "SELECT 1 FROM quizzes q JOIN questions s ON s.talk_id = q.talk_id "
        "WHERE q.talk_id = ? AND q.published = 1 AND s.kind != 'reflection' LIMIT 1",
        [talk_id],
    ).fetchone()
    return row is not None


def passed(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the person first passed the talk's quiz (ISO time), or None."""
    row = db.execute(
        "SELECT MIN(submitted_at) FROM attempts WHERE user_id = ? AND talk_id = ? AND passed = 1",
        [user_id, talk_id],
    ).fetchone()
    return row[0] if row else None


def best_score(db: sqlite_utils.Database, user_id: int, talk_id: int) -> float | None:
    row = db.execute(
        "SELECT MAX(score) FROM attempts WHERE user_id = ? AND talk_id = ? "
        "AND submitted_at IS NOT NULL",
        [user_id, talk_id],
    ).fetchone()
    return row[0] if row else None


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: Talk) -> dict:
    """What the talk page shows about the quiz (template talks/_quiz_box.html)."""
    published = has_quiz(db, talk.id)
    editor = can_edit(viewer, talk)
    count, timed, best, passed_at = 0, False, None, None
    if published or editor:
        listed = questions(db, talk.id)
        count = len(listed)
        timed = published and any(q.at_seconds is not None for q in listed)
    if published and viewer.user is not None:
        score = best_score(db, viewer.user.id, talk.id)
        best = None if score is None else round(score * 100)
        passed_at = passed(db, viewer.user.id, talk.id)
    return {"quiz_box": QuizBox(published, editor, count, timed, best, passed_at)}


# ---------------------------------------------------------------- authoring


def parse_time(raw: str) -> float | None:
    """Seconds from "90", "1:30" or "1:02:03"; None for empty; ValueError otherwise."""
    text = (raw or "").strip()
    if not text:
        return None
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(text)
    hours, minutes, seconds, plain = match.groups()
    if plain is not None:
        return float(plain.replace(",", "."))
    if float(seconds.replace(",", ".")) >= 60:
        raise ValueError(text)
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def _clean(value: object, limit: int) -> str:
    return str(value or "").replace("\x00", "").strip()[:limit]


@dataclass(frozen=True)
class QuestionInput:
    kind: str
    text: str
    explanation: str = ""
    at: str = ""
    options: tuple[str, ...] = ()  # choice kinds: texts in order (empty ones are dropped)
    correct: tuple[int, ...] = ()  # indexes into `options`; true/false: 0 = Sant, 1 = Usant


def validate_question(data: QuestionInput) -> tuple[str, str, str, float | None, list[Option]]:
    """(kind, text, explanation, at_seconds, options), or ValidationError in Norwegian."""
    errors: dict[str, str] = {}
    kind = data.kind if data.kind in KINDS else ""
    if not kind:
        errors["kind"] = N_("Velg hva slags spørsmål det er.")
    text = _clean(data.text, MAX_TEXT)
    if not text:
        errors["text"] = N_("Skriv selve spørsmålet.")
    try:
        at_seconds = parse_time(data.at)
    except ValueError:
        at_seconds = None
        errors["at"] = N_(
            "Skriv tidspunktet i videoen som sekunder (90) eller minutter:sekunder (1:30)."
        )
    options = _options(kind, data, errors)
    if errors:
        raise ValidationError(errors)
    return kind, text, _clean(data.explanation, MAX_TEXT), at_seconds, options


def _options(kind: str, data: QuestionInput, errors: dict[str, str]) -> list[Option]:
    if kind == REFLECTION or not kind:
        return []
    if kind == TRUEFALSE:
        if len(set(data.correct)) != 1 or data.correct[0] not in (0, 1):
            errors["correct"] = N_("Velg om påstanden er sann eller usann.")
            return []
        return [Option(t, i == data.correct[0]) for i, t in enumerate(TRUEFALSE_OPTIONS)]
    options = []
    for index, raw in enumerate(data.options):
        text = _clean(raw, MAX_OPTION)
        if text:
            options.append(Option(text, index in data.correct))
        elif index in data.correct:
            errors["correct"] = N_("Et alternativ som er merket som riktig, mangler tekst.")
    right = sum(o.correct for o in options)
    if len(options) < 2:
        errors["options"] = N_("Et flervalgsspørsmål trenger minst to svaralternativer.")
    elif len(options) > MAX_OPTIONS:
        too_many = N_("Et spørsmål kan ha høyst %(count)s svaralternativer.")
        errors["options"] = too_many % {"count": MAX_OPTIONS}
    if "correct" not in errors and kind == SINGLE and right != 1:
        errors["correct"] = N_("Merk nøyaktig ett riktig svar når bare ett svar skal velges.")
    if "correct" not in errors and kind == MULTIPLE and right < 1:
        errors["correct"] = N_("Merk minst ett riktig svar.")
    return options


def _options_json(options: list[Option]) -> str:
    return json.dumps([{"text": o.text, "correct": o.correct} for o in options], ensure_ascii=False)


def save_settings(db, talk: Talk, pass_mark: str, retries: bool, publish: bool, actor) -> None:
    mark = parse.integer(str(pass_mark), 0, 100)
    mark = -1 if mark is None else mark
    errors = {}
    if not 0 <= mark <= 100:
        errors["pass_mark"] = N_("Beståttgrensen må være et helt tall fra 0 til 100.")
    if publish and not any(q.scored for q in questions(db, talk.id)):
        errors["published"] = N_(
            "Legg til minst ett spørsmål med riktig svar før du publiserer quizen."
        )
    if errors:
        raise ValidationError(errors)
    with write(db):
        db.execute(
            "INSERT INTO quizzes (talk_id, pass_mark, retries_allowed, published, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(talk_id) DO UPDATE SET pass_mark = excluded."
            "pass_mark, retries_allowed = excluded.retries_allowed, published = excluded."
            "published, updated_at = excluded.updated_at",
            [talk.id, mark, int(retries), int(publish), now_iso()],
        )
        detail = N_("beståttgrense %(mark)s %%, nye forsøk %(retries)s, %(published)s") % {
            "mark": mark,
            "retries": N_("ja") if retries else N_("nei"),
            "published": N_("publisert") if publish else N_("ikke publisert"),
        }
        accounts.audit(db, actor, N_("endret quizinnstillinger"), talk.title, detail)


def _ensure_quiz(db: sqlite_utils.Database, talk_id: int) -> None:
    db.execute(
        "INSERT INTO quizzes (talk_id, pass_mark, retries_allowed, published, updated_at) "
        "VALUES (?, ?, 1, 0, ?) ON CONFLICT (talk_id) DO NOTHING",
        [talk_id, DEFAULT_PASS_MARK, now_iso()],
    )


def save_question(
    db, talk: Talk, data: QuestionInput, actor, question_id: int | None = None
) -> int:
    """Create (question_id None) or change a question; returns its id."""
    kind, text, explanation, at_seconds, options = validate_question(data)
    values = [kind, text, explanation, at_seconds, _options_json(options)]
    with write(db):
        serialize(db, f"questions:{talk.id}")  # each new question its own next position
        _ensure_quiz(db, talk.id)
        if question_id is None:
            row = db.execute(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM questions WHERE talk_id = ?",
                [talk.id],
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO questions (kind, text, explanation, at_seconds, options, talk_id, "
                "position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [*values, talk.id, row[0], now_iso()],
            )
            question_id, action = inserted_id(cursor), N_("la til quizspørsmål")
        else:
            cursor = db.execute(
                "UPDATE questions SET kind = ?, text = ?, explanation = ?, at_seconds = ?, "
                "options = ? WHERE id = ? AND talk_id = ?",
                [*values, question_id, talk.id],
            )
            if cursor.rowcount == 0:
                raise QuizError(NO_QUESTION, 404)
            action = N_("endret quizspørsmål")
        _touch(db, talk.id)
        accounts.audit(db, actor, action, talk.title, text)
    return question_id


def _touch(db: sqlite_utils.Database, talk_id: int) -> None:
    db.execute("UPDATE quizzes SET updated_at = ? WHERE talk_id = ?", [now_iso(), talk_id])


def delete_question(db: sqlite_utils.Database, talk: Talk, question_id: int, actor) -> str:
    """Deletes the question; returns its text."""
    with write(db):
        row = db.execute(
            "SELECT text FROM questions WHERE id = ? AND talk_id = ?", [question_id, talk.id]
        ).fetchone()
        if row is None:
            raise QuizError(NO_QUESTION, 404)
        db.execute("DELETE FROM questions WHERE id = ?", [question_id])
        _touch(db, talk.id)
        accounts.audit(db, actor, N_("slettet quizspørsmål"), talk.title, row["text"])
    return row["text"]


def move_question(db, talk: Talk, question_id: int, direction: str, actor) -> None:
    """Swap the question with its neighbour above ("up") or below ("down")."""
    order = [q.id for q in questions(db, talk.id)]
    if question_id not in order or direction not in ("up", "down"):
        raise QuizError(NO_QUESTION, 404)
    index = order.index(question_id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(order):
        return
    order[index], order[other] = order[other], order[index]
    with write(db):
        for position, qid in enumerate(order, start=1):
            db.execute("UPDATE questions SET position = ? WHERE id = ?", [position, qid])
        _touch(db, talk.id)
        where = N_("opp") if direction == "up" else N_("ned")
        moved = N_("flyttet quizspørsmål")
        accounts.audit(db, actor, moved, talk.title, f"{question_id} {where}")


# ---------------------------------------------------------------- answering and scoring


def parse_answer(question: Question, raw: object) -> list[int] | str:
    """An answer as stored: sorted option indexes, or a text; ValueError when unreadable."""
    if question.kind == REFLECTION:
        if isinstance(raw, list):
            raw = " ".join(str(r) for r in raw)
        return _clean(raw, MAX_ANSWER)
    values = raw if isinstance(raw, list) else [raw]
    indexes = set()
    for value in values:
        index = parse.integer(value if isinstance(value, int) else str(value), 0, MAX_OPTIONS)
        if index is None or index >= len(question.options):
            raise ValueError(BAD_ANSWER)
        indexes.add(index)
    if question.kind != MULTIPLE and len(indexes) > 1:
        raise ValueError(BAD_ANSWER)
    return sorted(indexes)


def is_correct(question: Question, answer: object) -> bool | None:
    """Single/true-false: the right option; multiple: exactly the right set; reflection: None."""
    if not question.scored:
        return None
    right = {i for i, o in enumerate(question.options) if o.correct}
    chosen = set(answer) if isinstance(answer, list) else set()
    return bool(right) and chosen == right


def score(listed: list[Question], answers: dict, pass_mark: int) -> Result:
    items = [Item(q, answers.get(str(q.id)), None) for q in listed]
    items = [Item(i.question, i.answer, is_correct(i.question, i.answer)) for i in items]
    scored = [i for i in items if i.correct is not None]
    value = sum(1 for i in scored if i.correct) / len(scored) if scored else 0.0
    return Result(value, bool(scored) and value * 100 >= pass_mark, items)


def _require_quiz(db: sqlite_utils.Database, talk_id: int) -> QuizSettings:
    if not has_quiz(db, talk_id):
        raise QuizError(NOT_PUBLISHED, 404)
    return settings(db, talk_id)


def _submitted(db: sqlite_utils.Database, user_id: int, talk_id: int) -> bool:
    row = db.execute(
        "SELECT 1 FROM attempts WHERE user_id = ? AND talk_id = ? AND submitted_at IS NOT NULL",
        [user_id, talk_id],
    ).fetchone()
    return row is not None


def may_take(db: sqlite_utils.Database, user_id: int, talk_id: int) -> bool:
    return settings(db, talk_id).retries_allowed or not _submitted(db, user_id, talk_id)


def open_attempt(db: sqlite_utils.Database, user_id: int, talk_id: int) -> Attempt | None:
    row = db.execute(
        "SELECT * FROM attempts WHERE user_id = ? AND talk_id = ? AND submitted_at IS NULL "
        "ORDER BY id DESC LIMIT 1",
        [user_id, talk_id],
    ).fetchone()
    return Attempt.from_row(row) if row else None


def open_answers(db: sqlite_utils.Database, user_id: int, talk_id: int) -> dict:
    attempt = open_attempt(db, user_id, talk_id)
    return dict(attempt.answers) if attempt else {}


def _timed_question(db: sqlite_utils.Database, talk_id: int, question_id: object) -> Question:
    """The talk's question with a moment in the video that `question_id` names, or 404."""
    key = "" if isinstance(question_id, bool) else str(question_id).strip()
    timed = {str(q.id): q for q in questions(db, talk_id) if q.at_seconds is not None}
    if key not in timed:
        raise QuizError(NO_TIMED, 404)
    return timed[key]


def record_answer(db, user_id: int, talk_id: int, question_id: object, raw: object) -> Feedback:
    """A timed answer into the person's open attempt (made here if there is none), once per
    question and attempt; returns whether it was right and the explanation (see the
    module's docstring)."""
    _require_quiz(db, talk_id)
    question = _timed_question(db, talk_id, question_id)
    try:
        answer = parse_answer(question, raw)
    except ValueError:
        raise QuizError(BAD_ANSWER, 422) from None
    if answer in ("", []):
        raise QuizError(NO_CHOICE, 422)
    with write(db):
        serialize(db, f"attempt:{user_id}:{talk_id}")  # one open attempt, each answer once
        if not may_take(db, user_id, talk_id):
            raise QuizError(RETRY_REFUSED)
        attempt = open_attempt(db, user_id, talk_id)
        answers = dict(attempt.answers) if attempt else {}
        if str(question.id) in answers:
            raise QuizError(ALREADY_ANSWERED)
        answers[str(question.id)] = answer
        if attempt is None:
            db.execute(
                "INSERT INTO attempts (talk_id, user_id, started_at, answers) VALUES (?, ?, ?, ?)",
                [talk_id, user_id, now_iso(), json.dumps(answers, ensure_ascii=False)],
            )
        else:
            db.execute(
                "UPDATE attempts SET answers = ? WHERE id = ?",
                [json.dumps(answers, ensure_ascii=False), attempt.id],
            )
    return Feedback(is_correct(question, answer), question.explanation)


def _merge(listed: list[Question], stored: dict, form: dict) -> dict:
    """The attempt's answers: those stored (timed answers, locked) and, for the other
    questions, what the form gives; empty answers are left out. BAD_ANSWER (400) if a form
    answer cannot be read."""
    answers = {}
    for question in listed:
        key = str(question.id)
        if key in stored:
            answers[key] = stored[key]
            continue
        raw = form.get(key)
        try:
            answer = None if raw in (None, [], "") else parse_answer(question, raw)
        except ValueError:
            raise QuizError(BAD_ANSWER, 400) from None
        if answer not in (None, "", []):
            answers[key] = answer
    return answers


def submit(db, user_id: int, talk_id: int, form: dict, anyway: bool = False) -> int:
    """Score and close the attempt; `form` maps question id (str) to a raw answer. Answers
    already in the open attempt (timed questions) stand; the form cannot change them.
    Unanswered questions raise Incomplete unless `anyway`. Returns the attempt id."""
    quiz = _require_quiz(db, talk_id)
    listed = questions(db, talk_id)
    with write(db):
        serialize(db, f"attempt:{user_id}:{talk_id}")  # one open attempt, each answer once
        if not may_take(db, user_id, talk_id):
            raise QuizError(RETRY_REFUSED)
        attempt = open_attempt(db, user_id, talk_id)
        answers = _merge(listed, dict(attempt.answers) if attempt else {}, form)
        missing = [n for n, q in enumerate(listed, start=1) if str(q.id) not in answers]
        if missing and not anyway:
            raise Incomplete(missing, answers)
        result = score(listed, answers, quiz.pass_mark)
        values = [
            now_iso(),
            result.score,
            int(result.passed),
            json.dumps(answers, ensure_ascii=False),
        ]
        if attempt is None:
            cursor = db.execute(
                "INSERT INTO attempts (submitted_at, score, passed, answers, talk_id, user_id, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [*values, talk_id, user_id, now_iso()],
            )
            return inserted_id(cursor)
        db.execute(
            "UPDATE attempts SET submitted_at = ?, score = ?, passed = ?, answers = ? WHERE id = ?",
            [*values, attempt.id],
        )
        return attempt.id


def attempt_result(db, user_id: int, talk_id: int, attempt_id: int | None = None) -> Result | None:
    """The scored result of one of the person's submitted attempts (default: the latest)."""
    sql = "SELECT * FROM attempts WHERE user_id = ? AND talk_id = ? AND submitted_at IS NOT NULL"
    params: list = [user_id, talk_id]
    if attempt_id is not None:
        sql, params = sql + " AND id = ?", [*params, attempt_id]
    row = db.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    attempt = Attempt.from_row(row)
    full = score(questions(db, talk_id), dict(attempt.answers), settings(db, talk_id).pass_mark)
    return Result(attempt.score, attempt.passed, full.items)  # as scored when submitted
