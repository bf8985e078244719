"""E-mail over SMTP.

The sender runs SMTP step by step (MAIL, RCPT, DATA) to know where a failure
happened. A failure before DATA means the server did not take the message.
A timeout or a lost connection during DATA means it may have taken it.
"""

import logging
import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, format_datetime

from torget_messaging.providers import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

# CRLF line endings: smtplib sends bytes as they are, and SMTP requires CRLF.
SMTP_POLICY = policy.SMTP


def build_message(
    sender: str,
    sender_name: str,
    to: str,
    subject: str,
    text_body: str,
    html_body: str | None,
    message_id: str,
    language: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line short, whatever the language.
    message.set_content(text_body, cte="quoted-printable")
    if html_body:
        message.add_alternative(html_body, subtype="html", cte="quoted-printable")
    # After the content: set_content drops the Content-* headers set before it.
    message["Content-Language"] = language
    return message


class EmailSender:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        sender_name: str = "Torget",
        username: str | None = None,
        password: str | None = None,
        security: str = "none",
        timeout: float = 10.0,
    ):
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"SMTP security must be none, starttls or tls, got {security!r}")
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout

    def send(self, message: EmailMessage) -> str:
        """Send ``message`` and return its Message-ID."""
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(f"SMTP server {self.host}:{self.port} unreachable: {exc}") from exc

        try:
            self._envelope(smtp, message["To"])
            self._data(smtp, message)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        return message["Message-ID"]

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo()
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def _envelope(self, smtp: smtplib.SMTP, to: str) -> None:
        try:
            code, reply = smtp.mail(self.sender)
            _check(code, reply, "MAIL FROM")
            code, reply = smtp.rcpt(to)
            # The address stays out of the error text, which is stored and logged.
            _check(code, reply, "RCPT TO")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TransientDeliveryError(f"SMTP connection lost before DATA: {exc}") from exc

    def _data(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            # data() raises only when the server refuses to start DATA; the
            # reply to the message itself is returned.
            code, reply = smtp.data(message.as_bytes(policy=SMTP_POLICY))
        except smtplib.SMTPDataError as exc:
            _check(exc.smtp_code, exc.smtp_error, "DATA")
            return
        except (socket.timeout, OSError, smtplib.SMTPServerDisconnected) as exc:
            raise DeliveryOutcomeUnknown(f"SMTP connection lost during DATA: {exc}") from exc
        _check(code, reply, "DATA")


def _check(code: int, reply: bytes, step: str) -> None:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if 200 <= code < 400:
        return
    if 400 <= code < 500:
        raise TransientDeliveryError(f"SMTP {step} returned {code} {text}")
    raise PermanentDeliveryError(f"SMTP {step} rejected with {code} {text}")
