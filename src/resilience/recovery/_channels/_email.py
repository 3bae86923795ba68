"""E-mail over SMTP: the standard library's ``smtplib``, STARTTLS or TLS, and auth."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from resilience._core.redact import MASK, scrub
from resilience._core.text import one_line, safe_str
from resilience._core.timeout import Overran, within
from resilience.recovery._channels._http import NotifyError, checked_severity, checked_timeout
from resilience.recovery._channels._message import message_for
from resilience.recovery._incidents import Incident, Severity

__all__ = ["EmailNotifier", "email_message"]

Security = Literal["starttls", "tls", "none"]
_SECURITY = ("starttls", "tls", "none")


def _address(value: object, field: str) -> str:
    if not isinstance(value, str) or "@" not in value or not value.isprintable():
        raise ValueError(
            f"{field} must be an e-mail address on one line (name@example.com), got {value!r}"
        )
    return value


def email_message(incident: Incident, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The e-mail for ``incident``: its title as the subject, the message as plain text."""
    message = message_for(incident)
    mail = EmailMessage()
    mail["Subject"] = one_line(message.title)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["X-Resilience-Incident"] = one_line(incident.id)
    mail["X-Resilience-Severity"] = incident.severity.value
    if incident.severity is Severity.P0:
        mail["Importance"] = "high"  # mail clients flag it (RFC 2156)
    mail.set_content(message.text() + "\n")
    return mail


class EmailNotifier:
    """Mails each incident to people over SMTP.

    ``security`` is how the connection is protected: ``"starttls"`` (the default, port
    587) upgrades a plain connection and refuses to go on if the server cannot;
    ``"tls"`` (port 465) is TLS from the start; ``"none"`` only for a relay on the same
    host, and never with a password. The password never appears in the ``repr`` or in
    an error, whatever the server echoes.

    Args:
        host: The SMTP server.
        port: Its port; 587 for ``"starttls"``, 465 for ``"tls"``, 25 for ``"none"`` if not given.
        sender: The ``From`` address.
        recipients: Who is mailed.
        username: For SMTP AUTH, with ``password``.
        password: For SMTP AUTH.
        security: ``"starttls"``, ``"tls"`` or ``"none"``.
        ssl_context: How the server's certificate is checked; the system's defaults if None.
        min_severity: The least urgent severity mailed.
        timeout: Seconds (or a timedelta) for the whole exchange.
    """

    kind = "email"

    def __init__(
        self,
        host: str,
        *,
        sender: str,
        recipients: Sequence[str],
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        ssl_context: ssl.SSLContext | None = None,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 30.0,
    ) -> None:
        if not isinstance(host, str) or not host or not host.isprintable() or " " in host:
            raise ValueError(f"host must be a host name or address, got {host!r}")
        if security not in _SECURITY:
            raise ValueError(f"security must be 'starttls', 'tls' or 'none', got {security!r}")
        if port is None:
            port = {"starttls": 587, "tls": 465, "none": 25}[security]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:  # noqa: PLR2004
            raise ValueError(f"port must be a number from 1 to 65535, got {port!r}")
        if isinstance(recipients, str) or not recipients:
            raise ValueError(
                "recipients must be a list of one or more addresses, got "
                f"{recipients!r}; for one person, write [{recipients!r}]"
            )
        if (username is None) != (password is None):
            raise ValueError("username and password go together: give both, or neither")
        if password is not None and security == "none":
            raise ValueError(
                "security='none' would send the password in the clear: use 'starttls' or "
                "'tls', or a relay that needs no password"
            )
        self.host = host
        self.port = port
        self.sender = _address(sender, "sender")
        self.recipients = tuple(_address(r, "recipients") for r in recipients)
        self.username = username
        self.security: Security = security
        self.min_severity = checked_severity(min_severity)
        self.timeout = checked_timeout(timeout)
        self._password = password
        self._context = ssl_context
        self._secrets = [password or ""]
        if password is not None:
            for login in (f"\0{username}\0{password}", f"{username}\0{password}"):
                self._secrets.append(base64.b64encode(login.encode()).decode())

    async def notify(self, incident: Incident) -> None:
        """Mail the incident; raise :class:`NotifyError` unless the server accepted it."""
        mail = email_message(incident, sender=self.sender, recipients=self.recipients)
        where = f"SMTP {self.host}:{self.port}"
        try:
            await within(self.timeout, asyncio.to_thread(self._send, mail))
        except (Overran, TimeoutError):
            raise NotifyError(f"{where} did not answer within {self.timeout:g} s") from None
        except Exception as exc:
            raise NotifyError(self._failed(where, exc)) from None

    def _failed(self, where: str, exc: Exception) -> str:
        """The error for ``exc``: what the server said, every secret masked, and what to do."""
        said = scrub(_said(exc), self._secrets)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return (
                f"{where} refused the login of {self.username!r}: {said}; check username "
                "and password"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return (
                f"{where}: {said}; the server offers no STARTTLS: use security='tls' if it "
                "speaks TLS from the start (port 465)"
            )
        if isinstance(exc, NotifyError):  # recipients refused: it says so itself
            return f"{where}: {said}"
        named = scrub(f"{type(exc).__name__}: {_said(exc)}", self._secrets)
        return f"{where} failed: {named}"

    def _send(self, mail: EmailMessage) -> None:
        context = self._context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
            refused = smtp.send_message(mail)
        if refused:
            shown = ", ".join(f"{r} ({code})" for r, (code, _) in refused.items())
            raise NotifyError(f"the server refused some recipients: {shown}")

    def __repr__(self) -> str:
        auth = f", username={self.username!r}, password={MASK!r}" if self.username else ""
        return (
            f"EmailNotifier({self.host!r}, port={self.port}, security={self.security!r}{auth}, "
            f"min_severity={self.min_severity.value})"
        )


def _said(exc: BaseException) -> str:
    """What an SMTP server said, decoded: smtplib keeps it as bytes."""
    code = getattr(exc, "smtp_code", None)
    error = getattr(exc, "smtp_error", None)
    if isinstance(error, bytes):
        return f"{code} {error.decode('utf-8', 'replace')}"
    return safe_str(exc)
