"""Who may do what: roles, talk visibility and the rule of every route, in one place.

Every route of the app is named and has exactly one rule here; `create_app` refuses to
start if a route has none, and the access-matrix test walks this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from server.catalogue.records import Talk
from server.people.accounts import User

VISIBILITIES = ("public", "internal", "draft")

# Rules: who may reach a route at all. TALK_* rules also need the talk in the path.
PUBLIC = "public"  # anyone, also guests
SIGNED_IN = "signed_in"  # any active account
ORGANISER = "organiser"  # organisers and admins
ADMIN = "admin"
TALK_VIEW = "talk:view"  # whoever may see that talk (by its visibility)
TALK_EDIT = "talk:edit"  # that talk's organiser, or an admin
TALK_MEMBER = "talk:member"  # signed in and may see the talk (results belong to people)
UPLOAD = "upload"  # tus uploads: organisers and admins (the upload is bound to its owner)

RULES: dict[str, str] = {
    # pages
    "front": PUBLIC,
    "archive": PUBLIC,
    "search": PUBLIC,
    "search_json": PUBLIC,
    "static": PUBLIC,
    # talks
    "talk": TALK_VIEW,
    "talk_status": TALK_VIEW,
    "talk_download": TALK_VIEW,
    "transcript_lines": TALK_VIEW,  # the rest of a long transcript (server/web/views/transcript.py)
    "talk_original": TALK_VIEW,
    "talk_embed": TALK_VIEW,  # just the player, for a frame (KTL_FRAME_ORIGINS)
    "vod": TALK_VIEW,
    "slide_thumb": TALK_VIEW,  # a slide's thumbnail (server/web/views/chapters.py)
    "talk_chapters_vtt": TALK_VIEW,
    "chapters_edit": TALK_EDIT,
    "chapters_save": TALK_EDIT,
    "talk_new": ORGANISER,
    "talk_create": ORGANISER,
    "talk_edit": TALK_EDIT,
    "talk_update": TALK_EDIT,
    "talk_delete": TALK_EDIT,
    "talk_attach": TALK_EDIT,
    "talk_retry": TALK_EDIT,
    # uploads
    "tus_collection": UPLOAD,
    "tus_upload": UPLOAD,
    # accounts
    "login": PUBLIC,
    "login_submit": PUBLIC,
    "logout": PUBLIC,
    "forgot": PUBLIC,
    "forgot_submit": PUBLIC,
    "password_link": PUBLIC,
    "password_link_submit": PUBLIC,
    "oidc_start": PUBLIC,
    "oidc_callback": PUBLIC,
    "admin_users": ADMIN,
    "admin_user_create": ADMIN,
    "admin_user": ADMIN,
    "admin_user_update": ADMIN,
    "admin_user_reset": ADMIN,
    "admin_audit": ADMIN,
    # transcripts: editor, versions, review (server/web/views/editor.py)
    "transcript_editor": TALK_EDIT,
    "transcript_save": TALK_EDIT,
    "transcript_versions": TALK_EDIT,
    "transcript_restore": TALK_EDIT,
    "transcript_review": TALK_EDIT,
    "transcript_retranscribe": TALK_EDIT,
    "transcript_accept": TALK_EDIT,
    "transcript_suggestions": TALK_EDIT,
    # vocabulary (server/web/views/vocabulary.py)
    "vocabulary": ADMIN,
    "vocabulary_update": ADMIN,
    "talk_vocabulary_update": TALK_EDIT,
    # interface language (server/web/views/language.py)
    "set_language": PUBLIC,
    # quizzes (server/web/views/quizzes.py)
    "quiz_edit": TALK_EDIT,
    "quiz_update": TALK_EDIT,
    "quiz_question_save": TALK_EDIT,
    "quiz_question_delete": TALK_EDIT,
    "quiz_reorder": TALK_EDIT,
    "quiz_suggest": TALK_EDIT,
    "quiz_preview": TALK_EDIT,
    "quiz": TALK_MEMBER,
    "quiz_submit": TALK_MEMBER,
    "quiz_timed_json": TALK_MEMBER,
    "quiz_timed_answer": TALK_MEMBER,
    # watch progress, completion, reports (server/web/views/progress.py)
    "progress_report": TALK_MEMBER,
    "my_modules": SIGNED_IN,
    # personal notes on a talk (server/web/views/notes.py): each person sees only their own
    "note_create": TALK_MEMBER,
    "note_list": TALK_MEMBER,
    "note_download": TALK_MEMBER,
    "note_update": TALK_MEMBER,
    "note_delete": TALK_MEMBER,
    # the English caption track (server/web/views/translation.py)
    "translation_download": TALK_VIEW,
    "translation_page": TALK_EDIT,
    "translation_save": TALK_EDIT,
    "translation_choose": TALK_EDIT,
    "translation_review": TALK_EDIT,
    "translation_restore": TALK_EDIT,
    "talk_results": TALK_EDIT,
    "reports": ADMIN,
    "reports_department": ADMIN,
    "reports_csv": ADMIN,
    # programme, feeds, sign-up, attendance (server/web/views/programme.py)
    "programme": PUBLIC,
    "programme_ics": PUBLIC,
    "programme_department_ics": PUBLIC,
    "signup": TALK_MEMBER,
    "attendance": TALK_EDIT,
    "attendance_register": TALK_EDIT,
    "attendance_qr": TALK_EDIT,
    "checkin": TALK_MEMBER,
    "checkin_submit": TALK_MEMBER,
    # live broadcasts (server/web/views/live.py)
    "live_page": TALK_EDIT,
    "live_encoder": TALK_EDIT,
    "live_passphrase": TALK_EDIT,
    "live_end": TALK_EDIT,
    "live_ingest": TALK_EDIT,
    "live_playlist": TALK_VIEW,
    "live_events": TALK_VIEW,
    "live_may_watch": PUBLIC,  # nginx's question; the answer is for the one asking
    "live_segment": TALK_VIEW,
    "live_ask": TALK_MEMBER,
    "live_questions": TALK_EDIT,
    "live_answered": TALK_EDIT,
    # operations (server/web/views/ops.py): /metrics checks KTL_METRICS_ALLOW/_TOKEN itself
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "metrics": PUBLIC,
}


@dataclass(frozen=True)
class Viewer:
    """The person making a request: a user, or a guest (user None)."""

    user: User | None

    @property
    def role(self) -> str:
        return self.user.role if self.user else "guest"

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    def at_least(self, role: str) -> bool:
        return self.user is not None and self.user.at_least(role)


class Filter(NamedTuple):
    """An SQL condition on the talks table (alias `t` unless told) and its named parameters."""

    sql: str
    params: dict


EVERYONE = Filter("1 = 1", {})  # explicit truth values: PostgreSQL has no integer booleans


@dataclass(frozen=True)
class Condition:
    """The talk's `column` holds one of `values`."""

    column: str
    values: tuple[object, ...]


@dataclass(frozen=True)
class TalkSet:
    """The talks matching any of `clauses` (a clause: all its conditions hold; an empty clause
    matches every talk). The one rule, read in Python for one talk and as SQL for lists."""

    clauses: tuple[tuple[Condition, ...], ...]
    name: str  # prefix of the SQL parameters, unique among filters used together

    def holds(self, talk: Talk) -> bool:
        return any(
            all(getattr(talk, c.column) in c.values for c in clause) for clause in self.clauses
        )

    def sql(self, alias: str = "t") -> Filter:
        prefix = f"{alias}." if alias else ""
        params: dict[str, object] = {}
        parts = []
        for clause in self.clauses:
            conditions = []
            for condition in clause:
                names = []
                for value in condition.values:
                    names.append(f":{self.name}_{len(params)}")
                    params[names[-1][1:]] = value
                conditions.append(f"{prefix}{condition.column} IN ({', '.join(names)})")
            parts.append(f"({' AND '.join(conditions)})" if conditions else "1 = 1")
        return Filter(f"({' OR '.join(parts)})" if parts else "1 = 0", params)


ALL_TALKS = ((),)  # one empty clause
NO_TALKS: tuple = ()
REVIEWED = "reviewed"


@dataclass(frozen=True)
class Visibility:
    """Which talks a viewer may see and edit, decided once: `sees`/`edits` check one talk,
    `visible_sql`/`editable_sql` filter lists, all from the same TalkSet."""

    viewer: Viewer

    @property
    def editable(self) -> TalkSet:
        """Admins edit every talk, organisers their own, others none."""
        user = self.viewer.user
        if user is not None and user.role == "admin":
            return TalkSet(ALL_TALKS, "editor")
        if user is not None and user.role == "organiser":
            return TalkSet(((Condition("organiser_id", (user.id,)),),), "editor")
        return TalkSet(NO_TALKS, "editor")

    @property
    def visible(self) -> TalkSet:
        """Public talks for everyone, internal ones for staff, drafts for whoever edits them."""
        shown = ("public", "internal") if self.viewer.signed_in else ("public",)
        return TalkSet(((Condition("visibility", shown),), *self.editable.clauses), "viewer")

    def transcripts(self, captions_publish: str) -> TalkSet:
        """Talks whose transcript the viewer may read: all, or when captions wait for review
        (KTL_CAPTIONS_PUBLISH=reviewed) reviewed ones and those the viewer edits."""
        if captions_publish != REVIEWED:
            return TalkSet(ALL_TALKS, "transcript")
        reviewed = (Condition("transcript_state", (REVIEWED,)),)
        return TalkSet((reviewed, *self.editable.clauses), "transcript")

    def sees(self, talk: Talk) -> bool:
        return self.visible.holds(talk)

    def edits(self, talk: Talk) -> bool:
        return self.editable.holds(talk)

    def visible_sql(self, alias: str = "t") -> Filter:
        return self.visible.sql(alias)

    def editable_sql(self, alias: str = "t") -> Filter:
        return self.editable.sql(alias)


def can_view(viewer: Viewer, talk: Talk) -> bool:
    return Visibility(viewer).sees(talk)


def can_edit(viewer: Viewer, talk: Talk) -> bool:
    return Visibility(viewer).edits(talk)


def allows(rule: str, viewer: Viewer) -> bool:
    """The part of a rule that does not depend on a talk."""
    if rule in (PUBLIC, TALK_VIEW, TALK_EDIT):
        return True
    if rule == TALK_MEMBER:
        return viewer.signed_in
    if rule == SIGNED_IN:
        return viewer.signed_in
    if rule in (ORGANISER, UPLOAD):
        return viewer.at_least("organiser")
    if rule == ADMIN:
        return viewer.at_least("admin")
    raise ValueError(f"unknown rule {rule!r}")


def may(viewer: Viewer, route: str, talk: Talk | None = None) -> bool:
    """Whether the viewer may use the named route: its rule above, on `talk` for the
    rules about one talk. Pages use it (as `can`) to offer only what the person may do."""
    rule = RULES[route]
    if not allows(rule, viewer):
        return False
    if rule not in (TALK_VIEW, TALK_EDIT, TALK_MEMBER):
        return True
    if talk is None:
        raise ValueError(f"route {route!r} is about one talk: pass the talk")
    if not can_view(viewer, talk):
        return False
    return rule != TALK_EDIT or can_edit(viewer, talk)
