"""A few seconds' memory of answers that many requests ask for at once: search results
(server.web.views.search) and the user of a session (server.web.middleware).

An answer is kept for `seconds` and forgotten as soon as the database's version changes:
with the app's store (`Store.version`, what the app passes) that is any commit by any
process, so a change made through one `ktl serve` (a talk published, a session ended) shows
at once through every other one behind nginx, and a `ktl worker` finishing a transcript
too. Without a store, the version is this process's own commits
(server.store.store.generation): another process's change shows within `seconds`.
Concurrent askers of the same key wait for one computation instead of each running it. The
key must hold everything the answer depends on (the viewer's access rule included), so
viewers with different rights never share an answer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from server.store.store import generation


class ShortCache:
    def __init__(
        self, seconds: float, size: int = 256, version: Callable[[], Hashable] = generation
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.version = version
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, tuple[float, Hashable, Any]] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The answer for `key`, made by `make()` when there is none fresh."""
        if self.seconds <= 0:
            return make()
        while True:
            with self._lock:
                found = self._fresh(key)
                if found is not None:
                    return found[0]
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    break
            waiting.wait(30)
        try:
            started, answer = self.version(), make()
            self.put(key, answer, started)
            return answer
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def peek(self, key: Hashable) -> tuple[Any] | None:
        """A fresh answer in a 1-tuple, or None, without waiting (for the event loop)."""
        if self.seconds <= 0:
            return None
        with self._lock:
            return self._fresh(key)

    def put(self, key: Hashable, answer: Any, made_at: Hashable) -> None:
        """Keep `answer`, read when version() was `made_at` (taken before reading)."""
        if self.seconds <= 0:
            return
        with self._lock:
            self._answers[key] = (time.monotonic() + self.seconds, made_at, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def _fresh(self, key: Hashable) -> tuple[Any] | None:
        kept = self._answers.get(key)
        if kept is None:
            return None
        until, made_at, answer = kept
        if time.monotonic() >= until or made_at != self.version():
            del self._answers[key]
            return None
        return (answer,)
