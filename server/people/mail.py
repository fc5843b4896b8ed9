"""Sending e-mail (password links) over SMTP when a server is configured."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from server.core.config import Settings

log = logging.getLogger("ktl.mail")


def send(settings: Settings, to: str, subject: str, body: str) -> bool:
    """Send a plain-text message; False (and nothing sent) when no SMTP server is configured."""
    if not settings.smtp_host:
        return False
    message = EmailMessage()
    message["From"] = settings.smtp_from or settings.smtp_user
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
    return True


def deliver_password_link(settings: Settings, to: str, link: str, purpose: str) -> bool:
    """Mail the link, or log it for the administrator when there is no mail server."""
    subject = (
        "Velkommen til Kunnskap til lunsj" if purpose == "invite" else "Nytt passord"
    ) + " – lenke for å velge passord"
    body = (
        "Hei!\n\nBruk denne lenken for å velge passord til Kunnskap til lunsj:\n\n"
        f"{link}\n\nLenken kan brukes én gang og utløper etter "
        f"{settings.password_link_hours} timer.\n"
    )
    try:
        if send(settings, to, subject, body):
            return True
    except (OSError, smtplib.SMTPException):
        log.exception("Kunne ikke sende e-post til %s", to)
    log.warning("Lenke for å velge passord for %s (gi den til brukeren): %s", to, link)
    return False
