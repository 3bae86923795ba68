"""Staged auto-recovery: actions tried in stages, a restart budget, then a person.

One engine, :class:`~resilience.recovery._run.Recovery`, runs a component's recovery to
its end on an event loop: the caller's (``recover``), a task in it (``trigger`` inside a
loop) or a loop of its own on a thread (``trigger`` elsewhere, e.g. from a health
monitor). Every recovery resolves a :class:`concurrent.futures.Future`, so a trigger for
a component already recovering joins it from any thread or loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from datetime import timedelta

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock, wall_time
from resilience._core.options import Options, Seconds
from resilience._core.redact import redact_text
from resilience._core.text import one_line
from resilience.health import ComponentChanged, ComponentStatus, HealthRegistry
from resilience.recovery._budget import RestartBudget
from resilience.recovery._component import Component, ComponentConfig
from resilience.recovery._incidents import Incident, IncidentStore, Resolution, Severity
from resilience.recovery._memory import MemoryIncidentStore
from resilience.recovery._notifiers import Notifier
from resilience.recovery._run import Recovery, RecoverySettings, Running, wake
from resilience.recovery._stages import DEFAULT_STAGES, Stage

# Also importable from here, where they lived before the recovery package was split.
from resilience.recovery._stats import RecoveryStats, recovery_stats
from resilience.recovery._targets import IncidentPolicy
from resilience.recovery._timeline import EntryKind
from resilience.recovery._tracker import IncidentTracker

__all__ = ["RecoveryManager", "RecoveryStats", "RestartBudget", "Stage"]

logger = logging.getLogger("resilience")

_RECOVERED, _SUSPENDED = Resolution.RECOVERED, Resolution.SUSPENDED
_EXHAUSTED = Resolution.BUDGET_EXHAUSTED
_HEALTHY = (ComponentStatus.OK, ComponentStatus.WARNING)


class _ManagerConfig(Options):
    stages: tuple[Stage, ...] = Field(min_length=1)
    budget: RestartBudget | None
    notify_timeout: Seconds = Field(gt=0)


class RecoveryManager:
    """Recovers components in stages and escalates to people when that fails.

    Args:
        stages: The default stages: at once, after 1 minute (2 attempts), after 5
            minutes (3 attempts).
        budget: A :class:`RestartBudget`, or None for no limit.
        notifiers: Told of escalations, each by its ``min_severity``.
        store: Keeps the incidents; in memory by default.
        clock: Time source for the stage delays and the budget.
        notify_timeout: Seconds (or a timedelta) a notifier may take before it counts
            as failed.
        incidents: An :class:`IncidentPolicy`: targets, escalation, de-duplication,
            cool-down and flapping. Its targets are checked by :meth:`check_targets`
            (or :meth:`tick`, or :meth:`watch`): nothing escalates on its own.
    """

    def __init__(
        self,
        *,
        stages: Sequence[Stage] = DEFAULT_STAGES,
        budget: RestartBudget | None = None,
        notifiers: Iterable[Notifier] = (),
        store: IncidentStore | None = None,
        clock: Clock | None = None,
        notify_timeout: float | timedelta = 30.0,
        incidents: IncidentPolicy | None = None,
    ) -> None:
        self._config = _ManagerConfig.model_validate(
            {"stages": tuple(stages), "budget": budget, "notify_timeout": notify_timeout}
        )
        self._notifiers = tuple(notifiers)
        for notifier in self._notifiers:
            if not isinstance(notifier, Notifier):
                raise TypeError(
                    f"notifiers must have a min_severity and an async notify(incident); "
                    f"got {notifier!r}"
                )
        self._store = store if store is not None else MemoryIncidentStore()
        if not isinstance(self._store, IncidentStore):
            raise TypeError(f"store must be an IncidentStore, got {store!r}")
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        # Incidents carry wall times (they outlive the process); measured on the injected
        # clock from a wall-time anchor, so that a fake clock moves them too.
        self._epoch = wall_time() - self._clock.monotonic()
        self._tracker = IncidentTracker(
            self._store,
            policy=incidents,
            notifiers=self._notifiers,
            clock=self._clock,
            notify_timeout=self._config.notify_timeout,
            epoch=self._epoch,
        )
        self._components: dict[str, Component] = {}
        self._running: dict[str, Running] = {}
        self._lock = threading.Lock()
        self._health: HealthRegistry | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ set-up

    def register(
        self,
        name: str,
        *,
        actions: Iterable[Callable[[], object]],
        verify: Callable[[], object] | None = None,
        severity: Severity | str = Severity.P1,
        stages: Sequence[Stage] | None = None,
        timeout: float | timedelta | None = 300.0,
    ) -> None:
        """Say how to recover component ``name``.

        Args:
            name: The component; the same name as its health check, if it has one.
            actions: Sync or async functions of no arguments, tried in order in each
                attempt. One that raises or returns False failed.
            verify: Decides whether an action worked, as a health check does (None,
                True or an OK/WARNING :class:`CheckResult` mean yes). By default the
                component's health check when a registry is attached, else the action
                not failing.
            severity: Of the incident when recovery fails: ``"P0"`` to ``"P3"``.
            stages: This component's stages instead of the manager's.
            timeout: Seconds (or a timedelta) an action, or a verification, may take;
                None for no limit.
        """
        acts = tuple(actions)
        if not acts or not all(callable(a) for a in acts):
            raise TypeError(f"actions must be a non-empty list of functions, got {acts!r}")
        if verify is not None and not callable(verify):
            raise TypeError(f"verify must be a function or None, got {verify!r}")
        config = ComponentConfig.model_validate(
            {
                "name": name,
                "severity": severity,
                "stages": None if stages is None else tuple(stages),
                "timeout": timeout,
            }
        )
        with self._lock:
            if name in self._components:
                raise ValueError(f"component {name!r} is already registered for recovery")
            self._components[name] = Component(config, acts, verify)

    def attach(self, health: HealthRegistry) -> None:
        """Recover each registered component when its health check turns ERROR.

        Its check then also verifies the actions of components registered without
        ``verify``.
        """
        if not isinstance(health, HealthRegistry):
            raise TypeError(f"attach() takes a HealthRegistry, got {health!r}")
        self._health = health
        health.add_listener(self._on_change)

    def _on_change(self, change: ComponentChanged) -> None:
        name = change.name
        if name not in self._components:
            return
        if change.new is ComponentStatus.ERROR:
            self.trigger(name, reason=f"health check: {change.message or 'ERROR'}")
        elif change.new in _HEALTHY and change.old is ComponentStatus.ERROR:
            with self._lock:
                running = name in self._running  # its end resolves them, if it worked
            if not running:
                # Healthy again without a recovery (it came back by itself, or a person
                # fixed it): its open incidents are over.
                said = f"health check {change.new.name}" + (
                    f": {change.message}" if change.message else ""
                )
                self._tracker.resolve_open(name, by="health check", text=said)

    # ----------------------------------------------------------------- running

    async def recover(self, name: str, *, reason: str = "recovery requested") -> Incident:
        """Run a staged recovery of ``name`` to its end, or join the one running."""
        comp, run, new = self._begin(name, reason)
        if new:
            await self._drive(comp, run)
        return await asyncio.wrap_future(run.future)

    def trigger(self, name: str, *, reason: str = "recovery triggered") -> Future[Incident]:
        """Start a recovery of ``name`` in the background, or join the one running.

        Inside an event loop it runs as a task of that loop; elsewhere on a thread of its
        own. The returned future resolves to the :class:`Incident`.
        """
        comp, run, new = self._begin(name, reason)
        if not new:
            return run.future
        coro = self._drive(comp, run)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            threading.Thread(
                target=asyncio.run, args=(coro,), name=f"resilience-recovery:{name}", daemon=True
            ).start()
        else:
            task = loop.create_task(coro)
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)
        return run.future

    def suspend(self, name: str, *, by: str = "operator") -> None:
        """Stop recovering ``name``: a person (``by``) is on it.

        A running recovery ends after its current action (a wait is cut short) as
        SUSPENDED; later triggers are recorded as SUSPENDED without acting. The
        component's open incidents note it on their timelines.
        """
        comp = self._component(name)
        with self._lock:
            comp.suspended = True
            run = self._running.get(name)
            if run is not None and run.loop is not None and run.wake is not None:
                run.loop.call_soon_threadsafe(wake, run.wake)
        self._tracker.log_for(name, EntryKind.SUSPENDED, f"recovery suspended by {by}", by=by)

    def resume(self, name: str, *, by: str = "operator") -> None:
        """Allow recovering ``name`` again, with a fresh restart budget."""
        comp = self._component(name)
        with self._lock:
            comp.suspended = False
            comp.budget.reset()
        self._tracker.log_for(name, EntryKind.RESUMED, f"recovery resumed by {by}", by=by)

    def running(self) -> Mapping[str, Future[Incident]]:
        """The recoveries in progress, by component: each future resolves to its incident."""
        with self._lock:
            return {name: run.future for name, run in self._running.items()}

    def suspended(self, name: str) -> bool:
        """Whether recovery of ``name`` is suspended."""
        return self._component(name).suspended

    # ------------------------------------------------------------------ history

    def incidents(self, name: str | None = None) -> list[Incident]:
        """The incidents kept (of ``name``, or all), oldest first."""
        return self._store.incidents(name)

    @property
    def tracker(self) -> IncidentTracker:
        """The incidents' lifecycle: acknowledge, resolve, note, re-open, the targets."""
        return self._tracker

    def acknowledge(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """``by`` takes the incident: its escalation stops; PagerDuty hears of it too.

        Notifiers with ``acknowledge``/``resolve`` hooks (PagerDuty, a router with it)
        are told as :meth:`IncidentTracker.acknowledge` says: outside an event loop
        before this returns, inside one as a task (await :meth:`aacknowledge` there).
        """
        return self._tracker.acknowledge(incident_id, by=by, text=text)

    async def aacknowledge(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """:meth:`acknowledge`, awaiting the notifiers that keep alerts (PagerDuty)."""
        return await self._tracker.aacknowledge(incident_id, by=by, text=text)

    def resolve(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """``by`` resolves the incident."""
        return self._tracker.resolve(incident_id, by=by, text=text)

    async def aresolve(self, incident_id: str, *, by: str, text: str = "") -> Incident:
        """:meth:`resolve`, awaiting the notifiers that keep alerts (PagerDuty)."""
        return await self._tracker.aresolve(incident_id, by=by, text=text)

    def note(self, incident_id: str, *, by: str, text: str) -> Incident:
        """Add a note to the incident's timeline."""
        return self._tracker.note(incident_id, by=by, text=text)

    async def check_targets(self) -> list[Incident]:
        """Record missed targets and escalate unacknowledged incidents, as of now."""
        return await self._tracker.check_targets()

    def tick(self) -> list[Incident]:
        """:meth:`check_targets` from code outside an event loop."""
        return self._tracker.tick()

    async def watch(self, interval: float | timedelta = 60.0) -> None:
        """Check the targets every ``interval`` seconds on the clock, until cancelled."""
        await self._tracker.watch(interval)

    def stats(self) -> Mapping[str, RecoveryStats]:
        """Each registered component's record, from every incident kept."""
        by_name: dict[str, list[Incident]] = {name: [] for name in self._components}
        for incident in self._store.incidents():
            if incident.component in by_name:
                by_name[incident.component].append(incident)
        return {name: recovery_stats(name, incidents) for name, incidents in by_name.items()}

    # ------------------------------------------------------------------ the engine

    def _component(self, name: str) -> Component:
        comp = self._components.get(name)
        if comp is None:
            raise KeyError(
                f"no recovery registered for {name!r}; register it with "
                f"manager.register({name!r}, actions=[...]) (registered: "
                f"{sorted(self._components)})"
            )
        return comp

    def _begin(self, name: str, reason: str) -> tuple[Component, Running, bool]:
        """The recovery of ``name`` running, or a new one (then True) to drive."""
        comp = self._component(name)
        with self._lock:
            running = self._running.get(name)
            if running is not None:
                return comp, running, False
            now = self._clock.monotonic()
            verdict, detail, notify = None, "", False
            budget = self._config.budget
            if comp.suspended:
                verdict = _SUSPENDED
                detail = "recovery is suspended (suspend()); resume() allows it again"
            elif budget is not None:
                refused = comp.budget.spend(budget, now)
                if refused is not None:
                    verdict, (detail, notify) = _EXHAUSTED, refused
            # Masked once, here: the reason reaches log lines before any incident holds it.
            run = Running(redact_text(one_line(reason)), now, verdict, detail, notify)
            self._running[name] = run
            return comp, run, True

    async def _drive(self, comp: Component, run: Running) -> None:
        """Run one recovery to its end and resolve its future; never raises but cancels."""
        loop = asyncio.get_running_loop()
        with self._lock:
            run.loop, run.wake = loop, loop.create_future()
        config = self._config
        recovery = Recovery(
            comp,
            run,
            settings=RecoverySettings(
                clock=self._clock,
                epoch=self._epoch,
                lock=self._lock,
                stages=config.stages,
                health=self._health,
            ),
        )
        name = comp.config.name
        logger.info("recovery of %s started: %s", name, run.reason, extra={"component": name})
        try:
            incident, page = await recovery.resolve()
            incident = await self._tracker.record(incident, page=page)
        except asyncio.CancelledError:
            detail = "the task running the recovery was cancelled"
            cancelled = recovery.incident(Resolution.CANCELLED, detail)
            self._tracker.keep(cancelled)
            self._end(comp, run, cancelled)
            raise
        except BaseException as exc:  # a defect: never leave joiners waiting
            with self._lock:
                del self._running[name]
            run.future.set_exception(exc)
            raise
        self._end(comp, run, incident)
        if run.interrupt is not None:
            raise run.interrupt  # kept and told: now the process may stop

    def _end(self, comp: Component, run: Running, incident: Incident) -> None:
        with self._lock:
            comp.budget.last_end = self._clock.monotonic()
            del self._running[comp.config.name]
        level = logging.INFO if incident.resolution is _RECOVERED else logging.WARNING
        logger.log(
            level,
            "recovery of %s: %s; %s",
            incident.component,
            incident.resolution.value,
            incident.detail,
            extra={"component": incident.component, "incident": incident.id},
        )
        run.future.set_result(incident)

    def __repr__(self) -> str:
        return f"RecoveryManager(components={sorted(self._components)})"
