"""Notifiers: how an escalated incident reaches a person, routed by severity.

Each notifier has a ``min_severity``: it is told of incidents at least that urgent, so
P0 reaches every channel and P3 only those that take everything (SCENARIOS.md 3).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import ClassVar, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit, urlunsplit

from resilience._decorate import is_async
from resilience._incident import Incident, Resolution, Severity
from resilience._timeouts import Overran, within

__all__ = [
    "CallbackNotifier",
    "LoggingNotifier",
    "Notifier",
    "NotifyError",
    "WebhookNotifier",
    "redact",
]


class NotifyError(Exception):
    """A notifier could not deliver its notification."""


@runtime_checkable
class Notifier(Protocol):
    """Something that tells a person about an incident.

    ``notify`` raises when the notification was not delivered; the recovery manager
    records and logs that, and carries on.
    """

    min_severity: Severity
    """The least urgent severity this notifier is told of."""

    async def notify(self, incident: Incident) -> None:
        """Deliver ``incident``, or raise."""


def _as_severity(value: Severity | str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ValueError(
            f"min_severity must be one of P0, P1, P2, P3, got {value!r}"
        ) from None


class LoggingNotifier:
    """Logs each incident to a stdlib logger: P0 and P1 as CRITICAL/ERROR, P2 WARNING, P3 INFO.

    Args:
        logger: The logger; ``logging.getLogger("resilience")`` by default.
        min_severity: The least urgent severity logged.
    """

    _LEVELS: ClassVar[dict[Severity, int]] = {
        Severity.P0: logging.CRITICAL,
        Severity.P1: logging.ERROR,
        Severity.P2: logging.WARNING,
        Severity.P3: logging.INFO,
    }

    def __init__(
        self, logger: logging.Logger | None = None, *, min_severity: Severity | str = Severity.P3
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger("resilience")
        self.min_severity = _as_severity(min_severity)

    async def notify(self, incident: Incident) -> None:
        """Log the incident's summary, with its fields in ``extra``."""
        level = self._LEVELS[incident.severity]
        if incident.resolution is Resolution.RECOVERED:
            level = logging.INFO
        self.logger.log(
            level,
            "incident %s\n%s",
            incident.id,
            incident.summary(),
            extra={"incident": incident.to_dict()},
        )

    def __repr__(self) -> str:
        return f"LoggingNotifier({self.logger.name!r}, min_severity={self.min_severity.value})"


class CallbackNotifier:
    """Calls ``fn(incident)``: sync functions on a worker thread, async ones awaited.

    Args:
        fn: Receives the :class:`Incident`; raising means the notification failed.
        min_severity: The least urgent severity passed on.
    """

    def __init__(
        self, fn: Callable[[Incident], object], *, min_severity: Severity | str = Severity.P3
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallbackNotifier takes a function, got {fn!r}")
        self.fn = fn
        self.min_severity = _as_severity(min_severity)

    async def notify(self, incident: Incident) -> None:
        """Call the function with the incident."""
        if is_async(self.fn):
            await self.fn(incident)  # type: ignore[misc]
        else:
            await asyncio.to_thread(self.fn, incident)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"CallbackNotifier({name}, min_severity={self.min_severity.value})"


def redact(url: str) -> str:
    """``url`` safe to log: the scheme and host only, since secrets hide in the rest.

    Webhook URLs carry their secret in the user-info, the path (Slack, Discord) or the
    query (``?token=``); none of it is shown.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: "http://[::1"
        return "?://?/<redacted>"
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number, or beyond 65535
        port = ""
    return f"{parts.scheme}://{host}{port}/<redacted>"


class WebhookNotifier:
    """POSTs each incident as JSON to a URL (Slack-style webhooks, incident tools, your API).

    The body is :meth:`Incident.to_dict` plus ``"text"``, the incident's summary. Any
    status other than 2xx, a timeout or a connection error is a failed notification. The
    URL is shown redacted in its ``repr``, in logs and in errors. httpx is used when it
    is installed, the standard library otherwise.

    Args:
        url: Where to post.
        min_severity: The least urgent severity posted.
        timeout: Seconds to wait for the whole exchange.
        headers: Extra headers (an ``Authorization``, say).
    """

    def __init__(
        self,
        url: str,
        *,
        min_severity: Severity | str = Severity.P3,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError unless it is a number up to 65535
        except ValueError:
            raise ValueError(f"url has a malformed host or port, got {redact(url)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL, got {redact(url)!r}")
        if isinstance(timeout, bool) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._url = url
        self.min_severity = _as_severity(min_severity)
        self.timeout = float(timeout)
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    @property
    def url(self) -> str:
        """The URL, redacted."""
        return redact(self._url)

    async def notify(self, incident: Incident) -> None:
        """POST the incident; raise :class:`NotifyError` unless the answer is 2xx."""
        body = json.dumps({**incident.to_dict(), "text": incident.summary()}).encode()
        post = _httpx_post if _httpx_installed() else _urllib_post
        try:
            status = await within(self.timeout, post(self._url, body, self.headers, self.timeout))
        except (Overran, TimeoutError):
            raise NotifyError(
                f"webhook {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except Exception as exc:
            text = str(exc).replace(self._url, self.url)
            raise NotifyError(
                f"webhook {self.url} failed: {type(exc).__name__}: {text}"
            ) from None
        if not 200 <= status < 300:  # noqa: PLR2004
            raise NotifyError(f"webhook {self.url} answered HTTP {status}")

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url!r}, min_severity={self.min_severity.value})"


def _httpx_installed() -> bool:
    try:
        import httpx  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


async def _httpx_post(url: str, body: bytes, headers: Mapping[str, str], seconds: float) -> int:
    import httpx  # noqa: PLC0415

    async with httpx.AsyncClient(timeout=seconds) as client:
        try:
            response = await client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException as exc:  # as urllib's socket timeout is
            raise TimeoutError(str(exc)) from exc
    return int(response.status_code)


async def _urllib_post(url: str, body: bytes, headers: Mapping[str, str], seconds: float) -> int:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # urllib ignores credentials in the URL: it would look up "user:pass@host" as the
        # host, and put the password in its error. Send them as httpx does: Basic auth.
        userpass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        token = base64.b64encode(userpass.encode()).decode()
        headers = {**headers, "Authorization": f"Basic {token}"}
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def post() -> int:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=seconds) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    return await asyncio.to_thread(post)

