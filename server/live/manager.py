"""The running side of live broadcasts, in the web server's event loop.

One `Runtime` per talk on air holds the ffmpeg process of the current part, the browser
stream it is fed from (or the SRT listener), the grace timer, the viewers and the event
subscribers. Rows in `broadcasts` (server.live.broadcasts) say what the pages show; the
files under media/<talk>/live/part-NNNN/ are the truth about what was received.

Reconnects: a browser that comes back with the same stream id continues the same ffmpeg
process (the page resends what was not acknowledged); a new stream, or an encoder that
connects again, starts a new part. When the grace period runs out, or the organiser ends
the broadcast, the parts are joined and handed to the normal pipeline.

Several web processes: one process receives broadcasts (KTL_LIVE_INGEST; nginx sends the
organiser's /talks/<talk>/direkte routes to it), any process serves viewers. What a process
publishes (state, captions, "a question came") also goes through `live_events`, which every
process tails for its own event streams; the viewers each process holds are written to
`live_presence`, so every process counts all of them (server.live.events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.catalogue import programme, talks
from server.catalogue.records import Talk
from server.core.config import Settings
from server.core.i18n import N_
from server.live import broadcasts, events, ffargs
from server.live.broadcasts import LiveError
from server.live.playlist import PartReader, Segment, live_playlist
from server.ops import diskspace
from server.pipeline import runner
from server.store import PgStore, Store, open_store

log = logging.getLogger("ktl.live")

POLL_SECONDS = 0.25
STATE_EVERY = 5.0  # seconds between state events (viewer count) to subscribers
STOP_SECONDS = 15
SRT_QUICK_EXIT = 2.0  # seconds: a listener that stops this fast did not start
SRT_MAX_FAILURES = 3
SEGMENT_MEMORY = 48  # live segments kept in memory (about 7 MB at 720p), all talks
CAPTION_MEMORY = 20  # recent captions sent to someone who joins late
ATTEND_SHARE = 0.5  # signed-in viewers who watched this share live attended (programme)
TAIL_SECONDS = 0.25  # how often this process reads the events other processes published
PRESENCE_SECONDS = 2.0  # how often this process writes its viewers and reads the others'
PRUNE_SECONDS = 60.0

NO_PORT = N_(
    "Ingen ledig port for SRT-mottak. Avslutt en annen sending, eller be IT utvide KTL_SRT_PORTS."
)
OUT_OF_ORDER = N_(
    "Sendingen kom i feil rekkefølge. Siden kobler til igjen og sender resten på nytt."
)
NOT_ON_AIR = N_("Foredraget sendes ikke nå.")
OTHER_BROWSER = N_("Det sendes allerede fra en annen nettleser. Avslutt den sendingen først.")
SRT_FAILED = N_("Mottaket for koderen kunne ikke startes. Se serverloggen, eller kontakt IT.")
BROWSER_UNREADABLE = N_(
    "Serveren kunne ikke lese videoen fra nettleseren. Prøv en annen nettleser."
)
ENCODER_SENDING = N_("En koder sender allerede dette foredraget. Avslutt den sendingen først.")
BROWSER_SENDING = N_(
    "Det sendes fra en nettleser nå. Avslutt den sendingen før du åpner mottak for en koder."
)
NOT_INGEST = N_(
    "Denne serverprosessen tar ikke imot direktesendinger. Last siden på nytt; hvis det "
    "gjentar seg, be IT sende /talks/…/direkte til prosessen med KTL_LIVE_INGEST=1."
)
JOIN_FAILED = N_(
    "Opptaket fra sendingen kunne ikke settes sammen, men delene er tatt vare på. "
    "Prøv «Avslutt sending» igjen, eller kontakt IT."
)


@dataclass
class Part:
    name: str
    folder: Path
    process: asyncio.subprocess.Process
    source: str  # "browser" or "srt"
    stream: str = ""  # the browser's stream id
    received: int = -1  # the browser's last chunk written to ffmpeg
    connections: int = 0  # open WebSockets feeding this part (a reconnect may overlap)
    started: float = field(default_factory=time.monotonic)


@dataclass
class Runtime:
    talk_id: int
    folder: Path  # media/<talk>/live
    state: str = broadcasts.IDLE
    part: Part | None = None
    srt_port: int | None = None
    srt_failures: int = 0  # SRT listeners in a row that stopped at once
    grace: asyncio.Task | None = None
    monitor: asyncio.Task | None = None
    captioner: object | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Viewers are the open event streams of the talk page (the playlist and segments of a
    # public talk come from nginx's cache and never reach the app): viewer key → streams.
    viewers: dict[str, int] = field(default_factory=dict)
    present: dict[int, int] = field(default_factory=dict)  # signed-in user id → streams
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    captions: list[dict] = field(default_factory=list)
    watching: dict[int, float] = field(default_factory=dict)  # user id → seconds watched live
    # Viewers that other web processes hold (server.live.events), read every few seconds.
    others: set[str] = field(default_factory=set)
    others_present: set[int] = field(default_factory=set)

    def part_folders(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("part-*") if p.is_dir())


def _port_free(bind: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((bind, port))
        except OSError:
            return False
    return True


def join_segments(folders: list[Path], reader: PartReader, live: Path) -> Path | None:
    """Every segment of every part, in order, joined into live/recording.mp4 without
    re-encoding (each part's segments concatenated, then the parts with ffmpeg's concat
    demuxer). None when nothing was received."""
    pieces = []
    for folder in folders:
        segments = reader.segments(folder / ffargs.PLAYLIST)
        if not segments:
            continue
        piece = live / f"{folder.name}.ts"
        with piece.open("wb") as out:
            for segment in segments:
                with (folder / segment.name).open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        pieces.append(piece)
    if not pieces:
        return None
    listing = live / "parts.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p}'\n" for p in pieces))
    recording = live / "recording.mp4"
    runner.run(ffargs.join_parts(listing, recording))
    return recording


def _join_parts(
    store: Store | PgStore,
    settings: Settings,
    talk_id: int,
    folders: list[Path],
    reader: PartReader,
):
    """Join the parts and attach the result as the talk's recording (which queues the
    normal pipeline). Returns False when nothing was received."""
    recording = join_segments(folders, reader, settings.paths.live(talk_id))
    if recording is None:
        return False
    with store.read() as db:
        talks.attach_recording(db, settings, talk_id, recording, "direkte.mp4")
    return True


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def live_attendees(watching: dict[int, float], length: float) -> list[int]:
    """Signed-in viewers who watched at least ATTEND_SHARE of the broadcast live."""
    return sorted(
        u for u, seconds in watching.items() if length and seconds >= ATTEND_SHARE * length
    )


def _register_live_attendance(db, talk_id: int, user_ids: list[int]) -> None:
    """Watching live counts as attending (and so as having seen the talk)."""
    talk = talks.get(db, talk_id)
    for user_id in user_ids:
        programme.register(db, user_id, talk, "live", None)


class LiveManager:
    def __init__(
        self, settings: Settings, captions_factory=None, store: Store | PgStore | None = None
    ):
        self.settings = settings
        self.store = store or open_store(settings)
        self._own_store = store is None  # closed at shutdown (the app closes its own)
        self.runtimes: dict[int, Runtime] = {}
        self.reader = PartReader()
        self.captions_factory = captions_factory
        self.segments: dict[tuple[int, str, str], bytes] = {}  # oldest first
        self.ingest = settings.live_ingest
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._outbox: asyncio.Queue | None = None  # events for the other processes
        self._tasks: list[asyncio.Task] = []
        self._last_event = 0
        self._reported: dict = {}  # what this process last wrote to live_presence
        self._reported_at = 0.0

    # ------------------------------------------------------------ helpers

    async def _db(self, func, *args, **kwargs):
        def call():
            with self.store.read() as db:
                return func(db, *args, **kwargs)

        return await asyncio.to_thread(call)

    def runtime(self, talk_id: int) -> Runtime:
        if talk_id not in self.runtimes:
            folder = self.settings.paths.live(talk_id)
            self.runtimes[talk_id] = Runtime(talk_id, folder)
        return self.runtimes[talk_id]

    def parts(self, talk_id: int) -> list[list[Segment]]:
        runtime = self.runtime(talk_id)
        return [self.reader.segments(f / ffargs.PLAYLIST) for f in runtime.part_folders()]

    async def _set_state(self, runtime: Runtime, state: str, **fields: object) -> None:
        runtime.state = state
        await self._db(broadcasts.set_state, runtime.talk_id, state, **fields)
        self.publish(runtime, self.state_event(runtime))

    # ------------------------------------------------------------ starting parts

    async def _start_part(self, runtime: Runtime, source: str, args_for) -> Part:
        runtime.folder.mkdir(parents=True, exist_ok=True)
        number = len(runtime.part_folders()) + 1
        name = f"part-{number:04d}"
        folder = runtime.folder / name
        folder.mkdir()
        try:
            with (runtime.folder / f"{name}.log").open("ab") as log_file:
                process = await asyncio.create_subprocess_exec(
                    *args_for(folder),
                    stdin=asyncio.subprocess.PIPE if source == "browser"
                    else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
                    preexec_fn=runner._die_with_parent if sys.platform == "linux" else None,
                )  # fmt: skip
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            log.exception("ffmpeg kunne ikke startes for %s", folder)
            raise LiveError(N_("Serveren kunne ikke starte ffmpeg. Kontakt IT."), 500) from exc
        part = Part(name, folder, process, source)
        runtime.part = part
        await self._db(broadcasts.update, runtime.talk_id, source=source)
        self._ensure_monitor(runtime)
        return part

    async def _stop_part(self, runtime: Runtime) -> None:
        part, runtime.part = runtime.part, None
        if part is None:
            return
        process = part.process
        if process.returncode is None:
            if part.source == "browser" and process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            else:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        self._drop_if_empty(part.folder)

    def _receiving(self, part: Part) -> bool:
        """An encoder is connected to this part: its ffmpeg runs and has written segments."""
        written = self.reader.segments(part.folder / ffargs.PLAYLIST)
        return part.process.returncode is None and bool(written)

    def _drop_if_empty(self, folder: Path) -> None:
        if folder.is_dir() and not self.reader.segments(folder / ffargs.PLAYLIST):
            shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------ the browser path

    async def browser_hello(self, talk: Talk, stream: str) -> int:
        """A browser connects with its stream id; returns the last chunk already written
        (-1: send from the start). A new stream starts a new part."""
        self._check_ingest()
        runtime = self.runtime(talk.id)
        async with runtime.lock:
            await self._check_can_send(runtime, talk)
            part = runtime.part
            if part and part.source == "srt" and self._receiving(part):
                raise LiveError(ENCODER_SENDING)
            same = part and part.source == "browser" and part.stream == stream
            if same and part.process.returncode is None:
                self._cancel_grace(runtime)
                part.connections += 1
                return part.received
            if part and part.source == "browser" and part.connections > 0:
                raise LiveError(OTHER_BROWSER)
            await self._stop_part(runtime)
            runtime.srt_port = None  # a browser takes over from an idle encoder receiver
            part = await self._start_part(runtime, "browser", ffargs.browser_ingest)
            part.stream, part.connections = stream, 1
            self._cancel_grace(runtime)
            return -1

    async def browser_chunk(self, talk_id: int, stream: str, seq: int, data: bytes) -> int:
        runtime = self.runtime(talk_id)
        part = runtime.part
        if part is None or part.stream != stream or part.process.stdin is None:
            raise LiveError(NOT_ON_AIR)
        if seq <= part.received:
            return part.received  # sent again after a reconnect: already written
        if seq != part.received + 1:
            raise LiveError(OUT_OF_ORDER)
        try:
            part.process.stdin.write(data)
            part.received = seq  # before drain: a resend on another connection is skipped
            await part.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            log.warning("ffmpeg for %s stopped: see %s.log", part.folder, part.name)
            raise LiveError(BROWSER_UNREADABLE) from None
        return seq

    async def browser_gone(self, talk_id: int, stream: str) -> None:
        """The WebSocket closed without an end: wait for the publisher (grace period)."""
        runtime = self.runtime(talk_id)
        part = runtime.part
        if part is None or part.stream != stream:
            return
        part.connections -= 1
        if part.connections > 0 or runtime.state in (broadcasts.ENDING, broadcasts.ENDED):
            return  # the browser is already back on another connection
        if runtime.state == broadcasts.IDLE and part.received < 0:  # left before sending
            async with runtime.lock:
                if runtime.part is part and part.connections <= 0:
                    await self._stop_part(runtime)
            return
        await self._interrupted(runtime)

    # ------------------------------------------------------------ the encoder path

    async def open_srt(self, talk: Talk) -> int:
        """Start an SRT listener for the talk (if none runs); returns its port."""
        self._check_ingest()
        runtime = self.runtime(talk.id)
        async with runtime.lock:
            await self._check_can_send(runtime, talk)
            if runtime.part and runtime.part.source == "srt" and runtime.srt_port:
                return runtime.srt_port
            part = runtime.part
            if part and part.process.returncode is None and part.connections > 0:
                raise LiveError(BROWSER_SENDING)
            await self._stop_part(runtime)  # a browser part nobody feeds any more
            port = runtime.srt_port or self._free_port()
            runtime.srt_port, runtime.srt_failures = port, 0
            await self._db(broadcasts.update, talk.id, srt_port=port)
            await self._start_srt(runtime, talk.id)
            return port

    async def _start_srt(self, runtime: Runtime, talk_id: int) -> None:
        row = await self._db(broadcasts.get, talk_id)
        bind, port = self.settings.srt_bind, runtime.srt_port
        await self._start_part(
            runtime, "srt", lambda f: ffargs.srt_ingest(bind, port, row.srt_passphrase, f)
        )

    def _free_port(self) -> int:
        used = {r.srt_port for r in self.runtimes.values() if r.srt_port}
        first, last = self.settings.srt_port_range()
        for port in range(first, last + 1):
            if port not in used and _port_free(self.settings.srt_bind, port):
                return port
        raise LiveError(NO_PORT, 503)

    # ------------------------------------------------------------ state, grace, end

    def _check_ingest(self) -> None:
        """Broadcasts are received by the process with KTL_LIVE_INGEST (nginx sends the
        organiser's routes there); another process that is asked says so."""
        if not self.ingest:
            raise LiveError(NOT_INGEST, 503)

    async def _check_can_send(self, runtime: Runtime, talk: Talk) -> None:
        row = await self._db(broadcasts.ensure, talk)
        if row.state in (broadcasts.ENDING, broadcasts.ENDED):
            raise LiveError(broadcasts.ALREADY_ENDED)
        current = await self._db(talks.get, talk.id)
        if current is None or current.status != "planned":
            raise LiveError(broadcasts.NOT_PLANNED)
        low = diskspace.shortage(self.settings) if row.state == broadcasts.IDLE else None
        if low is not None:  # KTL_MIN_FREE_DISK_MB; a broadcast on air may reconnect
            raise LiveError(low, 507)
        runtime.state = row.state

    async def _interrupted(self, runtime: Runtime) -> None:
        """The publisher left: viewers are told, and the grace period starts (also when
        media was received but had not reached the viewers yet)."""
        if runtime.state == broadcasts.LIVE:
            await self._set_state(runtime, broadcasts.INTERRUPTED)
        waiting = runtime.state in (broadcasts.INTERRUPTED, broadcasts.IDLE)
        if runtime.grace is None and waiting:
            runtime.grace = asyncio.create_task(self._grace(runtime))

    async def _grace(self, runtime: Runtime) -> None:
        await asyncio.sleep(self.settings.live_grace_seconds)
        runtime.grace = None
        if runtime.state == broadcasts.LIVE or (runtime.part and runtime.part.connections > 0):
            return  # the publisher came back meanwhile
        log.info("Sending %s: fristen gikk ut, avslutter", runtime.talk_id)
        # A failed join is logged by end(); the parts are kept and the state says so.
        with contextlib.suppress(LiveError):
            await self.end(runtime.talk_id, only_if_waiting=True)

    def _cancel_grace(self, runtime: Runtime) -> None:
        if runtime.grace is not None:
            runtime.grace.cancel()
            runtime.grace = None

    async def end(self, talk_id: int, only_if_waiting: bool = False) -> bool:
        """End the broadcast: stop ingest, join the parts, queue the pipeline. Returns
        whether anything had been received. `only_if_waiting` (the grace period ran out):
        not if the publisher came back while this waited for the lock."""
        self._check_ingest()
        runtime = self.runtime(talk_id)
        async with runtime.lock:
            back = runtime.part is not None and runtime.part.connections > 0
            if only_if_waiting and (runtime.state == broadcasts.LIVE or back):
                return False
            self._cancel_grace(runtime)
            row = await self._db(broadcasts.get, talk_id)
            if row is None or row.state == broadcasts.ENDED:
                return row is not None
            await self._stop_part(runtime)
            runtime.srt_port = None
            if runtime.captioner is not None:
                runtime.captioner.stop()
                runtime.captioner = None
            folders = runtime.part_folders()
            if not any(self.reader.segments(f / ffargs.PLAYLIST) for f in folders):
                await self._set_state(runtime, broadcasts.IDLE)
                self._stop_monitor(runtime)
                return False
            received = sum(1 for part in self.parts(talk_id) if part)
            # the parts as received, also when the end came before the monitor noticed one
            await self._set_state(runtime, broadcasts.ENDING, parts=received)
            length = sum(s.duration for part in self.parts(talk_id) for s in part)
            attendees = live_attendees(runtime.watching, length)
            if attendees:
                await self._db(_register_live_attendance, talk_id, attendees)
            try:
                await asyncio.to_thread(
                    _join_parts, self.store, self.settings, talk_id, folders, self.reader
                )
            except Exception as exc:  # keep every part; the organiser can try again
                log.exception("Sending %s: kunne ikke sette sammen delene", talk_id)
                await self._set_state(runtime, broadcasts.INTERRUPTED, message=JOIN_FAILED)
                raise LiveError(JOIN_FAILED, 500) from exc
            await self._set_state(runtime, broadcasts.ENDED, message="")
            shutil.rmtree(runtime.folder, ignore_errors=True)
            self._stop_monitor(runtime)
            return True

    # ------------------------------------------------------------ watching the parts

    def _ensure_monitor(self, runtime: Runtime) -> None:
        if runtime.monitor is None or runtime.monitor.done():
            runtime.monitor = asyncio.create_task(self._watch(runtime))

    def _stop_monitor(self, runtime: Runtime) -> None:
        if runtime.monitor is not None and runtime.monitor is not asyncio.current_task():
            runtime.monitor.cancel()
        runtime.monitor = None

    async def _watch(self, runtime: Runtime) -> None:
        """Notices the first segment of a part (→ live), a part whose ffmpeg stopped
        (→ interrupted; an SRT listener is opened again), and counts live minutes."""
        seen_segments = -1
        tick = time.monotonic()
        while runtime.state not in (broadcasts.ENDED,):
            await asyncio.sleep(POLL_SECONDS)
            now = time.monotonic()
            self.count_watching(runtime, now - tick)
            tick = now
            part = runtime.part
            if part is not None:
                count = len(self.reader.segments(part.folder / ffargs.PLAYLIST))
                if (
                    count > 0
                    and count != seen_segments
                    and runtime.state in (broadcasts.IDLE, broadcasts.INTERRUPTED)
                ):
                    self._cancel_grace(runtime)
                    received = sum(1 for part in self.parts(runtime.talk_id) if part)
                    await self._set_state(runtime, broadcasts.LIVE, message="", parts=received)
                    self._start_captions(runtime)
                seen_segments = count
                if part.process.returncode is not None and runtime.part is part:
                    await self._part_exited(runtime, part)
                    seen_segments = -1

    async def _part_exited(self, runtime: Runtime, part: Part) -> None:
        async with runtime.lock:
            if runtime.part is not part:
                return
            runtime.part = None
            received = bool(self.reader.segments(part.folder / ffargs.PLAYLIST))
            self._drop_if_empty(part.folder)
            await self._interrupted(runtime)
            if part.source != "srt" or not runtime.srt_port or runtime.state == broadcasts.ENDING:
                return
            quick = not received and time.monotonic() - part.started < SRT_QUICK_EXIT
            runtime.srt_failures = runtime.srt_failures + 1 if quick else 0
            if runtime.srt_failures >= SRT_MAX_FAILURES:
                log.error("SRT-mottaket for foredrag %s stopper straks", runtime.talk_id)
                runtime.srt_port = None
                await self._db(broadcasts.update, runtime.talk_id, message=SRT_FAILED)
                return
            await asyncio.sleep(SRT_QUICK_EXIT * runtime.srt_failures)
            await self._start_srt(runtime, runtime.talk_id)  # the encoder may come back

    def _start_captions(self, runtime: Runtime) -> None:
        if self.captions_factory is None or runtime.captioner is not None:
            return
        runtime.captioner = self.captions_factory(self, runtime)

    # ------------------------------------------------------------ viewers and events

    def playlist(self, talk_id: int) -> str:
        runtime = self.runtime(talk_id)
        return live_playlist(self.parts(talk_id), ended=runtime.state == broadcasts.ENDED)

    def join(self, talk_id: int, viewer_key: str, user_id: int | None) -> None:
        """A viewer's talk page opened its event stream: they count as watching until
        `leave` (signed-in viewers gather live minutes towards attending)."""
        runtime = self.runtime(talk_id)
        runtime.viewers[viewer_key] = runtime.viewers.get(viewer_key, 0) + 1
        if user_id is not None:
            runtime.present[user_id] = runtime.present.get(user_id, 0) + 1

    def leave(self, talk_id: int, viewer_key: str, user_id: int | None) -> None:
        runtime = self.runtime(talk_id)
        for counts, key in ((runtime.viewers, viewer_key), (runtime.present, user_id)):
            if key is not None and key in counts:
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]

    def count_watching(self, runtime: Runtime, seconds: float) -> None:
        """Signed-in viewers on the page while the talk is live have watched `seconds`."""
        if runtime.state != broadcasts.LIVE:
            return
        for user_id in runtime.present.keys() | runtime.others_present:
            runtime.watching[user_id] = runtime.watching.get(user_id, 0.0) + seconds

    async def segment(self, talk_id: int, part: str, name: str) -> bytes | None:
        """A live segment's bytes, from memory after the first viewer asked (every viewer
        asks for the same few; a segment never changes once it is in the playlist). The
        file is read in a thread; the memory is changed only here, on the event loop."""
        key = (talk_id, part, name)
        data = self.segments.get(key)
        if data is None:
            data = await asyncio.to_thread(_read_file, self.runtime(talk_id).folder / part / name)
            if data is None:
                return None
            self.segments[key] = data
            while len(self.segments) > SEGMENT_MEMORY:
                self.segments.pop(next(iter(self.segments)), None)
        return data

    def viewer_count(self, runtime: Runtime) -> int:
        """Each person once, whichever web process holds their event stream."""
        return len(runtime.viewers.keys() | runtime.others)

    def state_event(self, runtime: Runtime) -> dict:
        return {"type": "state", "state": runtime.state, "viewers": self.viewer_count(runtime)}

    def subscribe(self, talk_id: int) -> asyncio.Queue:
        runtime = self.runtime(talk_id)
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        runtime.subscribers.add(queue)
        return queue

    def unsubscribe(self, talk_id: int, queue: asyncio.Queue) -> None:
        self.runtime(talk_id).subscribers.discard(queue)

    def publish(self, runtime: Runtime, event: dict, share: bool = True) -> None:
        """Send an event to this process's event streams of the talk and, with `share`,
        to the other web processes' (through live_events, in the order published)."""
        if event.get("type") == "caption":
            runtime.captions = [*runtime.captions, event][-CAPTION_MEMORY:]
        for queue in list(runtime.subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a stuck client misses events
                queue.put_nowait(event)
        if share and self._outbox is not None:
            self._outbox.put_nowait((runtime.talk_id, event))

    def note_state(self, talk_id: int, state: str) -> None:
        """The broadcast's state as the database has it: a process that does not receive
        broadcasts learns the state here and from the events; the receiving one knows it
        for the broadcasts it runs (a part or a monitor), and learns it for the others."""
        runtime = self.runtime(talk_id)
        if not self.ingest or (runtime.part is None and runtime.monitor is None):
            runtime.state = state

    async def forget(self, talk_id: int, share: bool = True) -> None:
        """Stop whatever runs for a talk that is being deleted (not on air), in this
        process and (`share`) in the one that receives broadcasts."""
        if share and self._outbox is not None:
            self._outbox.put_nowait((talk_id, {"type": "gone"}))
        runtime = self.runtimes.pop(talk_id, None)
        if runtime is None:
            return
        self._cancel_grace(runtime)
        self._stop_monitor(runtime)
        if runtime.captioner is not None:
            runtime.captioner.stop()
        await self._stop_part(runtime)

    # ------------------------------------------------------------ server start and stop

    async def startup(self) -> None:
        """Events and viewers start being shared with the other web processes. In the
        process that receives broadcasts, those that were on air when it stopped wait for
        their publisher for a new grace period (their parts are on disk)."""
        await self._start_sharing()
        if not self.ingest:
            return
        for row in await self._db(broadcasts.on_air):
            runtime = self.runtime(row.talk_id)
            runtime.state = row.state
            if row.state == broadcasts.ENDING:
                runtime.state = broadcasts.INTERRUPTED
                await self._db(broadcasts.set_state, row.talk_id, runtime.state)
            elif row.state == broadcasts.LIVE:
                await self._set_state(runtime, broadcasts.INTERRUPTED)
            runtime.grace = asyncio.create_task(self._grace(runtime))
            self._ensure_monitor(runtime)
            if row.source == "srt" and row.srt_port:  # the encoder calls the same port
                runtime.srt_port = row.srt_port
                with contextlib.suppress(LiveError):
                    await self._start_srt(runtime, row.talk_id)

    async def shutdown(self) -> None:
        await self._stop_sharing()
        for runtime in self.runtimes.values():
            self._cancel_grace(runtime)
            self._stop_monitor(runtime)
            if runtime.captioner is not None:
                runtime.captioner.stop()
            part, runtime.part = runtime.part, None
            if part and part.process.returncode is None:
                part.process.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(part.process.wait(), 5)
            for queue in runtime.subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
        if self._own_store:
            self.store.close()

    # ------------------------------------------------------------ several web processes

    async def _start_sharing(self) -> None:
        self._last_event = await self._db(events.newest)
        self._outbox = asyncio.Queue()
        loops = (self._send_events, self._tail_events, self._share_viewers)
        self._tasks = [asyncio.create_task(loop()) for loop in loops]

    async def _stop_sharing(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks, self._outbox = [], None
        if self._reported:  # the viewers this process held no longer count
            with contextlib.suppress(Exception):
                await self._db(events.leave, self.process)

    async def _send_events(self) -> None:
        """Writes what this process published, one event after the other (in order)."""
        assert self._outbox is not None
        while True:
            talk_id, event = await self._outbox.get()
            try:
                await self._db(events.append, talk_id, self.process, event)
            except Exception:
                log.exception("Direktehendelsen for %s ble ikke delt med andre prosesser", talk_id)

    async def _tail_events(self) -> None:
        """Reads what the other processes published and passes it on to this one's."""
        while True:
            await asyncio.sleep(TAIL_SECONDS)
            try:
                found = await self._db(events.since, self._last_event)
            except Exception:
                log.exception("Direktehendelser fra andre prosesser kunne ikke leses")
                await asyncio.sleep(PRESENCE_SECONDS)
                continue
            for event_id, talk_id, origin, event in found:
                self._last_event = event_id
                if origin != self.process:
                    await self._received(talk_id, event)

    async def _received(self, talk_id: int, event: dict) -> None:
        kind = event.get("type")
        if kind == "gone":
            await self.forget(talk_id, share=False)
            return
        runtime = self.runtime(talk_id)
        if kind == "state":  # the viewer count as this process counts it
            self.note_state(talk_id, str(event.get("state", runtime.state)))
            event = {**event, "viewers": self.viewer_count(runtime)}
        self.publish(runtime, event, share=False)

    async def _share_viewers(self) -> None:
        """Every few seconds: this process's viewers out, the others' in; the state and
        viewer count to this process's event streams every STATE_EVERY seconds."""
        last_state, last_prune = 0.0, time.monotonic()
        while True:
            try:
                await self._exchange_viewers()
                if time.monotonic() - last_prune > PRUNE_SECONDS:
                    last_prune = time.monotonic()
                    await self._db(events.prune)
            except Exception:
                log.exception("Seerne kunne ikke deles med andre prosesser")
            if time.monotonic() - last_state >= STATE_EVERY:
                last_state = time.monotonic()
                for runtime in list(self.runtimes.values()):
                    if runtime.subscribers:
                        self.publish(runtime, self.state_event(runtime), share=False)
            await asyncio.sleep(PRESENCE_SECONDS)

    async def _exchange_viewers(self) -> None:
        mine = {
            r.talk_id: (sorted(r.viewers), sorted(r.present))
            for r in self.runtimes.values()
            if r.viewers
        }
        # Written when it changed, else as a heartbeat well within PRESENCE_STALE; nothing
        # while nobody watches here (each write makes the short caches start over).
        beat = time.monotonic() - self._reported_at > events.PRESENCE_STALE / 3
        if (mine or self._reported) and (mine != self._reported or beat):
            await self._db(events.report, self.process, mine)
            self._reported, self._reported_at = mine, time.monotonic()
        others = await self._db(events.elsewhere, self.process)
        for runtime in list(self.runtimes.values()):
            runtime.others, runtime.others_present = others.get(runtime.talk_id, (set(), set()))
