"""One error base class for what a person can act on.

Domain code raises a `UserError` (or a subclass: SignupError, UploadError, EditError ...)
with a Norwegian sentence (a msgid, translated where it is shown) and the HTTP status it
means. The web layer maps every one of them in one place (server.web.app's exception
handler) to the error page or, for JSON requests, to `{"error": message}`, with that
status; views catch one only when they show the message in their own form instead.
Nothing here knows HTTP beyond the number.
"""

from __future__ import annotations


class UserError(ValueError):
    """A request that cannot be honoured, with a message a person can act on.

    `status` is the HTTP status (a class default, or given per raise); `message` is the
    Norwegian msgid, filled in already. A ValueError, as most of these always were."""

    status: int = 400

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
