"""The single-flight run of checks: one run of a check at a time, shared by every caller.

Runs that overlap share each check's run in flight and its result, so a storm of probes
runs a check once at a time. A check that overruns is reported at its timeout and left
to finish in the background; until it does, it is not started again, so a hanging
dependency cannot pile up threads or tasks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.log import logger
from resilience.health._check import Check, Flight
from resilience.health._status import ComponentHealth

__all__ = ["FlightRunner"]


class FlightRunner:
    """Runs checks concurrently, each under its own timeout, one flight per check.

    Sync checks run on a thread pool owned by the runner, async ones as tasks.

    Args:
        clock: Time source of the cached results (TTLs).
        classifier: Turns a check's exception into a message and ``auto_recoverable``.
    """

    def __init__(self, *, clock: Clock, classifier: Classifier) -> None:
        self._clock = clock
        self._classifier = classifier
        self._lock = threading.Lock()  # guards each check's flight and the pool
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[object]] = set()  # async checks in flight

    def run(self, checks: list[Check], *, fresh: bool = False) -> dict[str, ComponentHealth]:
        """The health of each check, by name: cached, joined in flight, or run now."""
        now = self._clock.monotonic()
        results: dict[str, ComponentHealth] = {}
        waiting: list[tuple[Check, Flight]] = []
        for check in checks:
            cached = None if fresh else check.cached(now)
            if cached is not None:
                results[check.config.name] = cached
                continue
            flight = self._join(check, fresh=fresh, loop=None)
            if flight is None:
                results[check.config.name] = check.still_running()
            else:
                waiting.append((check, flight))
        for check, flight in waiting:
            remaining = flight.deadline - SYSTEM_CLOCK.monotonic()
            try:
                results[check.config.name] = flight.outcome.result(timeout=max(0.0, remaining))
            except FutureTimeout:
                results[check.config.name] = check.overran(clock=self._clock)
        return results

    async def arun(self, checks: list[Check], *, fresh: bool = False) -> dict[str, ComponentHealth]:
        """:meth:`run` for asyncio: async checks as tasks, sync ones on the thread pool."""
        now = self._clock.monotonic()
        loop = asyncio.get_running_loop()
        results: dict[str, ComponentHealth] = {}
        todo: list[Awaitable[tuple[str, ComponentHealth]]] = []
        for check in checks:
            cached = None if fresh else check.cached(now)
            if cached is not None:
                results[check.config.name] = cached
                continue
            flight = self._join(check, fresh=fresh, loop=loop)
            if flight is None:
                results[check.config.name] = check.still_running()
            else:
                todo.append(self._await(check, flight))
        results.update(await asyncio.gather(*todo))
        return results

    def close(self) -> None:
        """Stop the thread pool (checks still running finish in the background)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def _await(self, check: Check, flight: Flight) -> tuple[str, ComponentHealth]:
        """The flight's health once it lands, or the overrun at its deadline."""
        outcome = flight.outcome
        if not outcome.done():
            waiter = asyncio.wrap_future(outcome)
            try:
                remaining = flight.deadline - SYSTEM_CLOCK.monotonic()
                # wait(), unlike wait_for(), leaves the run in flight to the other runs.
                await asyncio.wait((waiter,), timeout=max(0.0, remaining))
            finally:
                waiter.cancel()  # the flight itself cannot be cancelled (it is running)
            if not outcome.done():
                return check.config.name, check.overran(clock=self._clock)
        return check.config.name, outcome.result()

    def _join(
        self, check: Check, *, fresh: bool, loop: asyncio.AbstractEventLoop | None
    ) -> Flight | None:
        """The run of ``check`` to wait for: the one in flight, or a new one.

        None when the run in flight has outlived its timeout: it is not started again
        until it ends. A ``fresh`` run does not join one that began before it was asked,
        nor a sync run one that needs the event loop it blocks.
        """
        task_loop = loop if check.is_async else None
        blocked = None if loop is not None else _running_loop()
        pool = self._executor()
        now = SYSTEM_CLOCK.monotonic()
        with self._lock:
            flight = check.flight
            if flight is not None and flight.running():
                if now >= flight.deadline:
                    return None
                if not fresh and (blocked is None or flight.loop is not blocked):
                    return flight
            outcome: Future[ComponentHealth] = Future()
            outcome.set_running_or_notify_cancel()  # so that no waiter can cancel it
            flight = check.flight = Flight(now, now + check.config.timeout, outcome)
            if task_loop is not None:
                self._start_task(check, flight, task_loop)
                return flight
            future = _submit(check, pool)
        # Outside the lock: a check that already ended lands at once, on this thread.
        future.add_done_callback(lambda done: self._land(check, flight, _value(done)))
        return flight

    def _start_task(self, check: Check, flight: Flight, loop: asyncio.AbstractEventLoop) -> None:
        """Run an async check as a task of ``loop``, cancelled at its timeout."""
        task = loop.create_task(_guarded(check.fn))  # type: ignore[arg-type]
        flight.loop = loop
        expiry = loop.call_later(check.config.timeout, _expire, check, task)
        self._tasks.add(task)  # the loop keeps only a weak reference

        def landed(done: asyncio.Task[object]) -> None:
            expiry.cancel()
            self._tasks.discard(done)
            self._land(check, flight, _value(done))

        task.add_done_callback(landed)

    def _land(self, check: Check, flight: Flight, value: object) -> None:
        """Judge what the run of ``check`` returned or raised; resolve its flight."""
        judge = check.judge
        try:
            duration = SYSTEM_CLOCK.monotonic() - flight.start
            if duration >= check.config.timeout:
                health = check.overran(clock=self._clock)  # late: already reported so
            else:
                health = judge(value, duration, classifier=self._classifier, clock=self._clock)
        except Exception as exc:  # a defect of ours must not leave the flight open for ever
            health = judge(exc, 0.0, classifier=self._classifier, clock=self._clock)
        flight.outcome.set_result(health)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="resilience-health")
            return self._pool


def _submit(check: Check, pool: ThreadPoolExecutor) -> Future[object]:
    if check.is_async:
        # A coroutine check in a sync run: its own event loop, on a pool thread.
        # Bounded by its timeout there too, so that a hung coroutine cannot hold the
        # thread (and the interpreter's exit, which joins pool threads) forever.
        fn, timeout = check.fn, check.config.timeout
        return pool.submit(
            lambda: asyncio.run(asyncio.wait_for(_guarded(fn), timeout))  # type: ignore[arg-type]
        )
    return pool.submit(check.fn)


def _expire(check: Check, task: asyncio.Task[object]) -> None:
    task.cancel()
    # Called back after the task has taken the cancellation: did it end?
    task.get_loop().call_soon(_stubborn, check, task)


def _stubborn(check: Check, task: asyncio.Task[object]) -> None:
    if not task.done():
        logger.warning(
            "health check %r did not stop when cancelled at its timeout of %g s; it is "
            "left running on its event loop and not started again until it ends",
            check.config.name,
            check.config.timeout,
            extra={"component": check.config.name},
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _value(done: Future[object] | asyncio.Future[object]) -> object:
    """What a finished run of a check returned, or the exception it raised."""
    if done.cancelled():
        return asyncio.CancelledError("the run of the check was cancelled")
    error = done.exception()
    return error if error is not None else done.result()


async def _guarded(fn: Callable[[], Awaitable[object]]) -> object:
    """Await an async check; what it raises, even SystemExit, is its result."""
    try:
        return await fn()
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # else a SystemExit would stop the loop
        return exc
