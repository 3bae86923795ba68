"""The incidents of a store, handled: kept, folded, acknowledged, checked, escalated.

An :class:`IncidentTracker` applies the lifecycle's transitions to a store's records,
each in one ``update``; the targets are checked (and escalation driven) by
:meth:`~IncidentTracker.check_targets`, called by the application, by
:meth:`~IncidentTracker.watch`, or through :class:`~resilience.RecoveryManager`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from resilience._core.clock import SYSTEM_CLOCK, Clock, wall_time
from resilience._core.options import seconds
from resilience.recovery import _lifecycle as life
from resilience.recovery._announce import Announcer
from resilience.recovery._incidents import (
    Incident,
    IncidentStore,
    MutableIncidentStore,
    Resolution,
)
from resilience.recovery._notifiers import Notifier
from resilience.recovery._targets import EscalationTier, IncidentPolicy
from resilience.recovery._tell import tell_all, told_text
from resilience.recovery._timeline import Breach, EntryKind, Severity, TimelineEntry

__all__ = ["IncidentTracker"]

logger = logging.getLogger("resilience")
_RECOVERY = "recovery"
_T = TypeVar("_T")


class IncidentTracker:
    """Operates on the incidents of a store: the lifecycle, the targets, escalation.

    A :class:`~resilience.RecoveryManager` has one (``manager.tracker``); make one over a
    store shared with an application to handle its incidents from elsewhere (the
    ``python -m resilience incidents`` command does).

    Args:
        store: A :class:`MutableIncidentStore` (memory, SQLite, PostgreSQL).
        policy: Targets, escalation, de-duplication, cool-down, flapping.
        notifiers: Told of new incidents that page (each by its ``min_severity``).
        clock: Time source; incidents carry wall times measured on it.
        notify_timeout: Seconds (or a timedelta) a notifier may take.
        epoch: Wall time of the clock's zero (the manager passes its own).
    """

    def __init__(
        self,
        store: IncidentStore,
        *,
        policy: IncidentPolicy | None = None,
        notifiers: Iterable[Notifier] = (),
        clock: Clock | None = None,
        notify_timeout: float | timedelta = 30.0,
        epoch: float | None = None,
    ) -> None:
        if not isinstance(store, IncidentStore):
            raise TypeError(f"store must be an IncidentStore, got {store!r}")
        if policy is not None and not isinstance(policy, IncidentPolicy):
            raise TypeError(f"policy must be an IncidentPolicy, got {policy!r}")
        self._store = store
        self._policy = policy if policy is not None else IncidentPolicy()
        self._notifiers = tuple(notifiers)
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._timeout = seconds(notify_timeout)
        self._epoch = wall_time() - self._clock.monotonic() if epoch is None else epoch
        self._announcer = Announcer(
            notifiers=self._notifiers, policy=self._policy, limit=self._timeout, now=self.now
        )

    @property
    def store(self) -> IncidentStore:
        """Where the incidents are."""
        return self._store

    @property
    def policy(self) -> IncidentPolicy:
        """Targets, escalation, de-duplication, cool-down, flapping."""
        return self._policy

    def now(self) -> float:
        """The wall time, on the tracker's clock."""
        return self._epoch + self._clock.monotonic()

    # ---------------------------------------------------------------- reading

    def get(self, incident_id: str) -> Incident:
        """The incident of that id; :class:`UnknownIncidentError` if none."""
        return self._mutable("read").get(incident_id)

    def incidents(self, component: str | None = None, *, only_open: bool = False) -> list[Incident]:
        """The incidents kept (of ``component``; only those not resolved), oldest first."""
        kept = self._store.incidents(component)
        return [i for i in kept if i.is_open] if only_open else kept

    def breaches(self, since: float | None = None) -> list[tuple[Incident, Breach]]:
        """Every target breach recorded (noticed at ``since`` or later), oldest first."""
        found = [
            (i, b)
            for i in self._store.incidents()
            for b in i.breaches
            if since is None or b.at >= since
        ]
        return sorted(found, key=lambda pair: pair[1].at)

    # ------------------------------------------------------------- operators

    def acknowledge(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """``by`` takes the incident: escalation stops; PagerDuty (and the like) is told.

        Notifiers with an ``acknowledge`` hook that were told of the incident hear of it,
        each within the notify timeout, on a loop of its own; inside an event loop that
        is a task of it (``await aacknowledge(...)`` waits for it instead).
        """
        done = self._change(incident_id, "acknowledged", life.acknowledge, by=by, text=text)
        return self._announcer.announce_now(self._mutable("told"), done, "acknowledge", by=by)

    async def aacknowledge(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """:meth:`acknowledge`, awaiting the notifiers: the incident has what came of it."""
        done = self._change(incident_id, "acknowledged", life.acknowledge, by=by, text=text)
        return await self._announcer.announce(self._mutable("told"), done, "acknowledge", by=by)

    def resolve(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """``by`` resolves the incident; notifiers with a ``resolve`` hook are told (as ack)."""
        done = self._change(incident_id, "resolved", life.resolve, by=by, text=text)
        return self._announcer.announce_now(self._mutable("told"), done, "resolve", by=by)

    async def aresolve(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """:meth:`resolve`, awaiting the notifiers: the incident has what came of it."""
        done = self._change(incident_id, "resolved", life.resolve, by=by, text=text)
        return await self._announcer.announce(self._mutable("told"), done, "resolve", by=by)

    def reopen(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """The failure is back: open again, targets and escalation from now."""
        return self._apply(
            incident_id, "re-opened", lambda i, at: life.reopen(i, by=by, at=at, text=text)
        )

    def note(self, incident_id: str, *, by: str, text: str) -> Incident:
        """Add a note to the incident's timeline."""
        return self._apply(
            incident_id, "noted", lambda i, at: life.note(i, by=by, at=at, text=text)
        )

    def raise_severity(
        self, incident_id: str, *, by: str, to: Severity | str | None = None, text: str = ""
    ) -> Incident:
        """Make the incident more urgent (one step, or to ``to``)."""
        return self._apply(
            incident_id,
            "raised",
            lambda i, at: life.raise_severity(i, by=by, at=at, to=to, text=text),
        )

    def log_for(self, component: str, kind: EntryKind, text: str, *, by: str) -> None:
        """Add an entry to every open incident of ``component`` (suspended, resumed)."""
        store = self._store
        if not isinstance(store, MutableIncidentStore):
            return
        at = self.now()
        entry = TimelineEntry(at, kind, text, by)
        none: list[Incident] = []
        for incident in self._safely(lambda: store.open_incidents(component), none):
            self._safely(functools.partial(store.append, incident.id, entry), None)

    def resolve_open(self, component: str, *, by: str, text: str) -> list[Incident]:
        """Resolve every open incident of ``component`` (it is healthy again); those.

        Each is announced to the notifiers with a ``resolve`` hook, as :meth:`resolve` does.
        """
        store = self._store
        done = self._resolve_open(component, by=by, text=text)
        if not isinstance(store, MutableIncidentStore):
            return done
        return [self._announcer.announce_now(store, i, "resolve", by=by) for i in done]

    async def aresolve_open(self, component: str, *, by: str, text: str) -> list[Incident]:
        """:meth:`resolve_open`, awaiting the notifiers."""
        store = self._store
        done = self._resolve_open(component, by=by, text=text)
        if not isinstance(store, MutableIncidentStore):
            return done
        return [await self._announcer.announce(store, i, "resolve", by=by) for i in done]

    def _resolve_open(self, component: str, *, by: str, text: str) -> list[Incident]:
        store = self._store
        if not isinstance(store, MutableIncidentStore):
            return []
        at = self.now()

        def change(current: Incident) -> Incident:
            if not current.is_open:
                return current  # resolved meanwhile
            return life.resolve(current, by=by, at=at, text=text)

        none: list[Incident] = []
        done = []
        for incident in self._safely(lambda: store.open_incidents(component), none):
            new = self._safely(functools.partial(store.update, incident.id, change), None)
            if new is not None:
                done.append(new)
        return done

    # ---------------------------------------------------------------- targets

    async def check_targets(self) -> list[Incident]:
        """Record the targets missed by now and escalate; the incidents that changed.

        Each incident is checked and changed in one ``update``, so two processes
        checking one store never escalate an incident twice; the tiers reached are
        told afterwards, and what came of it is appended to the timeline.
        """
        store = self._mutable("checked")
        changed: list[Incident] = []
        for incident in store.open_incidents():
            at = self.now()
            reached: list[EscalationTier] = []

            def change(
                current: Incident, at: float = at, out: list[EscalationTier] = reached
            ) -> Incident:
                new, tiers = life.check(current, at=at, policy=self._policy)
                out[:] = tiers  # the last call's: an update may retry it
                return new

            new = store.update(incident.id, change)
            if new == incident:
                continue
            for tier in reached:
                if tier.notifiers:
                    new = await self._tell(new, tier.notifiers, by=life.CHECKER)
            changed.append(new)
        return changed

    def tick(self) -> list[Incident]:
        """:meth:`check_targets`, from code that is not in an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.check_targets())
        raise RuntimeError(
            "tick() runs an event loop of its own, and this code is in one already: "
            "use `await check_targets()` instead"
        )

    async def watch(self, interval: float | timedelta = 60.0) -> None:
        """Check the targets every ``interval`` seconds on the clock, until cancelled."""
        every = seconds(interval)
        if not every > 0:
            raise ValueError(f"watch() needs an interval of more than 0 seconds, got {interval!r}")
        while True:
            await self._clock.asleep(every)
            try:
                await self.check_targets()
            except Exception:
                logger.exception(
                    "checking the incident targets failed; trying again in %g s", every
                )

    # ---------------------------------------------------------------- recording

    async def record(self, incident: Incident, *, page: bool) -> Incident:
        """Keep the incident a recovery ended with, and tell people if ``page``.

        Folds it into an open incident of the same failure (the de-duplication window),
        resolves the component's open incidents when it recovered, marks a flapping
        component, and cools repeat notifications down. A failing store never stops this:
        what it could not keep goes to the log.
        """
        store = self._store
        policy = self._policy
        now = self.now()
        mutable = isinstance(store, MutableIncidentStore)
        none: list[Incident] = []
        name = incident.component
        # Only what is needed: the open incidents (to fold into, to resolve), and the
        # history only when flapping is judged from it.
        if isinstance(store, MutableIncidentStore):
            still_open = self._safely(lambda: store.open_incidents(name), none)
        else:
            still_open = none
        if policy.flapping_threshold is not None or not mutable:
            earlier = self._safely(lambda: store.incidents(name), none)
        else:
            earlier = still_open
        folded = self._fold_target(incident, still_open, now) if mutable else None
        if folded is not None:
            return await self._fold(folded, incident, page=page, now=now)
        threshold = policy.flapping_threshold
        if threshold is not None:
            since = now - policy.flapping_window
            recent = [i for i in earlier if i.started_at >= since]
            if len(recent) + 1 >= threshold:
                already = any(i.flapping for i in recent)
                text = (
                    f"{incident.component} opened {len(recent) + 1} incidents within "
                    f"{policy.flapping_window:g} s: flapping"
                    + ("; paged once already, not again" if already else "; paging once")
                )
                entry = TimelineEntry(now, EntryKind.FLAPPING, text)
                incident = replace(incident.with_entries(entry), flapping=True)
                page = not already
        if page:
            incident = replace(incident, notified_at=now)
            chosen = [n for n in self._notifiers if incident.severity.at_least(n.min_severity)]
            told = await tell_all(chosen, incident, limit=self._timeout)
            incident = replace(incident, notifications=told)
        self.keep(incident)
        if mutable and incident.resolution is Resolution.RECOVERED:
            said = f"recovered (incident {incident.id}): {incident.detail}"
            await self.aresolve_open(incident.component, by=_RECOVERY, text=said)
        return incident

    def _fold_target(
        self, incident: Incident, earlier: list[Incident], now: float
    ) -> Incident | None:
        window = self._policy.dedup_window
        if window is None:
            return None
        same = [
            i
            for i in earlier
            if i.is_open and i.fingerprint == incident.fingerprint and now - i.updated_at < window
        ]
        return max(same, key=lambda i: i.updated_at, default=None)

    async def _fold(self, into: Incident, new: Incident, *, page: bool, now: float) -> Incident:
        store = self._mutable("folded")
        count = into.occurrences + 1
        entries = (
            TimelineEntry(now, EntryKind.RECURRED, f"failed again ({count} times): {new.reason}"),
            *(e for e in new.timeline if e.kind is EntryKind.ACTION),
        )

        def change(current: Incident) -> Incident:
            merged = replace(
                current.with_entries(*entries),
                occurrences=current.occurrences + 1,
                actions=current.actions + new.actions,
                ended_at=new.ended_at,
                resolution=new.resolution,
                detail=new.detail,
            )
            if new.resolution is Resolution.RECOVERED and merged.is_open:
                merged = life.resolve(merged, by=_RECOVERY, at=now, text=new.detail)
            return merged

        merged = self._safely(lambda: store.update(into.id, change), None)
        if merged is None:
            return new  # the store failed: logged; the run's own incident is the answer
        if not merged.is_open:  # this recovery worked: the alert it raised is over
            merged = await self._announcer.announce(store, merged, "resolve", by=_RECOVERY)
        cooldown = self._policy.cooldown
        if page and merged.notified_at is not None and now - merged.notified_at < cooldown:
            text = (
                f"not told again: told {now - merged.notified_at:g} s ago (cooldown={cooldown:g} s)"
            )
            entry = TimelineEntry(now, EntryKind.NOTIFIED, text)
            return self._safely(functools.partial(store.append, merged.id, entry), merged)
        if page:
            chosen = [n for n in self._notifiers if merged.severity.at_least(n.min_severity)]
            merged = await self._tell(merged, chosen)
        return merged

    async def _tell(
        self, incident: Incident, notifiers: Iterable[Notifier], *, by: str = _RECOVERY
    ) -> Incident:
        """Tell ``notifiers``; the incident with what came of it on its timeline."""
        told = await tell_all(notifiers, incident, limit=self._timeout)
        now = self.now()
        entries = [TimelineEntry(now, EntryKind.NOTIFIED, told_text(r), by) for r in told]

        def change(current: Incident) -> Incident:
            return replace(current.with_entries(*entries), notified_at=now, notifications=told)

        store = self._mutable("told")
        return self._safely(lambda: store.update(incident.id, change), incident)

    # ---------------------------------------------------------------- plumbing

    def _apply(
        self, incident_id: str, doing: str, step: Callable[[Incident, float], Incident]
    ) -> Incident:
        store = self._mutable(doing)
        at = self.now()
        return store.update(incident_id, lambda i: step(i, at))

    def _change(
        self, incident_id: str, doing: str, step: Callable[..., Incident], *, by: str, text: str
    ) -> Incident:
        return self._apply(incident_id, doing, lambda i, at: step(i, by=by, at=at, text=text))

    def _mutable(self, doing: str) -> MutableIncidentStore:
        store = self._store
        if not isinstance(store, MutableIncidentStore):
            raise TypeError(
                f"incidents of {store!r} cannot be {doing}: it has no get/update/append/"
                "open_incidents; use MemoryIncidentStore, SQLiteIncidentStore or "
                "PostgresIncidentStore"
            )
        return store

    def keep(self, incident: Incident) -> None:
        """Add ``incident`` to the store; if the store fails, log it whole instead."""
        try:
            self._store.add(incident)
        except Exception:
            # The history is not lost: the whole incident goes to the log instead.
            logger.exception(
                "could not store incident %s in %r; it was: %s",
                incident.id,
                self._store,
                incident.to_dict(),
            )

    def _safely(self, work: Callable[[], _T], default: _T) -> _T:
        try:
            return work()
        except Exception:
            logger.exception(
                "incident store %r failed; the incident goes on without it", self._store
            )
            return default

    def __repr__(self) -> str:
        return f"IncidentTracker({self._store!r})"
