"""Sending e-mail (password links) over SMTP when a server is configured, in the
recipient's interface language."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from server.core.config import Settings
from server.core.i18n import N_, translate

log = logging.getLogger("ktl.mail")

INVITE_SUBJECT = N_("Velkommen til Kunnskap til lunsj – lenke for å velge passord")
RESET_SUBJECT = N_("Nytt passord – lenke for å velge passord")
PASSWORD_BODY = N_(
    "Hei!\n\nBruk denne lenken for å velge passord til Kunnskap til lunsj:\n\n%(link)s\n\n"
    "Lenken kan brukes én gang og utløper etter %(hours)s timer.\n"
)


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


def password_mail(link: str, hours: int, purpose: str, lang: str) -> tuple[str, str]:
    """Subject and body of the mail with a password link ('invite' or 'reset'), in `lang`."""
    subject = translate(INVITE_SUBJECT if purpose == "invite" else RESET_SUBJECT, lang)
    return subject, translate(PASSWORD_BODY, lang) % {"link": link, "hours": hours}


def deliver_password_link(
    settings: Settings, to: str, link: str, purpose: str, lang: str = "nb"
) -> bool:
    """Mail the link, or log it for the administrator when there is no mail server."""
    subject, body = password_mail(link, settings.password_link_hours, purpose, lang)
    try:
        if send(settings, to, subject, body):
            return True
    except (OSError, smtplib.SMTPException):
        log.exception("Kunne ikke sende e-post til %s", to)
    log.warning("Lenke for å velge passord for %s (gi den til brukeren): %s", to, link)
    return False
