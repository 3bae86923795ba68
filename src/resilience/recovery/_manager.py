"""Staged auto-recovery: actions tried in stages, a restart budget, then a person.

One engine, :meth:`RecoveryManager._drive`, runs a component's recovery to its end on an
event loop: the caller's (``recover``), a task in it (``trigger`` inside a loop) or a
loop of its own on a thread (``trigger`` elsewhere, e.g. from a health monitor). Every
recovery resolves a :class:`concurrent.futures.Future`, so a trigger for a component
already recovering joins it from any thread or loop.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Final

from pydantic import Field

from resilience._core.clock import SYSTEM_CLOCK, Clock, wall_time
from resilience._core.options import Options
from resilience._core.redact import redact_text
from resilience._core.shells import is_async
from resilience._core.text import one_line, safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.health._registry import (
    CheckResult,
    ComponentChanged,
    ComponentStatus,
    HealthRegistry,
)
from resilience.recovery._incidents import (
    ActionRecord,
    Incident,
    IncidentStore,
    MemoryIncidentStore,
    NotifierRecord,
    Resolution,
    Severity,
)
from resilience.recovery._notifiers import Notifier

__all__ = ["RecoveryManager", "RecoveryStats", "RestartBudget", "Stage"]

logger = logging.getLogger("resilience")

_RECOVERED, _ESCALATED = Resolution.RECOVERED, Resolution.ESCALATED
_SUSPENDED, _EXHAUSTED = Resolution.SUSPENDED, Resolution.BUDGET_EXHAUSTED
_HEALTHY: Final = (ComponentStatus.OK, ComponentStatus.WARNING)


class Stage(Options):
    """One stage of a recovery: wait ``delay`` seconds, then try up to ``attempts`` times."""

    delay: float = Field(default=0.0, ge=0)
    """Seconds before the stage's first attempt, counted from the end of the previous
    stage (from the trigger, for the first stage)."""
    attempts: int = Field(default=1, gt=0)
    """How many times the stage runs the component's actions."""
    interval: float = Field(default=0.0, ge=0)
    """Seconds between the stage's attempts."""


DEFAULT_STAGES: Final = (
    Stage(delay=0, attempts=1),
    Stage(delay=60, attempts=2),
    Stage(delay=300, attempts=3),
)


class RestartBudget(Options):
    """At most ``max_recoveries`` recoveries of a component within ``period`` seconds.

    One more stops automatic recovery of the component and escalates, as an Erlang/OTP
    supervisor's intensity or systemd's ``StartLimitBurst`` do. The count starts over once
    the component has gone ``reset_after`` seconds without an incident, or on
    :meth:`RecoveryManager.resume`.
    """

    max_recoveries: int = Field(default=5, gt=0)
    period: float = Field(default=600.0, gt=0)
    reset_after: float = Field(default=600.0, gt=0)


class _ManagerConfig(Options):
    stages: tuple[Stage, ...] = Field(min_length=1)
    budget: RestartBudget | None
    notify_timeout: float = Field(gt=0)


class _ComponentConfig(Options):
    name: str = Field(min_length=1)
    severity: Severity
    stages: tuple[Stage, ...] | None = Field(min_length=1)
    timeout: float | None = Field(gt=0)


@dataclass(frozen=True, slots=True)
class RecoveryStats:
    """A component's record, from the incident history."""

    component: str
    incidents: int
    recovered: int
    escalated: int
    """Incidents that reached a person: every stage failed, or the budget ran out."""
    success_rate: float | None
    """recovered / (recovered + escalated); None before either happened."""
    mean_time_to_recovery: float | None
    """Mean seconds from trigger to recovery, over the recovered incidents."""
    mean_time_between_failures: float | None
    """Mean seconds from the end of one incident to the start of the next."""


@dataclass(eq=False)
class _Component:
    config: _ComponentConfig
    actions: tuple[Callable[[], object], ...]
    verify: Callable[[], object] | None
    suspended: bool = False
    exhausted: bool = False
    starts: deque[float] = field(default_factory=deque)  # clock readings, for the budget
    last_end: float | None = None


@dataclass(eq=False)
class _Running:
    reason: str
    started: float  # clock reading
    verdict: Resolution | None  # decided before any action: suspended or out of budget
    detail: str
    notify: bool
    future: Future[Incident] = field(default_factory=Future)
    loop: asyncio.AbstractEventLoop | None = None
    wake: asyncio.Future[None] | None = None  # set by suspend() to cut a wait short
    interrupt: BaseException | None = None  # an action's KeyboardInterrupt or SystemExit


class RecoveryManager:
    """Recovers components in stages and escalates to people when that fails.

    Args:
        stages: The default stages: at once, after 1 minute (2 attempts), after 5
            minutes (3 attempts).
        budget: A :class:`RestartBudget`, or None for no limit.
        notifiers: Told of escalations, each by its ``min_severity``.
        store: Keeps the incidents; in memory by default.
        clock: Time source for the stage delays and the budget.
        notify_timeout: Seconds a notifier may take before it counts as failed.
    """

    def __init__(
        self,
        *,
        stages: Sequence[Stage] = DEFAULT_STAGES,
        budget: RestartBudget | None = None,
        notifiers: Iterable[Notifier] = (),
        store: IncidentStore | None = None,
        clock: Clock | None = None,
        notify_timeout: float = 30.0,
    ) -> None:
        self._config = _ManagerConfig(
            stages=tuple(stages), budget=budget, notify_timeout=notify_timeout
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
        self._components: dict[str, _Component] = {}
        self._running: dict[str, _Running] = {}
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
        timeout: float | None = 300.0,
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
            timeout: Seconds an action, or a verification, may take; None for no limit.
        """
        acts = tuple(actions)
        if not acts or not all(callable(a) for a in acts):
            raise TypeError(f"actions must be a non-empty list of functions, got {acts!r}")
        if verify is not None and not callable(verify):
            raise TypeError(f"verify must be a function or None, got {verify!r}")
        config = _ComponentConfig.model_validate(
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
            self._components[name] = _Component(config, acts, verify)

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
        if change.new is ComponentStatus.ERROR and change.name in self._components:
            self.trigger(change.name, reason=f"health check: {change.message or 'ERROR'}")

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

    def suspend(self, name: str) -> None:
        """Stop recovering ``name``: a person is on it.

        A running recovery ends after its current action (a wait is cut short) as
        SUSPENDED; later triggers are recorded as SUSPENDED without acting.
        """
        comp = self._component(name)
        with self._lock:
            comp.suspended = True
            run = self._running.get(name)
            if run is not None and run.loop is not None and run.wake is not None:
                run.loop.call_soon_threadsafe(_wake, run.wake)

    def resume(self, name: str) -> None:
        """Allow recovering ``name`` again, with a fresh restart budget."""
        comp = self._component(name)
        with self._lock:
            comp.suspended = comp.exhausted = False
            comp.starts.clear()

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

    def stats(self) -> Mapping[str, RecoveryStats]:
        """Each registered component's record, from every incident kept."""
        by_name: dict[str, list[Incident]] = {name: [] for name in self._components}
        for incident in self._store.incidents():
            if incident.component in by_name:
                by_name[incident.component].append(incident)
        return {name: _stats(name, incidents) for name, incidents in by_name.items()}

    # ------------------------------------------------------------------ the engine

    def _component(self, name: str) -> _Component:
        comp = self._components.get(name)
        if comp is None:
            raise KeyError(
                f"no recovery registered for {name!r}; register it with "
                f"manager.register({name!r}, actions=[...]) (registered: "
                f"{sorted(self._components)})"
            )
        return comp

    def _begin(self, name: str, reason: str) -> tuple[_Component, _Running, bool]:
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
                if comp.last_end is not None and now - comp.last_end >= budget.reset_after:
                    comp.starts.clear()
                    comp.exhausted = False
                while comp.starts and now - comp.starts[0] >= budget.period:
                    comp.starts.popleft()
                if comp.exhausted or len(comp.starts) >= budget.max_recoveries:
                    verdict, notify = _EXHAUSTED, not comp.exhausted
                    comp.exhausted = True
                    detail = (
                        f"restart budget exhausted ({budget.max_recoveries} recoveries "
                        f"within {budget.period:g} s); automatic recovery stays off until "
                        f"the component runs {budget.reset_after:g} s without an incident, "
                        "or resume()"
                    )
            if verdict is None and budget is not None:
                comp.starts.append(now)
            # Masked once, here: the reason reaches log lines before any incident holds it.
            run = _Running(redact_text(one_line(reason)), now, verdict, detail, notify)
            self._running[name] = run
            return comp, run, True

    async def _drive(self, comp: _Component, run: _Running) -> None:
        """Run one recovery to its end and resolve its future; never raises but cancels."""
        loop = asyncio.get_running_loop()
        with self._lock:
            run.loop, run.wake = loop, loop.create_future()
        records: list[ActionRecord] = []
        name = comp.config.name
        logger.info("recovery of %s started: %s", name, run.reason, extra={"component": name})
        try:
            if run.verdict is None:
                resolution, detail = await self._stages(comp, run, records)
                notify = resolution is _ESCALATED
            else:
                resolution, detail, notify = run.verdict, run.detail, run.notify
            incident = self._incident(comp, run, resolution, detail, records)
            if notify:
                incident = replace(incident, notifications=await self._notify(incident))
        except asyncio.CancelledError:
            detail = "the task running the recovery was cancelled"
            self._end(comp, run, self._incident(comp, run, Resolution.CANCELLED, detail, records))
            raise
        except BaseException as exc:  # a defect: never leave joiners waiting
            with self._lock:
                del self._running[name]
            run.future.set_exception(exc)
            raise
        self._end(comp, run, incident)
        if run.interrupt is not None:
            raise run.interrupt  # kept and told: now the process may stop

    async def _stages(
        self, comp: _Component, run: _Running, records: list[ActionRecord]
    ) -> tuple[Resolution, str]:
        stages = comp.config.stages or self._config.stages
        for number, stage in enumerate(stages, 1):
            for attempt in range(1, stage.attempts + 1):
                await self._wait(comp, run, stage.delay if attempt == 1 else stage.interval)
                for action in comp.actions:
                    if comp.suspended:
                        return _SUSPENDED, "suspended (suspend()) while recovering"
                    record = await self._act(comp, run, action, number, attempt)
                    records.append(record)
                    if record.ok:
                        return _RECOVERED, f"{record.action} worked: {record.outcome}"
                    if run.interrupt is not None:
                        return _ESCALATED, (
                            f"stopped: {record.action} raised {type(run.interrupt).__name__}, "
                            "which propagates once the incident is kept and people are told"
                        )
        return _ESCALATED, (
            f"every stage failed ({len(stages)} stages, {len(records)} action runs)"
        )

    async def _wait(self, comp: _Component, run: _Running, seconds: float) -> None:
        if seconds <= 0 or comp.suspended:
            return
        with self._lock:
            wake = run.wake
            if wake is None or wake.done():
                wake = run.wake = asyncio.get_running_loop().create_future()
        sleep = asyncio.ensure_future(self._clock.asleep(seconds))
        try:
            await asyncio.wait((sleep, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()

    async def _act(
        self,
        comp: _Component,
        run: _Running,
        action: Callable[[], object],
        stage: int,
        attempt: int,
    ) -> ActionRecord:
        name = getattr(action, "__name__", None) or safe_repr(action)
        at, start = self._wall(), self._clock.monotonic()
        timeout = comp.config.timeout
        ok, outcome = False, ""
        try:
            value = await within(timeout, _call(action))
            if value is False:
                outcome = "the action returned False"
            else:
                ok, outcome = await self._verify(comp)
        except Overran:
            outcome = f"no result within timeout={timeout:g} s"
        except BaseException as exc:  # whatever it raised is its failure, kept and paged
            if _cancelled(exc):
                raise  # the recovery itself was cancelled: _drive keeps the incident
            outcome = _failure(exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                run.interrupt = exc
        duration = self._clock.monotonic() - start
        logger.info(
            "recovery of %s, stage %d attempt %d: %s %s: %s",
            comp.config.name,
            stage,
            attempt,
            name,
            "worked" if ok else "failed",
            outcome,
            extra={"component": comp.config.name, "action": name, "ok": ok},
        )
        return ActionRecord(name, stage, attempt, at, duration, ok, outcome)

    async def _verify(self, comp: _Component) -> tuple[bool, str]:
        name, timeout = comp.config.name, comp.config.timeout
        health = self._health
        try:
            if comp.verify is not None:
                value = await within(timeout, _call(comp.verify))
            elif health is not None and name in health.names():
                checked = await within(timeout, health.arecheck(name))
                value = CheckResult(checked.status, checked.message)
            else:
                return True, "it completed (no verification configured)"
        except Overran:
            return False, f"verification gave no answer within timeout={timeout:g} s"
        except Exception as exc:
            return False, f"verification raised {_failure(exc)}"
        if value is None or value is True:
            return True, "verified"
        if isinstance(value, CheckResult):
            message = f": {safe_str(value.message)}" if value.message else ""
            return value.status in _HEALTHY, f"{value.status.name}{message}"
        if value is False:
            return False, "verification returned False"
        return False, (
            f"verification returned {safe_repr(value)}; it must return None or True (ok), "
            "False (failed) or a CheckResult"
        )

    async def _notify(self, incident: Incident) -> tuple[NotifierRecord, ...]:
        chosen = [n for n in self._notifiers if incident.severity.at_least(n.min_severity)]
        return tuple(await asyncio.gather(*(self._tell(n, incident) for n in chosen)))

    async def _tell(self, notifier: Notifier, incident: Incident) -> NotifierRecord:
        timeout = self._config.notify_timeout
        shown = safe_repr(notifier)
        try:
            await within(timeout, notifier.notify(incident))
        except Exception as exc:
            error = (
                f"no answer within notify_timeout={timeout:g} s"
                if isinstance(exc, Overran)
                else _failure(exc)
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

    def _incident(
        self,
        comp: _Component,
        run: _Running,
        resolution: Resolution,
        detail: str,
        records: list[ActionRecord],
    ) -> Incident:
        return Incident(
            id=uuid.uuid4().hex,
            component=comp.config.name,
            reason=run.reason,
            severity=comp.config.severity,
            started_at=self._epoch + run.started,
            ended_at=self._wall(),
            resolution=resolution,
            detail=detail,
            actions=tuple(records),
        )

    def _end(self, comp: _Component, run: _Running, incident: Incident) -> None:
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
        with self._lock:
            comp.last_end = self._clock.monotonic()
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

    def _wall(self) -> float:
        return self._epoch + self._clock.monotonic()

    def __repr__(self) -> str:
        return f"RecoveryManager(components={sorted(self._components)})"


def _wake(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


def _failure(exc: BaseException) -> str:
    """What an action, a verification or a notifier raised, safe to record and log."""
    message = safe_str(exc)
    return redact_text(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is the cancellation of the task running the recovery."""
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling() > 0


async def _call(fn: Callable[[], object]) -> object:
    """Run ``fn``: awaited if async, on a worker thread if not (it may block)."""
    if is_async(fn):
        return await fn()  # type: ignore[misc]
    value = await asyncio.to_thread(fn)
    if inspect.isawaitable(value):
        value = await value
    return value


def _stats(name: str, incidents: list[Incident]) -> RecoveryStats:
    recovered = [i for i in incidents if i.resolution is _RECOVERED]
    escalated = sum(i.resolution in (_ESCALATED, _EXHAUSTED) for i in incidents)
    judged = len(recovered) + escalated
    gaps = [b.started_at - a.ended_at for a, b in itertools.pairwise(incidents)]
    return RecoveryStats(
        component=name,
        incidents=len(incidents),
        recovered=len(recovered),
        escalated=escalated,
        success_rate=len(recovered) / judged if judged else None,
        mean_time_to_recovery=(
            sum(i.duration for i in recovered) / len(recovered) if recovered else None
        ),
        mean_time_between_failures=sum(gaps) / len(gaps) if gaps else None,
    )
