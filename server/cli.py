"""ktl serve | worker | import | reindex | slides | demo | model install | models."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from tqdm import tqdm

from server.catalogue import search, talks
from server.catalogue.records import Talk
from server.core.config import LANGUAGES, VISIBILITIES, Settings, SettingsError, load_settings
from server.core.i18n import N_
from server.people import accounts
from server.pipeline import jobs, transcribe
from server.store import db as database
from server.store import open_store, write
from server.store.postgres import PostgresError
from server.web import requestlog


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=Path(args.data_dir).resolve() if getattr(args, "data_dir", None) else None,
    )
    settings.ensure_dirs()
    open_store(settings).init()
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from server.web.app import create_app

    settings = _settings(args)
    jobs.parse_stages(settings.worker_stages)  # the embedded worker's: a typo stops here
    requestlog.configure(settings.log_format)
    app = create_app(settings)
    print(f"Kunnskap til lunsj kjører på http://{settings.host}:{settings.port}/", flush=True)
    # X-Forwarded-* are applied by the app (ProxyHeadersMiddleware, KTL_TRUSTED_PROXIES).
    # uvicorn's own handling is on by default and trusts 127.0.0.1 (or $FORWARDED_ALLOW_IPS):
    # it would rewrite the client before the app sees the peer, so it is off.
    # Each request is logged once by the app, with its request id (server.web.requestlog).
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False,
        access_log=False, log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
    )  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from server.pipeline.worker import Worker

    settings = _settings(args)
    if args.only is not None:  # `--only transcribe`: this worker takes only those stages
        settings = settings.replace(worker_stages=args.only)
    requestlog.configure(settings.log_format)
    worker = Worker(settings)
    # A stop (systemd, the supervisor): at its next progress report or stage the worker ends
    # its job's lease (the next worker takes it over at once) and leaves the list of workers.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: worker.stop_soon())
    with contextlib.suppress(KeyboardInterrupt):
        worker.run_forever()
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with database.session(settings) as db:
        count = search.reindex_all(db, settings.transcripts_dir)
    print(f"Søkeindeksen er bygget på nytt: {count} tekstsegmenter.")
    return 0


def cmd_slides(args: argparse.Namespace) -> int:
    """Queue the slide stage for talks that are ready (all, or those named by slug)."""
    from server.pipeline import slides

    settings = _settings(args)
    with database.session(settings) as db:
        found = [talks.find(db, key) for key in args.talks]
        if None in found:
            print(f"Fant ikke foredraget «{args.talks[found.index(None)]}».", file=sys.stderr)
            return 1
        queued = slides.queue(db, [t.id for t in found] if found else None)
    print(f"Lysbildene leses for {len(queued)} foredrag når en arbeider er ledig.")
    return 0


def cmd_model_install(args: argparse.Namespace) -> int:
    from server.pipeline import hub

    settings = _settings(args)
    if args.action == "list":
        print("Modeller «ktl model install NAVN» kan installere:")
        print("\n".join(hub.catalogue_lines()))
        return 0
    if args.name is None and settings.whisper_model != "base":
        path = transcribe.resolve_model(settings)
        print(f"Bruker Whisper-modellen i {path}")
        return 0
    source = Path(args.source).expanduser() if args.source else None
    path, how = hub.install(args.name or "base", settings, source, args.revision)
    print(f"Whisper-modellen er på plass i {path} ({how}).")
    if path.name != transcribe.BASE_DIR:
        print(f"Ta den i bruk for nye foredrag med KTL_WHISPER_MODEL={path.name}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from server.pipeline import models

    settings = _settings(args)
    if args.measure:
        clip = Path(args.clip).expanduser() if args.clip else None
        for path, m in models.measure(settings, clip):
            print(f"Målt {path.name}: {models.rtf_label(m)} på {m.clip} ({m.audio_s:.0f} s)")
        print()
    rep = models.report(settings, verify=args.verify)
    print("\n".join(models.format_report(rep)))
    if rep.error:
        print(f"Feil: {rep.error}", file=sys.stderr)
        return 2
    return 0


def _copy_for_import(source: Path, uploads_dir: Path) -> Path:
    """Import works on a copy, so the caller's file is never moved or deleted."""
    fd, tmp = tempfile.mkstemp(dir=uploads_dir, prefix="import-")
    with open(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
    return Path(tmp)


def import_recording(settings: Settings, path: Path, data: talks.TalkInput) -> dict:
    """Create a talk from a file on disk, through the same pipeline as an upload."""
    if not path.is_file():
        raise talks.RecordingError(f"Fant ingen fil på {path}.")
    talks.validate(data)
    copy = _copy_for_import(path, settings.uploads_dir)
    with database.session(settings) as db:
        talk = talks.create(db, data)
        try:
            talks.attach_recording(db, settings, talk.id, copy, path.name)
        except BaseException:
            talks.delete(db, settings, talk.id)
            raise
    return talk


def wait_for(settings: Settings, talk_id: int, bar: tqdm | None) -> dict:
    """Follow the talk's job until it is done or failed; returns the last job state."""
    with database.session(settings) as db:
        while True:
            job = jobs.latest_for_talk(db, talk_id)
            if job is None:
                raise RuntimeError(N_("Fant ingen jobb for foredraget."))
            if bar is not None:
                done = len(job.stages_done) + (job.progress if job.state == "running" else 0)
                bar.n = round(min(done, len(jobs.STAGES)) / len(jobs.STAGES) * 100, 1)
                bar.set_description(_stage_label(job))
                bar.refresh()
            if job.state in ("done", "failed"):
                return {"state": job.state, "error": job.error}
            time.sleep(0.5)


def _stage_label(job: jobs.Job) -> str:
    from server.pipeline.worker import STAGE_LABELS, WAITING_FOR_STAGE

    if job.state == "queued":  # handed back: for a worker that takes its next stage
        return WAITING_FOR_STAGE.get(jobs.handed_back(job) or "", "Venter på arbeideren")
    return STAGE_LABELS.get(job.stage or "", "Behandler")


def cmd_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data = talks.TalkInput(
        title=args.title, speaker=args.speaker, department=args.department,
        starts_at=args.starts_at, description=args.description, language=args.language,
        visibility=args.visibility,
    )  # fmt: skip
    try:
        talk = import_recording(settings, Path(args.path), data)
    except (talks.RecordingError, talks.ValidationError) as exc:
        print(f"Feil: {exc}", file=sys.stderr)
        return 2
    print(f"Foredraget «{talk.title}» er lagt inn (/talks/{talk.slug}).")
    if not args.wait:
        return 0
    return wait_for_with_worker(settings, talk)


def wait_for_with_worker(settings: Settings, talk: Talk) -> int:
    """Wait with a progress bar; in the embedded default a worker runs in this process."""
    from server.pipeline.worker import Worker

    worker = Worker(settings) if settings.embedded_worker else None
    if worker is not None:
        threading.Thread(target=worker.run_forever, daemon=True).start()
    with tqdm(total=100, unit="%", file=sys.stderr, disable=None) as bar:
        result = wait_for(settings, talk.id, bar)
    if worker is not None:
        worker.stop_event.set()
    if result["state"] == "failed":
        print(f"Feil: {result['error']}", file=sys.stderr)
        return 1
    print(f"Ferdig: foredraget er søkbart på /talks/{talk.slug}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ktl", description="Kunnskap til lunsj")
    parser.add_argument("--data-dir", help="mappe for database, media/ og transcripts/")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start nettstedet (og en arbeider)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="behandle jobber")
    worker.add_argument(
        "--only",
        metavar="TRINN",
        help=f"bare disse trinnene, skilt med komma: {','.join(jobs.STAGES)}",
    )
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("reindex", help="bygg søkeindeksen fra transcripts/").set_defaults(
        func=cmd_reindex
    )
    slide_cmd = sub.add_parser("slides", help="les lysbildene i ferdige foredrag på nytt")
    slide_cmd.add_argument("talks", nargs="*", help="foredragenes adresse (slug); uten: alle")
    slide_cmd.set_defaults(func=cmd_slides)
    model = sub.add_parser("model", help="installer Whisper-modeller")
    model.add_argument("action", choices=["install", "list"])
    model.add_argument("name", nargs="?", help="modellnavn (ktl model list); uten: base")
    model.add_argument("--from", dest="source", help="mappe eller .tar/.zip med modellen")
    model.add_argument("--revision", default="main", help="versjon i modellbanken")
    model.set_defaults(func=cmd_model_install)
    models_cmd = sub.add_parser("models", help="vis Whisper-modellen i bruk og de installerte")
    models_cmd.add_argument("--measure", action="store_true", help="mål sanntidsfaktoren")
    models_cmd.add_argument("--clip", help="eget opptak å måle med (standard: espeak-ng)")
    models_cmd.add_argument("--verify", action="store_true", help="kontroller sha256 nå")
    models_cmd.set_defaults(func=cmd_models)
    imp = sub.add_parser("import", help="legg inn et opptak fra disk")
    imp.add_argument("path")
    imp.add_argument("--title", required=True)
    imp.add_argument("--speaker", default="")
    imp.add_argument("--department", default="")
    imp.add_argument("--starts-at", default="")
    imp.add_argument("--description", default="")
    imp.add_argument("--language", choices=sorted(LANGUAGES), default="nb")
    imp.add_argument("--visibility", choices=sorted(VISIBILITIES), default="internal")
    imp.add_argument("--wait", action="store_true", help="vent til foredraget er søkbart")
    imp.set_defaults(func=cmd_import)
    user = sub.add_parser("user", help="brukere")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="legg til en bruker")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=accounts.ROLES, default="viewer")
    add.add_argument("--department", default="")
    add.add_argument("--password-stdin", action="store_true", help="les passordet fra stdin")
    add.set_defaults(func=cmd_user_add)
    demo = sub.add_parser("demo", help="lag og behandle et demoforedrag")
    demo.set_defaults(func=cmd_demo)
    _ops_commands(sub)
    return parser


def cmd_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    with database.session(settings) as db:
        try:
            user = accounts.create_user(
                db, args.email, args.name, args.role, args.department, password=password
            )
        except accounts.AccountError as exc:
            print(f"Feil: {exc}", file=sys.stderr)
            return 2
        with write(db):
            accounts.audit(db, None, N_("la til bruker (ktl user add)"), user.email, user.role)
        print(f"La til {user.email} som {accounts.ROLE_LABELS[user.role].lower()}.")
        if password is None:
            token = accounts.make_password_link(db, user.id, "invite", settings.password_link_hours)
            base = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
            print(f"Engangslenke for å velge passord: {base}/passord/{token}")
    return 0


def _ops_commands(sub: argparse._SubParsersAction) -> None:
    from server.ops import cli as ops_cli

    ops_cli.add_commands(sub, _plain_settings)


def _plain_settings(args: argparse.Namespace) -> Settings:
    """Settings without creating the data folder or the database (backup, restore, doctor)."""
    data_dir = getattr(args, "data_dir", None)
    return load_settings(data_dir=Path(data_dir).resolve() if data_dir else None)


def cmd_demo(args: argparse.Namespace) -> int:
    from server import demo

    settings = _settings(args)
    return demo.ensure_demo(settings, import_recording, wait_for_with_worker)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, jobs.StagesError, transcribe.ModelError, PostgresError) as exc:
        print(f"Feil: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
