"""The run of one recovery: stages, attempts, actions, their verification, the notifiers."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Final

from resilience._core.clock import Clock
from resilience._core.shells import is_async
from resilience._core.text import safe_repr, safe_str
from resilience._core.timeout import Overran, within
from resilience.health import CheckResult, ComponentStatus, HealthRegistry
from resilience.recovery._component import Component
from resilience.recovery._incidents import (
    ActionRecord,
    Incident,
    Resolution,
    from_run,
)
from resilience.recovery._stages import Stage
from resilience.recovery._tell import failure

__all__ = ["Recovery", "RecoverySettings", "Running", "wake"]

logger = logging.getLogger("resilience")

_RECOVERED, _ESCALATED = Resolution.RECOVERED, Resolution.ESCALATED
_SUSPENDED = Resolution.SUSPENDED
_HEALTHY: Final = (ComponentStatus.OK, ComponentStatus.WARNING)


@dataclass(eq=False)
class Running:
    """A recovery in progress, as its manager and its joiners see it."""

    reason: str
    started: float  # clock reading
    verdict: Resolution | None  # decided before any action: suspended or out of budget
    detail: str
    notify: bool
    future: Future[Incident] = field(default_factory=Future)
    loop: asyncio.AbstractEventLoop | None = None
    wake: asyncio.Future[None] | None = None  # set by suspend() to cut a wait short
    interrupt: BaseException | None = None  # an action's KeyboardInterrupt or SystemExit


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoverySettings:
    """What every recovery of one manager shares."""

    clock: Clock
    epoch: float
    """Wall time of the clock's zero: incidents carry wall times."""
    lock: threading.Lock
    """The manager's lock, which guards each run's ``wake``."""
    stages: tuple[Stage, ...]
    health: HealthRegistry | None


class Recovery:
    """One recovery of one component, from its verdict or its stages to its incident."""

    def __init__(self, comp: Component, run: Running, *, settings: RecoverySettings) -> None:
        self._comp = comp
        self._run = run
        self._settings = settings
        self._records: list[ActionRecord] = []

    async def resolve(self) -> tuple[Incident, bool]:
        """Run the stages (unless decided before any action).

        Returns:
            The incident, and whether people are to be told of it.
        """
        run = self._run
        if run.verdict is None:
            resolution, detail = await self._stages()
            notify = resolution is _ESCALATED
        else:
            resolution, detail, notify = run.verdict, run.detail, run.notify
        return self.incident(resolution, detail), notify

    def incident(self, resolution: Resolution, detail: str) -> Incident:
        """The incident of this recovery, ended now as ``resolution``."""
        comp, run = self._comp, self._run
        return from_run(
            Incident(
                id=uuid.uuid4().hex,
                component=comp.config.name,
                reason=run.reason,
                severity=comp.config.severity,
                started_at=self._settings.epoch + run.started,
                ended_at=self._wall(),
                resolution=resolution,
                detail=detail,
                actions=tuple(self._records),
            )
        )

    async def _stages(self) -> tuple[Resolution, str]:
        comp, run, records = self._comp, self._run, self._records
        stages = comp.config.stages or self._settings.stages
        for number, stage in enumerate(stages, 1):
            for attempt in range(1, stage.attempts + 1):
                await self._wait(stage.delay if attempt == 1 else stage.interval)
                for action in comp.actions:
                    if comp.suspended:
                        return _SUSPENDED, "suspended (suspend()) while recovering"
                    record = await self._act(action, number, attempt)
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

    async def _wait(self, seconds: float) -> None:
        run = self._run
        if seconds <= 0 or self._comp.suspended:
            return
        with self._settings.lock:
            pending = run.wake
            if pending is None or pending.done():
                pending = run.wake = asyncio.get_running_loop().create_future()
        sleep = asyncio.ensure_future(self._settings.clock.asleep(seconds))
        try:
            await asyncio.wait((sleep, pending), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()

    async def _act(self, action: Callable[[], object], stage: int, attempt: int) -> ActionRecord:
        comp, clock = self._comp, self._settings.clock
        name = getattr(action, "__name__", None) or safe_repr(action)
        at, start = self._wall(), clock.monotonic()
        timeout = comp.config.timeout
        ok, outcome = False, ""
        try:
            value = await within(timeout, _call(action))
            if value is False:
                outcome = "the action returned False"
            else:
                ok, outcome = await self._verify()
        except Overran:
            outcome = f"no result within timeout={timeout:g} s"
        except BaseException as exc:  # whatever it raised is its failure, kept and paged
            if _cancelled(exc):
                raise  # the recovery itself was cancelled: the manager keeps the incident
            outcome = failure(exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                self._run.interrupt = exc
        duration = clock.monotonic() - start
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

    async def _verify(self) -> tuple[bool, str]:
        comp = self._comp
        name, timeout = comp.config.name, comp.config.timeout
        health = self._settings.health
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
            return False, f"verification raised {failure(exc)}"
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

    def _wall(self) -> float:
        return self._settings.epoch + self._settings.clock.monotonic()


def wake(pending: asyncio.Future[None]) -> None:
    """Cut a recovery's wait short (on its loop): it was suspended."""
    if not pending.done():
        pending.set_result(None)


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
