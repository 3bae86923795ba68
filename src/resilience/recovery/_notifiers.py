"""Notifiers: how an escalated incident reaches a person, routed by severity.

Each notifier has a ``min_severity``: it is told of incidents at least that urgent, so
P0 reaches every channel and P3 only those that take everything (SCENARIOS.md 3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import ClassVar, Protocol, runtime_checkable

from resilience._core.shells import is_async
from resilience.recovery._channels._http import (
    Endpoint,
    NotifyError,
    checked_severity,
    checked_timeout,
    checked_url,
)
from resilience.recovery._incidents import Incident, Resolution, Severity

__all__ = [
    "CallbackNotifier",
    "LoggingNotifier",
    "Notifier",
    "NotifyError",
    "WebhookNotifier",
]


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
        self.min_severity = checked_severity(min_severity)

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
        self.min_severity = checked_severity(min_severity)

    async def notify(self, incident: Incident) -> None:
        """Call the function with the incident."""
        if is_async(self.fn):
            await self.fn(incident)  # type: ignore[misc]
        else:
            await asyncio.to_thread(self.fn, incident)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"CallbackNotifier({name}, min_severity={self.min_severity.value})"


class WebhookNotifier:
    """POSTs each incident as JSON to a URL (Slack-style webhooks, incident tools, your API).

    The body is :meth:`Incident.to_dict` plus ``"text"``, the incident's summary. Any
    status other than 2xx, a timeout or a connection error is a failed notification.
    Redirects are never followed: a 3xx is a failed notification too, so that the body
    and the credentials (an ``Authorization`` header, or Basic auth from the URL's
    user-info) reach the configured host only. The URL is shown redacted in its
    ``repr``, in logs and in errors, and secret headers never appear in either.

    Args:
        url: Where to post.
        min_severity: The least urgent severity posted.
        timeout: Seconds (or a timedelta) to wait for the whole exchange.
        headers: Extra headers (an ``Authorization``, say).
    """

    def __init__(
        self,
        url: str,
        *,
        min_severity: Severity | str = Severity.P3,
        timeout: float | timedelta = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.min_severity = checked_severity(min_severity)
        self._endpoint = Endpoint(
            what="webhook", url=checked_url(url), timeout=checked_timeout(timeout), headers=headers
        )
        self.timeout = self._endpoint.timeout
        self.headers = self._endpoint.headers

    @property
    def url(self) -> str:
        """The URL, redacted."""
        return self._endpoint.shown

    async def notify(self, incident: Incident) -> None:
        """POST the incident; raise :class:`NotifyError` unless the answer is 2xx."""
        reply = await self._endpoint.post({**incident.to_dict(), "text": incident.summary()})
        if not 200 <= reply.status < 300:  # noqa: PLR2004
            raise NotifyError(f"webhook {self.url} answered HTTP {reply.status}")

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url!r}, min_severity={self.min_severity.value})"
