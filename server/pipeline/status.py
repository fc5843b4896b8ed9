"""How far a talk's recording has come through the pipeline, as the talk page and its
status.json show it (domain, no HTTP): one record per stage and one for the whole.

A running job whose lease ran out (its worker died) waits for a free worker: its stage is
'stalled', with no progress figure. A job handed back by a worker that does not take its
next stage (KTL_WORKER_STAGES) waits for one that does, and says which. An organiser may
start a failed or stalled job again (`retry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from server.catalogue import talks
from server.catalogue.records import Talk
from server.core.config import Settings
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.people.accounts import User
from server.pipeline import jobs
from server.pipeline.worker import STAGE_LABELS, TRANSCRIBE_STARTED, TRANSLATE, WAITING_FOR_STAGE
from server.store import write
from server.transcript import translation

WAITING_FOR_WORKER = N_("Venter på en ledig arbeider")
PACKAGE = "package"


class RetryRefused(UserError):
    """The talk's job cannot be started again (it is healthy, queued, done or missing);
    the message says why."""

    status = 409


@dataclass(frozen=True, slots=True)
class StageStatus:
    """One stage: `state` is done, running, loading (the model loads), waiting, failed or
    stalled; `progress` 0..1, or None where the page shows a moving bar."""

    name: str
    label: str
    state: str
    progress: float | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "state": self.state,
                "progress": self.progress}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProcessingStatus:
    """The talk's latest job, stage by stage. `notice` and `error` are messages (msgids,
    see server.core.i18n.translate) until `translated`; `playable`: packaged, and the
    package here, while the rest goes on, so the page shows the player."""

    talk_status: str
    job_state: str | None
    waiting_for_worker: bool
    waiting_for_stage: str | None
    notice: str | None
    stages: tuple[StageStatus, ...]
    error: str | None
    can_retry: bool
    playable: bool = False

    @property
    def packaged(self) -> bool:
        """The package stage is done: the recording can be played already."""
        return any(s.name == PACKAGE and s.state == "done" for s in self.stages)

    def translated(self, translate: Callable[[str], str]) -> ProcessingStatus:
        """The stage labels, notice and error through `translate` (a message to a text)."""
        stages = tuple(replace(s, label=translate(s.label)) for s in self.stages)
        notice, error = (translate(text or "") or None for text in (self.notice, self.error))
        return replace(self, stages=stages, notice=notice, error=error)

    def to_json(self) -> dict[str, Any]:
        """status.json: every field, in this order."""
        return {
            "talk_status": self.talk_status, "job_state": self.job_state,
            "waiting_for_worker": self.waiting_for_worker,
            "waiting_for_stage": self.waiting_for_stage, "notice": self.notice,
            "stages": [s.to_json() for s in self.stages], "error": self.error,
            "can_retry": self.can_retry, "playable": self.playable,
        }  # fmt: skip


def _stage_names(db, settings: Settings, talk: Talk, job: jobs.Job | None) -> list[str]:
    """The stages this talk goes through: the English track's only when it gets one (or
    the job is one that makes it)."""
    wanted = translation.wanted(settings, talk, translation.get(db, talk.id))
    english = wanted or bool(job and job.kind == TRANSLATE)
    return [name for name in jobs.STAGES if name != TRANSLATE or english]


def _stage(name: str, job: jobs.Job | None, stalled: bool) -> StageStatus:
    state = "waiting"
    if job and name in job.stages_done:
        state = "done"
    elif job and job.stage == name:
        state = {"running": "running", "failed": "failed"}.get(job.state, "waiting")
        state = "stalled" if stalled else state
    progress = 1.0 if state == "done" else (job.progress if state == "running" else 0.0)
    shown = None if state == "stalled" else round(progress, 3)
    if state == "running" and progress <= TRANSCRIBE_STARTED:  # no figure yet: a moving bar
        shown = None
        state = "loading" if name == "transcribe" and progress == 0 else state
    return StageStatus(name, STAGE_LABELS[name], state, shown)


def for_talk(db: sqlite_utils.Database, settings: Settings, talk: Talk) -> ProcessingStatus:
    """The talk's processing as its page shows it (labels and notice untranslated)."""
    job = jobs.latest_for_talk(db, talk.id)
    stalled = bool(job and job.stalled())
    stages = tuple(_stage(name, job, stalled) for name in _stage_names(db, settings, talk, job))
    handed_back = jobs.handed_back(job)
    waiting_for = WAITING_FOR_STAGE.get(handed_back or "")
    status = ProcessingStatus(
        talk_status=talk.status,
        job_state=job.state if job else None,
        waiting_for_worker=stalled or waiting_for is not None,
        waiting_for_stage=handed_back if waiting_for else None,
        notice=WAITING_FOR_WORKER if stalled else waiting_for,
        stages=stages,
        error=job.error if job else None,
        can_retry=jobs.can_retry(job),
    )
    master = settings.paths.master_playlist(talk.id)
    return replace(status, playable=talk.status == "processing" and _playable(status, master))


def _playable(status: ProcessingStatus, master_playlist: Path) -> bool:
    """Packaged, and the package's master playlist in the media folder. A stage reported
    done by a worker whose files are not there (yet), or a package removed since, gives no
    player whose playlist, poster and captions would only answer 404."""
    return status.packaged and master_playlist.is_file()


def retry(db: sqlite_utils.Database, talk: Talk, actor: User | None) -> None:
    """Start the talk's failed job again, or one stuck since its worker died: queued with
    its finished stages kept, the talk processing again, and the audit log told, in one
    write unit. RetryRefused (409) for any other job, read again for the reason: a worker
    may have just taken it over."""
    job = jobs.latest_for_talk(db, talk.id)
    with write(db):
        requeued = job is not None and jobs.retry(db, job.id)
        if requeued:
            talks.set_status(db, talk.id, "processing")
            accounts.audit(db, actor, N_("startet behandling på nytt"), talk.title)
    if not requeued:
        raise RetryRefused(jobs.why_not_retry(jobs.latest_for_talk(db, talk.id)))
