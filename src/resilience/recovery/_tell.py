"""Telling notifiers of an incident: each within a timeout, a failure recorded, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from typing import Literal

from resilience._core.redact import redact_text
from resilience._core.text import safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.recovery._incidents import Incident, NotifierRecord
from resilience.recovery._notifiers import Notifier
from resilience.recovery._routing import Router

__all__ = ["Change", "failure", "lifecycle_aware", "tell", "tell_all", "tell_change", "told_text"]

Change = Literal["acknowledge", "resolve"]
"""A change of an incident's state that notifiers keeping alerts (PagerDuty) follow."""

logger = logging.getLogger("resilience")


async def tell_all(
    notifiers: Iterable[Notifier], incident: Incident, *, limit: float
) -> tuple[NotifierRecord, ...]:
    """Tell every one of ``notifiers`` at once; what came of each (of each channel of a router)."""
    told = await asyncio.gather(
        *(
            _route(n, incident, limit=limit)
            if isinstance(n, Router)
            else _one(tell(n, incident, limit=limit))
            for n in notifiers
        )
    )
    return tuple(record for records in told for record in records)


async def _one(record: Awaitable[NotifierRecord]) -> tuple[NotifierRecord, ...]:
    return (await record,)


async def _route(
    router: Router, incident: Incident, *, limit: float, change: Change | None = None
) -> tuple[NotifierRecord, ...]:
    """A router's channels, one record each: a post-mortem shows who was told."""
    try:
        if change is None:
            return await within(limit, router.deliver(incident))
        told = await within(limit, getattr(router, change)(incident))
        return tuple(replace(r, notifier=f"{r.notifier} ({change})") for r in told)
    except Overran:
        error = f"no answer within notify_timeout={limit:g} s"
        logger.error(  # noqa: TRY400 - the time limit is the message
            "router %s failed to report incident %s of %s: %s; recovery is unaffected",
            safe_repr(router),
            incident.id,
            incident.component,
            error,
            extra={"component": incident.component, "incident": incident.id},
        )
        shown = safe_repr(router) + (f" ({change})" if change else "")
        return (NotifierRecord(shown, ok=False, error=error),)


def lifecycle_aware(notifiers: Iterable[Notifier], change: Change) -> tuple[Notifier, ...]:
    """Those of ``notifiers`` with a ``change`` hook (``acknowledge``/``resolve``), once each."""
    seen: dict[int, Notifier] = {}
    for n in notifiers:
        if callable(getattr(n, change, None)):
            seen.setdefault(id(n), n)
    return tuple(seen.values())


async def tell_change(
    notifiers: Iterable[Notifier], incident: Incident, *, change: Change, limit: float
) -> tuple[NotifierRecord, ...]:
    """Tell every lifecycle-aware notifier of ``change`` at once, each within ``limit``.

    A router passes it on to its channels that have the hook, one record each; every
    record's notifier is named with the change (``"pagerduty (acknowledge)"``).
    """
    told = await asyncio.gather(
        *(
            _route(n, incident, limit=limit, change=change)
            if isinstance(n, Router)
            else _one(tell(n, incident, limit=limit, change=change))
            for n in lifecycle_aware(notifiers, change)
        )
    )
    return tuple(record for records in told for record in records)


async def tell(
    notifier: Notifier, incident: Incident, *, limit: float, change: Change | None = None
) -> NotifierRecord:
    """Tell ``notifier`` (of ``change``, if given) within ``limit`` s; a failure is recorded."""
    shown = safe_repr(notifier) + (f" ({change})" if change else "")
    try:
        hook = notifier.notify if change is None else getattr(notifier, change)
        await within(limit, hook(incident))
    except Exception as exc:
        error = (
            f"no answer within notify_timeout={limit:g} s"
            if isinstance(exc, Overran)
            else failure(exc)
        )
        logger.error(  # noqa: TRY400 - the notifier's own error is the message
            "notifier %s failed to report incident %s of %s: %s; recovery is unaffected",
            shown,
            incident.id,
            incident.component,
            error,
            extra={"component": incident.component, "incident": incident.id},
        )
        return NotifierRecord(shown, ok=False, error=error)
    return NotifierRecord(shown, ok=True)


def failure(exc: BaseException) -> str:
    """What an action, a verification or a notifier raised, safe to record and log."""
    message = safe_str(exc)
    return redact_text(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def told_text(record: NotifierRecord) -> str:
    """A timeline entry's text for ``record``: who was told, or why that failed."""
    return f"{record.notifier}: told" if record.ok else f"{record.notifier}: failed: {record.error}"
