"""Telling the notifiers that keep alerts (PagerDuty) that an incident was acknowledged or resolved.

One place for every way an incident changes: a person acknowledging or resolving it
(sync or async), and a recovery or a health check resolving it on its own. Only an
incident that was told (``notified_at`` set) is announced, to the notifiers that were
or could have been told of it: the tracker's, by severity, and those of the escalation
tiers it reached. Each is bounded by the notify timeout; one failing never stops the
others nor the change itself, and each attempt is recorded on the incident.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace

from resilience.recovery._incidents import Incident, MutableIncidentStore
from resilience.recovery._notifiers import Notifier
from resilience.recovery._targets import IncidentPolicy
from resilience.recovery._tell import Change, lifecycle_aware, tell_change, told_text
from resilience.recovery._timeline import EntryKind, TimelineEntry

__all__ = ["Announcer"]

logger = logging.getLogger("resilience")


class Announcer:
    """Tells the lifecycle-aware notifiers of an incident's acknowledgement or resolution."""

    def __init__(
        self,
        *,
        notifiers: tuple[Notifier, ...],
        policy: IncidentPolicy,
        limit: float,
        now: Callable[[], float],
    ) -> None:
        self._notifiers = notifiers
        self._policy = policy
        self._limit = limit
        self._now = now
        self._tasks: set[asyncio.Task[Incident]] = set()

    def aware(self, incident: Incident, change: Change) -> tuple[Notifier, ...]:
        """The notifiers to tell of ``change`` on ``incident``; none if it was never told."""
        if incident.notified_at is None:
            return ()
        chosen = [n for n in self._notifiers if incident.severity.at_least(n.min_severity)]
        escalation = self._policy.escalation
        if escalation is not None:
            for tier in escalation.tiers[: incident.escalation_tier]:
                chosen.extend(tier.notifiers)
        return lifecycle_aware(chosen, change)

    async def announce(
        self, store: MutableIncidentStore, incident: Incident, change: Change, *, by: str
    ) -> Incident:
        """Tell them and record each attempt; the incident as the store has it then."""
        notifiers = self.aware(incident, change)
        if not notifiers:
            return incident
        told = await tell_change(notifiers, incident, change=change, limit=self._limit)
        now = self._now()
        entries = [TimelineEntry(now, EntryKind.NOTIFIED, told_text(r), by) for r in told]

        def add(current: Incident) -> Incident:
            return replace(
                current.with_entries(*entries), notifications=current.notifications + told
            )

        try:
            return store.update(incident.id, add)
        except Exception:
            logger.exception(
                "could not record on incident %s that its notifiers were told (%s): %s",
                incident.id,
                change,
                [told_text(r) for r in told],
            )
            return incident

    def announce_now(
        self, store: MutableIncidentStore, incident: Incident, change: Change, *, by: str
    ) -> Incident:
        """:meth:`announce` from sync code.

        Outside an event loop it runs on a loop of its own, so it returns within the notify
        timeout with the attempts recorded. Inside one it cannot block: it is a task of that
        loop, recorded when done, and the incident is returned as changed (use the async
        ``aacknowledge``/``aresolve`` there to wait for it).
        """
        if not self.aware(incident, change):
            return incident
        work = self.announce(store, incident, change, by=by)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return _run_bounded(work)
        task = loop.create_task(work)
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)
        return incident


def _run_bounded(work: Coroutine[object, object, Incident]) -> Incident:
    """Run ``work`` on a loop of its own, returning when it does.

    Not ``asyncio.run``: that joins the worker threads on the way out, and a notifier
    whose request hangs on one (within its own timeout) would hold the caller past the
    notify timeout. Closing the loop leaves such a thread to end by itself.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # shuts the default executor down without waiting
