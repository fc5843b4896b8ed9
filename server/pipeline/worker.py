"""The worker: claims jobs and runs them by kind; a 'process' job runs its stages
(package, transcribe, index).

Job kinds: ``Worker.KINDS`` maps a job's kind to the method that runs it, and
``jobs.KIND_STAGES`` to the stages it needs (a new kind gets an entry in both). The method
raises StageError/ModelError for a failure the organiser should read, and finishes the job
itself (see ``_run_process``). A kind with no entry fails the job with a clear message
instead of being retried forever.

A worker may take only some stages (KTL_WORKER_STAGES, ``ktl worker --only``): it claims
jobs whose next stage it takes and hands a job back at the first stage it does not.

Each stage writes into a scratch folder named after the job (in KTL_WORK_DIR, or else
beside the talk's media) and moves its result into place at the end, so a worker killed at
any moment leaves either the old state or the new one; scratch folders of dead attempts at
the same talk are removed when a stage starts again.

What a worker reads and writes besides its work folder, so a worker on another host needs:
the database (today the SQLite file in the data folder, which must not be shared over NFS:
workers on other hosts wait for PostgreSQL, KTL_DATABASE_URL); the data folder's media/
(the original recording; vod/ and slides/ written; the slide stage's resumable
.slides-work/ there, so another worker resumes it; media/.uploads/, where expired
unfinished uploads are removed) and transcripts/ (written by transcription and read by the
index, slide and English stages; pending versions of a new transcription), both on the
shared mount as KTL_DATA_DIR; and its own KTL_MODEL_CACHE_DIR (the Whisper model). It reads
no secret.key and serves nothing.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import sqlite_utils

from server.catalogue import search, talks, vocabulary
from server.catalogue import slides as slide_rows
from server.catalogue.records import Recording
from server.core import paths
from server.core.config import Settings
from server.core.i18n import N_
from server.ops import stats
from server.pipeline import (
    ffargs,
    jobs,
    presence,
    probe,
    runner,
    slides,
    supervisor,
    translate,
    tus,
)
from server.pipeline.transcribe import Engine, FasterWhisperEngine, ModelError
from server.store import PgStore, Store, is_postgres, open_store, write
from server.transcript import editing, translation
from server.transcript import model as transcript

log = logging.getLogger("ktl.worker")
STAGE_LABELS = {
    "package": N_("Pakker video for avspilling"),
    "transcribe": N_("Transkriberer tale til tekst"),
    "index": N_("Gjør innholdet søkbart"),
    "slides": N_("Finner og leser lysbildene"),
    "translate": N_("Lager engelsk teksting (maskinoversettelse)"),
}
# A job handed back by a worker that does not take its next stage (KTL_WORKER_STAGES).
WAITING_FOR_STAGE = {
    "package": N_("Venter på en arbeider som kan pakke video"),
    "transcribe": N_("Venter på en arbeider som kan transkribere"),
    "index": N_("Venter på en arbeider som kan gjøre innholdet søkbart"),
    "slides": N_("Venter på en arbeider som kan lese lysbildene"),
    "translate": N_("Venter på en arbeider som kan lage engelsk teksting"),
}
SCRATCH = ".work-"
TRANSLATE = "translate"  # the stage, and the job kind that runs only it
# Whisper's first figure comes when its first 30 s window is decoded, seconds after the
# stage starts (the model loads first). Until then the stage reports 0 while the model loads
# and the audio is extracted, then this mark once Whisper has begun; the page shows a
# moving bar until a real figure comes (server.pipeline.status).
TRANSCRIBE_STARTED = 0.001
CLEANUP_INTERVAL = 600.0
# While a new recording is transcribed, its segments enter the search index in batches of
# about this much audio (server.catalogue.search.index_partial); the index stage replaces them.
PARTIAL_INDEX_SECONDS = 30.0


class StageError(RuntimeError):
    """A stage failed; the message is shown to organisers in Norwegian."""


class Stopped(BaseException):
    """The worker was told to stop (SIGTERM): it leaves its job for the next worker at once.
    Not an Exception, so no stage takes it for a failure of its own."""


class LeaseLost(RuntimeError):
    """Another worker took the job over; stop without writing anything more."""


class Worker:
    # job kind -> the method that runs it, (db, job) -> None
    KINDS: ClassVar[dict[str, str]] = {
        jobs.PROCESS: "_run_process",
        "retranscribe": "_run_retranscribe",
        TRANSLATE: "_run_translate",  # an English track for a talk that is already ready
        slides.KIND: "_run_slides",  # slides and chapters of a ready talk (`ktl slides`)
    }

    def __init__(
        self,
        settings: Settings,
        engine_factory: Callable[[], Engine] | None = None,
        store: Store | PgStore | None = None,
    ) -> None:
        self.settings = settings
        self._own_store = store is None  # closed when run_forever ends (PostgreSQL: a pool)
        self.store = store or open_store(settings)
        self.name = f"{jobs.worker_prefix(os.getpid())}{id(self):x}"
        self.stages = jobs.parse_stages(settings.worker_stages)  # None: every stage
        self._announced = -float("inf")
        self._engine: Engine | None = None
        self._engines: dict[str, Engine] = {}
        self._engine_factory = engine_factory or (lambda: FasterWhisperEngine(settings))
        self.stop_event = threading.Event()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def run_forever(self) -> None:
        supervisor.end_with_supervisor()  # `ktl serve`'s own worker goes when it goes
        only = ", ".join(sorted(self.stages)) if self.stages else "alle"
        log.info("Arbeideren %s venter på jobber (trinn: %s)", self.name, only)
        next_cleanup = 0.0
        try:
            while not self.stop_event.is_set():
                self.announce()
                if time.monotonic() >= next_cleanup:
                    self.expire_uploads()
                    next_cleanup = time.monotonic() + CLEANUP_INTERVAL
                if not self.run_once():
                    self.stop_event.wait(self.settings.worker_poll_seconds)
        finally:
            with self.store.read() as db:
                presence.leave(db, self.name)
            if self._own_store:
                self.store.close()

    def announce(self, db: sqlite_utils.Database | None = None) -> None:
        """Say that this worker runs (server.pipeline.presence), at most every third of a
        lease; from the loop and from the heartbeat of a running job."""
        if time.monotonic() < self._announced + self.settings.job_lease_seconds / 3:
            return
        self._announced = time.monotonic()
        if db is not None:
            presence.announce(db, self.name, self.stages)
            return
        with self.store.read() as own:
            presence.announce(own, self.name, self.stages)

    def expire_uploads(self) -> None:
        """Remove resumable uploads that were abandoned before they were complete."""
        with self.store.read() as db:
            removed = tus.expire(db, self.settings)
        if removed:
            log.info("Fjernet %s utløpte opplastinger", removed)

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        with self.store.read() as db:
            job = jobs.claim(db, self.name, self.settings.job_lease_seconds, self.stages)
            if job is None:
                return False
            if job.attempts > jobs.MAX_ATTEMPTS:
                self._give_up(db, job)
                return True
            try:
                with _Heartbeat(self, job):
                    self._run(db, job)
            except (Stopped, KeyboardInterrupt) as stop:  # the next worker takes over now
                jobs.expire_leases(db, self.name)
                log.info("Jobb %s er ledig for neste arbeider", job.id)
                if isinstance(stop, KeyboardInterrupt):
                    raise
        return True

    def stop_soon(self) -> None:
        """Stop at the next progress report or stage (SIGTERM): the job's lease ends, so the
        next worker takes it over at once, and the loop ends."""
        self.stop_event.set()

    def _go_on(self) -> None:
        if self.stop_event.is_set():
            raise Stopped

    def _stopping(self, exc: BaseException) -> None:
        """A stage that fails while the worker is told to stop failed because of the stop:
        systemd and `ktl serve` send SIGTERM to the whole process group, so ffmpeg ends at
        the same moment. The job goes to the next worker; the talk is not marked failed."""
        if self.stop_event.is_set():
            raise Stopped from exc

    def _give_up(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        """The job's worker died MAX_ATTEMPTS times at the same stage: stop trying."""
        log.error("Jobb %s: gir opp etter %s forsøk på %s", job.id, jobs.MAX_ATTEMPTS, job.stage)
        with write(db):
            jobs.fail(db, job.id, self.name, give_up_message(job.stage))
            if job.stage == TRANSLATE or job.kind == TRANSLATE:  # the talk stays watchable
                translation.mark(db, job.talk_id, "failed", give_up_message(job.stage))
            elif job.stage in jobs.AFTER_READY:  # the talk stays watchable
                slide_rows.record_failure(db, job.talk_id, give_up_message(job.stage))
            elif job.kind == jobs.PROCESS:  # other kinds leave a ready talk as it is
                talks.set_status(db, job.talk_id, "failed")

    def _run(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        try:
            method = self.KINDS.get(job.kind)
            if method is None:
                unknown = N_("Ukjent jobbtype «%(kind)s»; jobben kan ikke kjøres.")
                raise StageError(unknown % {"kind": job.kind})
            getattr(self, method)(db, job)
        except LeaseLost:
            log.warning("Jobb %s ble tatt over av en annen arbeider", job.id)
        except (StageError, ModelError) as exc:
            self._stopping(exc)
            self._failed(db, job, str(exc))
        except Exception as exc:
            self._stopping(exc)
            log.exception("Jobb %s feilet", job.id)
            self._failed(db, job, N_("Det oppstod en uventet feil under behandlingen."))

    def takes(self, stage: str) -> bool:
        return self.stages is None or stage in self.stages

    def _run_process(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        """A new recording: package, transcribe and index, then the talk is ready. At a
        stage this worker does not take, the job goes back to the queue for one that does."""
        for stage in jobs.STAGES:
            if stage in job.stages_done:
                continue
            if stage in jobs.AFTER_READY:  # watchable now; what follows only adds to it
                with write(db):
                    talks.set_status(db, job.talk_id, "ready")
            if not self.takes(stage):
                self._hand_back(db, job, stage)
                return
            self._stage(db, job, stage)
        with write(db):
            if jobs.finish(db, job.id, self.name):
                talks.set_status(db, job.talk_id, "ready")
        log.info("Jobb %s for foredrag %s er ferdig", job.id, job.talk_id)

    def _hand_back(self, db: sqlite_utils.Database, job: jobs.Job, stage: str) -> None:
        if jobs.hand_back(db, job.id, self.name):
            log.info("Jobb %s venter på en arbeider som tar «%s»", job.id, stage)
        else:
            raise LeaseLost(job.id)

    def _run_retranscribe(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        """Transcribe again with another model into a pending version (server.transcript.editing);
        the current transcript stays until an organiser accepts the new one."""
        model = editing.requested_model(db, job.talk_id)
        talk, rec = talks.get(db, job.talk_id), talks.recording(db, job.talk_id)
        if model is not None and talk is not None and rec is not None:
            jobs.report(db, job, self.name, "transcribe", 0.0)

            def progress(share: float) -> None:
                self._go_on()
                jobs.report(db, job, self.name, "transcribe", share)

            result = self._whisper(db, job, talk, rec, progress, self._engine_for(model))
            editing.store_pending(db, self.settings, talk.id, result, model)
        with write(db):
            jobs.finish(db, job.id, self.name)
        log.info(
            "Ny transkripsjon av foredrag %s med %s er klar til godkjenning", job.talk_id, model
        )

    def _engine_for(self, model: str) -> Engine:
        if model == self.settings.whisper_model:
            return self.engine
        if model not in self._engines:
            self._engines[model] = FasterWhisperEngine(self.settings.replace(whisper_model=model))
        return self._engines[model]

    def _failed(self, db: sqlite_utils.Database, job: jobs.Job, message: str) -> None:
        with write(db):
            if jobs.fail(db, job.id, self.name, message) and job.kind == jobs.PROCESS:
                talks.set_status(db, job.talk_id, "failed")

    def _stage(self, db: sqlite_utils.Database, job: jobs.Job, stage: str) -> None:
        self._go_on()
        jobs.report(db, job, self.name, stage, 0.0)

        def progress(share: float) -> None:
            self._go_on()
            jobs.report(db, job, self.name, stage, share)

        talk = talks.get(db, job.talk_id)
        rec = talks.recording(db, job.talk_id)
        if talk is None or rec is None:
            raise StageError(N_("Foredraget eller opptaket finnes ikke lenger."))
        action = {"package": self._package, "transcribe": self._transcribe, "index": self._index,
                  "slides": self._slides, TRANSLATE: self._translate}  # fmt: skip
        action[stage](db, job, talk, rec, progress)
        with write(db):
            if not jobs.stage_done(db, job.id, self.name, stage):
                raise LeaseLost(job.id)

    def _scratch(self, folder: Path, job: jobs.Job) -> Path:
        """A fresh scratch folder for a stage of `job`, in KTL_WORK_DIR or else beside the
        talk's media (`folder`); what dead attempts at this talk left in either goes first."""
        root = Path(self.settings.work_dir).expanduser() if self.settings.work_dir else folder
        for place in {root, folder}:
            for old in place.glob(f"{SCRATCH}{job.talk_id}-*"):
                shutil.rmtree(old, ignore_errors=True)
        scratch = root / f"{SCRATCH}{job.talk_id}-{job.id}-{os.getpid()}"
        scratch.mkdir(parents=True)
        return scratch

    def _package(self, db, job, talk, rec, progress) -> None:
        folder = talks.media_dir(self.settings, talk.id)
        scratch = self._scratch(folder, job)
        source = folder / rec.path
        try:
            media = probe.describe(source)  # container, interlacing: not in the row
            _ffmpeg(package_args(source, scratch, media), rec.duration, progress)
            _ffmpeg(poster_args(source, scratch / paths.POSTER, rec), None, None)
        except (runner.FFmpegError, probe.MediaError) as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            detail = getattr(exc, "detail", str(exc))
            failed = N_("Kunne ikke pakke opptaket for avspilling: %(detail)s")
            raise StageError(failed % {"detail": detail}) from exc
        except Stopped:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        _move_into_place(scratch, folder / paths.VOD)

    def _transcribe(self, db, job, talk, rec, progress) -> None:
        partial = _PartialIndex(db, job, self.name, talk)
        result = self._whisper(db, job, talk, rec, progress, self.engine, partial)
        partial.flush()
        # File by file (each atomic), so edited versions in versions/ are kept.
        transcript.write_all(talks.transcript_dir(self.settings, talk.id), result)

    def _whisper(
        self, db, job, talk, rec, progress, engine: Engine, on_segment=None
    ) -> transcript.Transcript:
        """16 kHz audio from the original, through Whisper with the talk's vocabulary;
        `on_segment` (optional) gets each segment as Whisper produces it."""
        folder = talks.media_dir(self.settings, talk.id)
        scratch = self._scratch(folder, job)
        try:
            wav = scratch / "audio.wav"
            _ffmpeg(ffargs.extract_audio(folder / rec.path, wav), rec.duration, None)
            terms = vocabulary.terms_for_talk(db, talk.id)
            progress(TRANSCRIBE_STARTED)  # the model is loaded and the audio is out
            started = time.monotonic()
            result = engine.transcribe(
                wav, talk.language, rec.duration, progress, terms, on_segment
            )
            model = str(getattr(engine, "model_name", "") or self.settings.whisper_model)
            stats.record_transcription(  # for /metrics: the real-time factor
                db, talk.id, model, rec.duration, time.monotonic() - started
            )
        except runner.FFmpegError as exc:
            failed = N_("Kunne ikke hente ut lyden fra opptaket: %(detail)s")
            raise StageError(failed % {"detail": exc.detail}) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.info(
            "Foredrag %s: %d segmenter fra %.0f s lyd, %d ord i ordlisten",
            talk.id, len(result.segments), rec.duration, len(terms),
        )  # fmt: skip
        return result

    def _slides(self, db, job, talk, rec, progress) -> None:
        """Slides and chapters, once the talk is watchable (server.pipeline.slides.stage)."""
        media = talks.media_dir(self.settings, talk.id)
        path = self.settings.paths.transcript_json(talk.id)
        slides.stage(db, self.settings, talk, rec, media, path, progress)

    def _translate(self, db, job, talk, rec, progress) -> None:
        """The English track, once the talk is watchable (server.pipeline.translate)."""
        media = talks.media_dir(self.settings, talk.id)
        scratch = self._scratch(media, job)
        translate.stage(db, self.settings, talk, rec, media, scratch, self.engine, progress)

    def _run_translate(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        """Only the English track, for a talk that is ready (the organiser turned it on)."""
        if TRANSLATE not in job.stages_done:  # else its worker died before finishing the job
            self._stage(db, job, TRANSLATE)
        with write(db):
            if jobs.finish(db, job.id, self.name):  # it was ready (also after a «Prøv igjen»)
                talks.set_status(db, job.talk_id, "ready")

    def _run_slides(self, db: sqlite_utils.Database, job: jobs.Job) -> None:
        """Only the slides and chapters, for a talk that is ready (queued only for those;
        a retried one was set back to processing by the retry, and is watchable again)."""
        with write(db):
            talks.set_status(db, job.talk_id, "ready")
        if slides.KIND not in job.stages_done:  # else its worker died before finishing the job
            self._stage(db, job, slides.KIND)
        with write(db):
            jobs.finish(db, job.id, self.name)

    def _index(self, db, job, talk, rec, progress) -> None:
        path = self.settings.paths.transcript_json(talk.id)
        result = transcript.load(path)
        search.index_talk(db, talk.id, result.segments, talk.language)
        progress(1.0)


def give_up_message(stage: str | None) -> str:
    where = STAGE_LABELS[stage] if stage in STAGE_LABELS else N_("behandlingen")
    message = N_(
        "Behandlingen stoppet %(times)s ganger under «%(stage)s» uten å komme videre, "
        "så arbeideren har gitt opp. Trykk «Prøv igjen»; stopper den igjen, kan opptaket være "
        "skadet eller serveren ha for lite minne. Kontakt IT."
    )
    return message % {"times": jobs.MAX_ATTEMPTS, "stage": where}


def package_args(source: Path, out_dir: Path, media: probe.MediaInfo | dict) -> list[str]:
    """Remux when the streams are H.264/AAC in a container that keeps timestamps, otherwise
    transcode (see MediaInfo.copy_video/copy_audio). A recordings row is accepted too."""
    info = media if isinstance(media, probe.MediaInfo) else probe.MediaInfo.from_row(media)
    if not info.has_video:
        return ffargs.hls_audio(source, out_dir, info.copy_audio, info.bit_rate)
    if info.copy_video:
        return ffargs.hls_remux(source, out_dir, info.copy_audio, info.bit_rate)
    rungs = ffargs.ladder_for(info.height)
    return ffargs.hls_ladder(source, out_dir, rungs, deinterlace=info.interlaced)


def poster_args(source: Path, dest: Path, rec: Recording) -> list[str]:
    if not rec.has_video:
        return ffargs.plain_poster(dest)
    return ffargs.poster_from_video(source, dest, min(5.0, rec.duration * 0.1))


def _ffmpeg(args: list[str], duration: float | None, progress) -> None:
    runner.run(args, duration, progress)


def _move_into_place(new: Path, target: Path) -> None:
    """A finished folder from the work folder into the media folder: moved beside the target
    first (copied when KTL_WORK_DIR is on another file system than the media, e.g. a
    worker's own disk and a shared mount), under its scratch name, which the next attempt
    removes if this one dies half-way; then swapped in."""
    near = target.parent / new.name
    if new != near:
        try:
            os.replace(new, near)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copytree(new, near)
            shutil.rmtree(new, ignore_errors=True)
    _replace_dir(near, target)


def _replace_dir(new: Path, target: Path) -> None:
    """Move a finished folder into place; the old one is removed after the swap."""
    old = new.with_name(f"{new.name}-old")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


class _PartialIndex:
    """Segments into the search index while Whisper works, every PARTIAL_INDEX_SECONDS of
    audio, so the start of a long talk can be found before the end is transcribed. Each
    batch is written only while this worker still holds the job at the transcribe stage
    (else LeaseLost), so a worker that lost its job never adds to the index of the worker
    that took it over; the first batch drops what an earlier attempt left."""

    def __init__(self, db: sqlite_utils.Database, job: jobs.Job, worker: str, talk) -> None:
        self.db, self.job, self.worker = db, job, worker
        self.talk_id, self.language = talk.id, talk.language
        self.pending: list[transcript.Segment] = []
        self.written, self.written_until = 0, 0.0

    def __call__(self, segment: transcript.Segment) -> None:
        self.pending.append(segment)
        if segment.end - self.written_until >= PARTIAL_INDEX_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        holds = (
            "SELECT 1 FROM jobs WHERE id = ? AND worker = ? AND state = 'running'"
            " AND stage = 'transcribe'"
        )
        if is_postgres(self.db):
            # The job's row stays ours until the batch commits: a claim that would take it
            # over skips it meanwhile (on SQLite the write unit holds the one write lock).
            holds += " FOR SHARE"
        params = [self.job.id, self.worker]
        written = search.index_partial(
            self.db, self.talk_id, self.pending, self.written, self.language,
            lambda conn: conn.execute(holds, params).fetchone() is not None,
        )  # fmt: skip
        if not written:
            raise LeaseLost(self.job.id)
        self.written += len(self.pending)
        self.written_until, self.pending = self.pending[-1].end, []


class _Heartbeat:
    """Extends the job's lease in the background while a stage runs."""

    def __init__(self, worker: Worker, job: jobs.Job) -> None:
        self.worker, self.job = worker, job
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval = max(0.5, self.worker.settings.job_lease_seconds / 3)
        with self.worker.store.read() as db:
            while not self.done.wait(interval):
                jobs.heartbeat(
                    db, self.job, self.worker.name, self.worker.settings.job_lease_seconds
                )
                self.worker.announce(db)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
