"""The health monitor: a registry's checks run periodically, on a thread or a task."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, Protocol, Self

from resilience._core.clock import SYSTEM_CLOCK
from resilience.health._check import positive_seconds

if TYPE_CHECKING:
    from resilience._core.clock import Clock
    from resilience.health._report import HealthReport

__all__ = ["HealthMonitor", "MonitoredChecks"]


class MonitoredChecks(Protocol):
    """What a monitor runs: a :class:`~resilience.health.HealthRegistry`."""

    @property
    def clock(self) -> Clock:
        """The time source the rounds are paced by."""
        ...

    def run(self, group: str | None = None, *, critical_only: bool = False) -> HealthReport:
        """Run the checks, or only the critical ones."""
        ...

    async def arun(self, group: str | None = None, *, critical_only: bool = False) -> HealthReport:
        """:meth:`run` for asyncio."""
        ...


class HealthMonitor:
    """Runs a registry's checks periodically; status changes go to its listeners.

    ``with monitor:`` runs it on a thread, ``async with monitor:`` as an asyncio task;
    leaving the block stops it (a round in progress finishes first). :meth:`tick`
    runs one round by hand.
    """

    def __init__(
        self,
        health: MonitoredChecks,
        *,
        interval: float | timedelta,
        critical_interval: float | timedelta | None,
    ) -> None:
        self._health = health
        self._interval = positive_seconds(interval, what="monitor interval")
        self._critical_interval = (
            None
            if critical_interval is None
            else positive_seconds(critical_interval, what="monitor critical_interval")
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_all = 0.0
        self.rounds = 0
        """Rounds of checks run so far."""
        self.busy = 0.0
        """Seconds spent running checks, to measure the monitor's overhead."""

    def _due(self) -> Literal["all", "critical"] | None:
        """The checks to run now: all of them each interval, critical ones in between."""
        now = self._health.clock.monotonic()
        if now >= self._next_all:
            self._next_all = now + self._interval
            return "all"
        if self._critical_interval is None:
            return None
        return "critical"

    @property
    def _period(self) -> float:
        return self._critical_interval or self._interval

    def tick(self) -> HealthReport | None:
        """Run the checks that are due now; the report, or None if none were due."""
        due = self._due()
        if due is None:
            return None
        start = SYSTEM_CLOCK.monotonic()
        report = self._health.run(critical_only=due == "critical")
        if not report.components:  # no check was due: not a round
            return None
        self.busy += SYSTEM_CLOCK.monotonic() - start
        self.rounds += 1
        return report

    async def atick(self) -> HealthReport | None:
        """:meth:`tick` for asyncio."""
        due = self._due()
        if due is None:
            return None
        start = SYSTEM_CLOCK.monotonic()
        report = await self._health.arun(critical_only=due == "critical")
        if not report.components:  # no check was due: not a round
            return None
        self.busy += SYSTEM_CLOCK.monotonic() - start
        self.rounds += 1
        return report

    def _wait(self) -> None:
        clock = self._health.clock
        if clock is SYSTEM_CLOCK:
            self._stop.wait(self._period)  # real time: wake at once when stopped
        else:
            clock.sleep(self._period)

    def __enter__(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="resilience-health-monitor")
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._wait()

    async def __aenter__(self) -> Self:
        self._stop.clear()
        self._task = asyncio.create_task(self._aloop())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _aloop(self) -> None:
        while not self._stop.is_set():
            await self.atick()
            await self._health.clock.asleep(self._period)
