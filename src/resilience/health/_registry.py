"""Health checks: components, per-check timeouts, cached results, one aggregate status.

Checks run concurrently, each under its own timeout: sync checks on a thread pool owned
by the registry, async ones as tasks. Runs that overlap share each check's run in
flight and its result (single flight), so a storm of probes runs a check once at a
time. A check that overruns is reported at its timeout and left to finish in the
background; until it does, it is not started again, so a hanging dependency cannot pile
up threads or tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Self, TypeAlias

from pydantic import Field, ValidationInfo, field_validator

from resilience._breaker.breaker import CircuitBreaker
from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classifier, FailureKind
from resilience._core.clock import SYSTEM_CLOCK, Clock, wall_time
from resilience._core.events import CircuitState, emit
from resilience._core.log import log_event, logger
from resilience._core.options import Options
from resilience._core.shells import is_async
from resilience._core.text import one_line, safe_repr, safe_str
from resilience.health._probes import asgi_app, wsgi_app

__all__ = [
    "CheckResult",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
]


class HealthStatus(enum.Enum):
    """The application's overall health."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"

    def __repr__(self) -> str:
        return f"HealthStatus.{self.name}"


class ComponentStatus(enum.Enum):
    """One component's health."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"
    """The check did not answer (it timed out, or has not run yet)."""

    def __repr__(self) -> str:
        return f"ComponentStatus.{self.name}"


_OK: Final = ComponentStatus.OK
_WARNING: Final = ComponentStatus.WARNING
_ERROR: Final = ComponentStatus.ERROR
_UNKNOWN: Final = ComponentStatus.UNKNOWN
_IETF_STATUS: Final = {_OK: "pass", _WARNING: "warn", _ERROR: "fail", _UNKNOWN: "warn"}
_IETF_OVERALL: Final = {
    HealthStatus.HEALTHY: "pass",
    HealthStatus.DEGRADED: "warn",
    HealthStatus.CRITICAL: "fail",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check may return for more than ok / not ok."""

    status: ComponentStatus
    message: str = ""
    details: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """The latest known health of one component."""

    name: str
    status: ComponentStatus
    message: str
    critical: bool
    last_checked: float
    """Wall-clock time (epoch seconds) the check finished or timed out."""
    duration: float
    """Seconds the check took (its timeout, if it overran)."""
    auto_recoverable: bool
    """Whether the failure is of a kind that passes by itself (a RETRYABLE error)."""
    details: Mapping[str, object] | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True)
class ComponentChanged:
    """A component's status changed between two reports."""

    name: str
    old: ComponentStatus | None
    new: ComponentStatus
    message: str


def aggregate(components: Iterable[ComponentHealth]) -> HealthStatus:
    """CRITICAL if a critical component is ERROR or UNKNOWN; DEGRADED if any is not OK."""
    status = HealthStatus.HEALTHY
    for c in components:
        if c.status is _OK:
            continue
        if c.critical and c.status in (_ERROR, _UNKNOWN):
            return HealthStatus.CRITICAL
        status = HealthStatus.DEGRADED
    return status


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The health of every component checked, and the aggregate."""

    status: HealthStatus
    components: Mapping[str, ComponentHealth]
    checked_at: float = field(default_factory=wall_time)

    @property
    def http_status(self) -> int:
        """503 when CRITICAL (take the instance out of rotation), else 200."""
        return 503 if self.status is HealthStatus.CRITICAL else 200

    def to_dict(self, *, details: bool = True) -> dict[str, Any]:
        """The IETF "Health Check Response Format for HTTP APIs" shape.

        Args:
            details: Include messages and details; leave out for untrusted callers.
        """
        checks: dict[str, list[dict[str, Any]]] = {}
        for c in self.components.values():
            entry: dict[str, Any] = {
                "componentId": c.name,
                "status": _IETF_STATUS[c.status],
                "time": _iso(c.last_checked),
            }
            if details:
                entry["observedValue"] = c.status.value
                entry["output"] = c.message
                entry["critical"] = c.critical
                entry["durationSeconds"] = round(c.duration, 6)
                entry["autoRecoverable"] = c.auto_recoverable
                if c.details:
                    entry["details"] = dict(c.details)
            checks[c.name] = [entry]
        return {"status": _IETF_OVERALL[self.status], "checks": checks}

    def render(self) -> str:
        """A readable report for terminals and logs."""
        lines = [f"health: {self.status.name} ({len(self.components)} components)"]
        width = max((len(name) for name in self.components), default=0)
        for c in self.components.values():
            flags = ""
            if c.status is not _OK:
                flags += " critical" if c.critical else ""
                flags += " auto-recoverable" if c.auto_recoverable else ""
            message = f"  {c.message}" if c.message else ""
            lines.append(
                f"  {c.name:<{width}}  {c.status.name:<7} {c.duration * 1000:7.1f} ms"
                f"{flags}{message}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


CheckFn: TypeAlias = Callable[[], object] | Callable[[], Awaitable[object]]


class _CheckConfig(Options):
    name: str = Field(min_length=1)
    timeout: float = Field(gt=0)
    ttl: float | None = Field(default=None, gt=0)
    failure_ttl: float | None = Field(default=None, gt=0)
    critical: bool = True
    groups: tuple[str, ...] = ("readiness",)
    timeout_status: ComponentStatus = ComponentStatus.UNKNOWN

    @field_validator("timeout_status")
    @classmethod
    def _a_hang_is_not_ok(cls, value: ComponentStatus, info: ValidationInfo) -> ComponentStatus:
        if value is ComponentStatus.OK and info.data.get("critical", True):
            msg = (
                "timeout_status=OK is refused for a critical check: a hung critical check "
                "would report HEALTHY; use UNKNOWN (the default) or ERROR, or register the "
                "check with critical=False"
            )
            raise ValueError(msg)
        return value


@dataclass(eq=False, slots=True)
class _Flight:
    """One run of a check, shared by every run of the registry that asks while it lasts."""

    start: float  # SYSTEM_CLOCK readings
    deadline: float
    outcome: Future[ComponentHealth]
    """Resolved when the check returns or raises, however late; never cancelled."""
    loop: asyncio.AbstractEventLoop | None = None  # the loop of an async check's task

    def running(self) -> bool:
        """Whether the run still goes on: a task of a closed loop never ends."""
        return not self.outcome.done() and not (self.loop is not None and self.loop.is_closed())


@dataclass(slots=True)
class _Check:
    config: _CheckConfig
    fn: CheckFn
    is_async: bool
    last: ComponentHealth | None = None
    last_at: float = 0.0  # injected-clock reading of ``last``
    flight: _Flight | None = None  # the latest run started, until it has ended


class HealthRegistry:
    """The application's health checks, run together into one :class:`HealthReport`.

    Args:
        clock: Time source for cached results (TTLs).
        default_timeout: Seconds a check may take unless registered with its own.
        classifier: Turns a check's exception into a message and ``auto_recoverable``.
        listeners: Receive a :class:`ComponentChanged` when a component's status changes.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        default_timeout: float = 5.0,
        classifier: Classifier | None = None,
        listeners: Iterable[Callable[[ComponentChanged], object]] = (),
    ) -> None:
        if isinstance(default_timeout, bool) or not default_timeout > 0:
            raise ValueError(f"default_timeout must be a positive number, got {default_timeout!r}")
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._default_timeout = float(default_timeout)
        self._classifier = classifier if classifier is not None else Classifier.default()
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._listeners: list[Callable[[ComponentChanged], object]] = list(listeners)
        self._latest: dict[str, ComponentHealth] = {}
        self._tasks: set[asyncio.Task[object]] = set()  # async checks in flight
        # add_breakers(): per registry, what brings its breaker components up to date.
        self._breaker_syncs: dict[BreakerRegistry, Callable[[], None]] = {}

    # ---------------------------------------------------------------- registration

    def check(
        self,
        name: str,
        *,
        critical: bool = True,
        timeout: float | None = None,
        ttl: float | None = None,
        failure_ttl: float | None = None,
        groups: Iterable[str] = ("readiness",),
        timeout_status: ComponentStatus = ComponentStatus.UNKNOWN,
    ) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated function as the check of component ``name``."""

        def decorate(fn: CheckFn) -> CheckFn:
            self.register(
                name,
                fn,
                critical=critical,
                timeout=timeout,
                ttl=ttl,
                failure_ttl=failure_ttl,
                groups=groups,
                timeout_status=timeout_status,
            )
            return fn

        return decorate

    def register(
        self,
        name: str,
        fn: CheckFn,
        *,
        critical: bool = True,
        timeout: float | None = None,
        ttl: float | None = None,
        failure_ttl: float | None = None,
        groups: Iterable[str] = ("readiness",),
        timeout_status: ComponentStatus = ComponentStatus.UNKNOWN,
    ) -> None:
        """Register ``fn`` as the check of component ``name``.

        Args:
            name: The component, unique in the registry.
            fn: Sync or async; returns None or True (ok), False (error) or a
                :class:`CheckResult`; an exception is an error.
            critical: An ERROR or UNKNOWN here makes the whole report CRITICAL.
            timeout: Seconds the check may take; the registry's default otherwise.
            ttl: Seconds an OK or WARNING result is reused before checking again.
            failure_ttl: The same for an ERROR or UNKNOWN result (usually shorter).
            groups: Names of the probe groups the check belongs to (``readiness``).
            timeout_status: What an overrun is: UNKNOWN (default) or ERROR; OK is
                refused for a critical check (a hung one would report HEALTHY).
        """
        if not callable(fn):
            raise TypeError(f"health check {name!r} must be callable, got {fn!r}")
        config = _CheckConfig(
            name=name,
            timeout=self._default_timeout if timeout is None else timeout,
            ttl=ttl,
            failure_ttl=failure_ttl,
            critical=critical,
            groups=tuple([groups] if isinstance(groups, str) else groups),
            timeout_status=timeout_status,
        )
        with self._lock:
            if name in self._checks:
                raise ValueError(
                    f"a health check named {name!r} is already registered; each component "
                    "has one check (combine them, or give them distinct names)"
                )
            self._checks[name] = _Check(config, fn, is_async(fn))

    def add_breakers(self, registry: BreakerRegistry, *, critical: bool = False) -> None:
        """Report every breaker of ``registry`` as a component named ``breaker:<remote>``.

        OPEN and FORCED_OPEN are ERROR, HALF_OPEN is WARNING, with the breaker's reason
        and when it allows a trial call. Breakers created later are included too, and
        evicted ones leave, whenever the components are run, listed or read.

        Args:
            registry: The breakers to report; each registry is added once.
            critical: Whether each breaker's component is critical.
        """
        if not isinstance(registry, BreakerRegistry):
            raise TypeError(f"add_breakers() takes a BreakerRegistry, got {registry!r}")
        if registry in self._breaker_syncs:
            raise ValueError(f"add_breakers(): {registry!r} is already added to this registry")
        template = _CheckConfig(
            name="breaker:", timeout=self._default_timeout, critical=critical
        )
        mine: dict[str, CircuitBreaker] = {}  # component name -> the breaker it reports

        def sync() -> None:
            # The registry creates and evicts breakers at will, so the components are
            # recomputed whenever the set of checks is read. A check registered by hand
            # under the same name is left alone: it wins.
            current = {f"breaker:{b.name}": b for b in registry}
            with self._lock:
                for name in [n for n, b in mine.items() if current.get(n) is not b]:
                    del mine[name]
                    self._checks.pop(name, None)
                    self._latest.pop(name, None)
                for name, breaker in current.items():
                    if name not in mine and name not in self._checks:
                        mine[name] = breaker
                        config = template.model_copy(update={"name": name})
                        check = _breaker_result(breaker)
                        self._checks[name] = _Check(config, check, is_async=False)

        self._breaker_syncs[registry] = sync
        sync()

    def _sync_breakers(self) -> None:
        for sync in list(self._breaker_syncs.values()):
            sync()

    def names(self, group: str | None = None) -> list[str]:
        """The components registered, or those of one group."""
        self._sync_breakers()
        with self._lock:
            return [
                n for n, c in self._checks.items() if group is None or group in c.config.groups
            ]

    def add_listener(self, listener: Callable[[ComponentChanged], object]) -> None:
        """Receive a :class:`ComponentChanged` for every change of a component's status."""
        self._listeners.append(listener)

    def latest(self) -> Mapping[str, ComponentHealth]:
        """The last known health of each component, without running any check."""
        self._sync_breakers()
        with self._lock:
            return dict(self._latest)

    # ------------------------------------------------------------------- running

    def run(self, group: str | None = None) -> HealthReport:
        """Run the checks (of ``group``, or all), concurrently, each under its timeout."""
        return self._run(self._selected(group))

    def recheck(self, name: str) -> ComponentHealth:
        """Run the check of component ``name`` now, whatever its TTL; its health."""
        return self._run([self._one(name)], fresh=True).components[name]

    async def arecheck(self, name: str) -> ComponentHealth:
        """:meth:`recheck` for asyncio."""
        return (await self._arun([self._one(name)], fresh=True)).components[name]

    def _one(self, name: str) -> _Check:
        self._sync_breakers()
        with self._lock:
            check = self._checks.get(name)
        if check is None:
            raise KeyError(f"no health check named {name!r}; registered: {self.names()}")
        return check

    def _run(self, checks: list[_Check], *, fresh: bool = False) -> HealthReport:
        now = self._clock.monotonic()
        results: dict[str, ComponentHealth] = {}
        waiting: list[tuple[_Check, _Flight]] = []
        for check in checks:
            cached = None if fresh else self._cached(check, now)
            if cached is not None:
                results[check.config.name] = cached
                continue
            flight = self._join(check, fresh=fresh, loop=None)
            if flight is None:
                results[check.config.name] = self._still_running(check)
            else:
                waiting.append((check, flight))
        for check, flight in waiting:
            remaining = flight.deadline - SYSTEM_CLOCK.monotonic()
            try:
                results[check.config.name] = flight.outcome.result(timeout=max(0.0, remaining))
            except FutureTimeout:
                results[check.config.name] = self._overran(check)
        return self._report(checks, results)

    async def arun(self, group: str | None = None) -> HealthReport:
        """:meth:`run` for asyncio: async checks as tasks, sync ones on the thread pool."""
        return await self._arun(self._selected(group))

    async def _arun(self, checks: list[_Check], *, fresh: bool = False) -> HealthReport:
        now = self._clock.monotonic()
        loop = asyncio.get_running_loop()
        results: dict[str, ComponentHealth] = {}
        todo: list[Awaitable[tuple[str, ComponentHealth]]] = []
        for check in checks:
            cached = None if fresh else self._cached(check, now)
            if cached is not None:
                results[check.config.name] = cached
                continue
            flight = self._join(check, fresh=fresh, loop=loop)
            if flight is None:
                results[check.config.name] = self._still_running(check)
            else:
                todo.append(self._await(check, flight))
        results.update(await asyncio.gather(*todo))
        return self._report(checks, results)

    async def _await(self, check: _Check, flight: _Flight) -> tuple[str, ComponentHealth]:
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
                return check.config.name, self._overran(check)
        return check.config.name, outcome.result()

    def _join(
        self, check: _Check, *, fresh: bool, loop: asyncio.AbstractEventLoop | None
    ) -> _Flight | None:
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
            flight = check.flight = _Flight(now, now + check.config.timeout, outcome)
            if task_loop is not None:
                self._start_task(check, flight, task_loop)
                return flight
            future = self._submit(check, pool)
        # Outside the lock: a check that already ended lands at once, on this thread.
        future.add_done_callback(lambda done: self._land(check, flight, _value(done)))
        return flight

    def _start_task(
        self, check: _Check, flight: _Flight, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Run an async check as a task of ``loop``, cancelled at its timeout."""
        task = loop.create_task(_guarded(check.fn))  # type: ignore[arg-type]
        flight.loop = loop
        expiry = loop.call_later(check.config.timeout, self._expire, check, task)
        self._tasks.add(task)  # the loop keeps only a weak reference

        def landed(done: asyncio.Task[object]) -> None:
            expiry.cancel()
            self._tasks.discard(done)
            self._land(check, flight, _value(done))

        task.add_done_callback(landed)

    def _expire(self, check: _Check, task: asyncio.Task[object]) -> None:
        task.cancel()
        # Called back after the task has taken the cancellation: did it end?
        task.get_loop().call_soon(self._stubborn, check, task)

    def _stubborn(self, check: _Check, task: asyncio.Task[object]) -> None:
        if not task.done():
            logger.warning(
                "health check %r did not stop when cancelled at its timeout of %g s; it is "
                "left running on its event loop and not started again until it ends",
                check.config.name,
                check.config.timeout,
                extra={"component": check.config.name},
            )

    def _land(self, check: _Check, flight: _Flight, value: object) -> None:
        """Judge what the run of ``check`` returned or raised; resolve its flight."""
        try:
            duration = SYSTEM_CLOCK.monotonic() - flight.start
            if duration >= check.config.timeout:
                health = self._overran(check)  # late: its runs already reported that
            else:
                health = self._judge(check, value, duration)
        except Exception as exc:  # a defect of ours must not leave the flight open for ever
            health = self._judge(check, exc, 0.0)
        flight.outcome.set_result(health)

    def _selected(self, group: str | None) -> list[_Check]:
        self._sync_breakers()
        with self._lock:
            checks = list(self._checks.values())
        if group is None:
            return checks
        return [c for c in checks if group in c.config.groups]

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="resilience-health")
            return self._pool

    def _submit(self, check: _Check, pool: ThreadPoolExecutor) -> Future[object]:
        if check.is_async:
            # A coroutine check in a sync run: its own event loop, on a pool thread.
            # Bounded by its timeout there too, so that a hung coroutine cannot hold the
            # thread (and the interpreter's exit, which joins pool threads) forever.
            fn, timeout = check.fn, check.config.timeout
            return pool.submit(
                lambda: asyncio.run(asyncio.wait_for(_guarded(fn), timeout))  # type: ignore[arg-type]
            )
        return pool.submit(check.fn)

    def _cached(self, check: _Check, now: float) -> ComponentHealth | None:
        last = check.last
        if last is None:
            return None
        ttl = check.config.ttl if last.status in (_OK, _WARNING) else check.config.failure_ttl
        if ttl is None or now - check.last_at >= ttl:
            return None
        return _replace_cached(last)

    def _judge(self, check: _Check, value: object, duration: float) -> ComponentHealth:
        """Turn what a check returned (or raised) into the component's health."""
        config = check.config
        recoverable = False
        details: Mapping[str, object] | None = None
        if value is None or value is True:
            status, message = _OK, ""
        elif value is False:
            status, message = _ERROR, "the check returned False"
        elif isinstance(value, CheckResult) and isinstance(value.status, ComponentStatus):
            status, message, details = value.status, value.message, value.details
            if type(message) is not str:
                message = safe_str(message)
        elif isinstance(value, BaseException):
            verdict = self._classifier.classify(value)
            status = _ERROR
            message = f"{_text(value)} [{verdict.kind.name}: {verdict.reason}]"
            recoverable = verdict.kind is FailureKind.RETRYABLE
        else:
            status = _ERROR
            message = (
                f"the check returned {safe_repr(value)} ({type(value).__name__}); a health "
                "check returns None or True (ok), False (error) or a CheckResult"
            )
        health = ComponentHealth(
            name=config.name,
            status=status,
            message=one_line(message),  # it reaches log lines: no forged ones
            critical=config.critical,
            last_checked=wall_time(),
            duration=duration,
            auto_recoverable=recoverable,
            details=details,
        )
        check.last, check.last_at = health, self._clock.monotonic()
        return health

    def _overran(self, check: _Check) -> ComponentHealth:
        config = check.config
        health = ComponentHealth(
            name=config.name,
            status=config.timeout_status,
            message=f"no answer within its timeout of {config.timeout:g} s",
            critical=config.critical,
            last_checked=wall_time(),
            duration=config.timeout,
            auto_recoverable=True,
        )
        check.last, check.last_at = health, self._clock.monotonic()
        return health

    def _still_running(self, check: _Check) -> ComponentHealth:
        config = check.config
        return ComponentHealth(
            name=config.name,
            status=config.timeout_status,
            message=(
                "its previous check has not finished yet (it overran its timeout of "
                f"{config.timeout:g} s); not started again until it does"
            ),
            critical=config.critical,
            last_checked=wall_time(),
            duration=0.0,
            auto_recoverable=True,
        )

    def _report(self, checks: list[_Check], results: dict[str, ComponentHealth]) -> HealthReport:
        ordered = {c.config.name: results[c.config.name] for c in checks}
        changes: list[ComponentChanged] = []
        with self._lock:
            for name, health in ordered.items():
                old = self._latest.get(name)
                if old is None or old.status is not health.status:
                    changes.append(
                        ComponentChanged(
                            name, old.status if old else None, health.status, health.message
                        )
                    )
                self._latest[name] = health
        for change in changes:
            log_event(change)
            emit(self._listeners, change)
        return HealthReport(aggregate(ordered.values()), ordered)

    def close(self) -> None:
        """Stop the thread pool (checks still running finish in the background)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------- probes, monitor

    def asgi_app(
        self, *, show_details: bool = False, token: str | None = None
    ) -> Callable[..., Awaitable[None]]:
        """An ASGI app answering ``/livez``, ``/readyz`` and ``/health`` (see the docs)."""
        return asgi_app(self, show_details=show_details, token=token)

    def wsgi_app(
        self, *, show_details: bool = False, token: str | None = None
    ) -> Callable[..., Iterable[bytes]]:
        """A WSGI app answering ``/livez``, ``/readyz`` and ``/health``."""
        return wsgi_app(self, show_details=show_details, token=token)

    def monitor(
        self, *, interval: float = 30.0, critical_interval: float | None = None
    ) -> HealthMonitor:
        """A monitor that runs the checks every ``interval`` seconds; start it with ``with``.

        Args:
            interval: Seconds between rounds of checks.
            critical_interval: If set, critical checks run this often instead.
        """
        return HealthMonitor(self, interval=interval, critical_interval=critical_interval)

    def __repr__(self) -> str:
        return f"HealthRegistry({len(self._checks)} checks)"


def _replace_cached(health: ComponentHealth) -> ComponentHealth:
    if health.cached:
        return health
    return ComponentHealth(
        health.name,
        health.status,
        health.message,
        health.critical,
        health.last_checked,
        health.duration,
        health.auto_recoverable,
        health.details,
        cached=True,
    )


def _text(exc: BaseException) -> str:
    message = safe_str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


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


def _breaker_result(breaker: CircuitBreaker) -> Callable[[], CheckResult]:
    """The check of one breaker's component: its state, reason and next trial."""

    def check() -> CheckResult:
        snap = breaker.snapshot()
        details = {"state": snap.state.value}
        if snap.state in (CircuitState.OPEN, CircuitState.FORCED_OPEN):
            status = _ERROR
        elif snap.state is CircuitState.HALF_OPEN:
            status = _WARNING
        else:
            return CheckResult(_OK, "", details)
        when = f"; trial in {snap.retry_after:.0f} s" if snap.retry_after is not None else ""
        return CheckResult(status, f"{snap.state.name} ({snap.reason}{when})", details)

    return check


class HealthMonitor:
    """Runs a registry's checks periodically; status changes go to its listeners.

    ``with monitor:`` runs it on a thread, ``async with monitor:`` as an asyncio task;
    leaving the block stops it (a round in progress finishes first). :meth:`tick`
    runs one round by hand.
    """

    def __init__(
        self, health: HealthRegistry, *, interval: float, critical_interval: float | None
    ) -> None:
        for name, value in (("interval", interval), ("critical_interval", critical_interval)):
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"monitor {name} must be a positive number, got {value!r}")
        self._health = health
        self._interval = interval
        self._critical_interval = critical_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_all = 0.0
        self.rounds = 0
        """Rounds of checks run so far."""
        self.busy = 0.0
        """Seconds spent running checks, to measure the monitor's overhead."""

    def _due(self) -> list[_Check]:
        """The checks to run now: all of them each interval, critical ones in between."""
        health = self._health
        now = health._clock.monotonic()
        checks = health._selected(None)
        if now >= self._next_all:
            self._next_all = now + self._interval
            return checks
        if self._critical_interval is None:
            return []
        return [c for c in checks if c.config.critical]

    @property
    def _period(self) -> float:
        return self._critical_interval or self._interval

    def tick(self) -> HealthReport | None:
        """Run the checks that are due now; the report, or None if none were due."""
        checks = self._due()
        if not checks:
            return None
        start = SYSTEM_CLOCK.monotonic()
        report = self._health._run(checks)
        self.busy += SYSTEM_CLOCK.monotonic() - start
        self.rounds += 1
        return report

    async def atick(self) -> HealthReport | None:
        """:meth:`tick` for asyncio."""
        checks = self._due()
        if not checks:
            return None
        start = SYSTEM_CLOCK.monotonic()
        report = await self._health._arun(checks)
        self.busy += SYSTEM_CLOCK.monotonic() - start
        self.rounds += 1
        return report

    def _wait(self) -> None:
        clock = self._health._clock
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
            await self._health._clock.asleep(self._period)
