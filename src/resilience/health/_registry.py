"""The health registry: components, per-check timeouts, cached results, one aggregate status.

Checks run concurrently, each under its own timeout (see :mod:`._flight` for how runs
that overlap share a check's run). Each report's status changes are told to the
registry's listeners as :class:`ComponentChanged`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta

from typing_extensions import Unpack

from resilience._breaker.registry import BreakerRegistry
from resilience._classify.classifier import Classifier
from resilience._core.clock import SYSTEM_CLOCK, Clock
from resilience._core.events import emit
from resilience._core.log import log_event
from resilience._core.shells import is_async
from resilience.health._breakers import BreakerComponents
from resilience.health._check import Check, CheckConfig, CheckFn, CheckOptions, positive_seconds
from resilience.health._flight import FlightRunner
from resilience.health._monitor import HealthMonitor
from resilience.health._probes import asgi_app, wsgi_app
from resilience.health._report import HealthReport, aggregate
from resilience.health._status import ComponentChanged, ComponentHealth, ComponentStatus

__all__ = ["HealthRegistry"]


class HealthRegistry:
    """The application's health checks, run together into one :class:`HealthReport`.

    Args:
        clock: Time source for cached results (TTLs).
        default_timeout: Seconds (or a timedelta) a check may take unless registered
            with its own.
        classifier: Turns a check's exception into a message and ``auto_recoverable``.
        listeners: Receive a :class:`ComponentChanged` when a component's status changes.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        default_timeout: float | timedelta = 5.0,
        classifier: Classifier | None = None,
        listeners: Iterable[Callable[[ComponentChanged], object]] = (),
    ) -> None:
        self._default_timeout = positive_seconds(default_timeout, what="default_timeout")
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        self._runner = FlightRunner(
            clock=self._clock,
            classifier=classifier if classifier is not None else Classifier.default(),
        )
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()  # guards the checks and the latest results
        self._listeners: list[Callable[[ComponentChanged], object]] = list(listeners)
        self._latest: dict[str, ComponentHealth] = {}
        # add_breakers(): per registry, its breaker components.
        self._breakers: dict[BreakerRegistry, BreakerComponents] = {}

    @property
    def clock(self) -> Clock:
        """The time source of the cached results, which a monitor paces its rounds by."""
        return self._clock

    # ---------------------------------------------------------------- registration

    def check(self, name: str, **options: Unpack[CheckOptions]) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated function as the check of ``name`` (see :meth:`register`)."""

        def decorate(fn: CheckFn) -> CheckFn:
            self.register(name, fn, **options)
            return fn

        return decorate

    def register(
        self,
        name: str,
        fn: CheckFn,
        *,
        critical: bool = True,
        timeout: float | timedelta | None = None,
        ttl: float | timedelta | None = None,
        failure_ttl: float | timedelta | None = None,
        groups: Iterable[str] = ("readiness",),
        timeout_status: ComponentStatus = ComponentStatus.UNKNOWN,
    ) -> None:
        """Register ``fn`` as the check of component ``name``.

        Args:
            name: The component, unique in the registry.
            fn: Sync or async; returns None or True (ok), False (error) or a
                :class:`CheckResult`; an exception is an error.
            critical: An ERROR or UNKNOWN here makes the whole report CRITICAL.
            timeout: Seconds (or a timedelta) the check may take; the registry's default otherwise.
            ttl: Seconds an OK or WARNING result is reused before checking again.
            failure_ttl: The same for an ERROR or UNKNOWN result (usually shorter).
            groups: Names of the probe groups the check belongs to (``readiness``).
            timeout_status: What an overrun is: UNKNOWN (default) or ERROR; OK is
                refused for a critical check (a hung one would report HEALTHY).
        """
        if not callable(fn):
            raise TypeError(f"health check {name!r} must be callable, got {fn!r}")
        config = CheckConfig.model_validate(
            {
                "name": name,
                "timeout": self._default_timeout if timeout is None else timeout,
                "ttl": ttl,
                "failure_ttl": failure_ttl,
                "critical": critical,
                "groups": tuple([groups] if isinstance(groups, str) else groups),
                "timeout_status": timeout_status,
            }
        )
        with self._lock:
            if name in self._checks:
                raise ValueError(
                    f"a health check named {name!r} is already registered; each component "
                    "has one check (combine them, or give them distinct names)"
                )
            self._checks[name] = Check(config, fn, is_async(fn))

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
        if registry in self._breakers:
            raise ValueError(f"add_breakers(): {registry!r} is already added to this registry")
        template = CheckConfig(name="breaker:", timeout=self._default_timeout, critical=critical)
        components = self._breakers[registry] = BreakerComponents(registry, template=template)
        components.sync(self._checks, self._latest, lock=self._lock)

    def _sync_breakers(self) -> None:
        for components in list(self._breakers.values()):
            components.sync(self._checks, self._latest, lock=self._lock)

    def names(self, group: str | None = None) -> list[str]:
        """The components registered, or those of one group."""
        self._sync_breakers()
        with self._lock:
            return [n for n, c in self._checks.items() if group is None or group in c.config.groups]

    def add_listener(self, listener: Callable[[ComponentChanged], object]) -> None:
        """Receive a :class:`ComponentChanged` for every change of a component's status."""
        self._listeners.append(listener)

    def latest(self) -> Mapping[str, ComponentHealth]:
        """The last known health of each component, without running any check."""
        self._sync_breakers()
        with self._lock:
            return dict(self._latest)

    # ------------------------------------------------------------------- running

    def run(self, group: str | None = None, *, critical_only: bool = False) -> HealthReport:
        """Run the checks (of ``group``, or all), concurrently, each under its timeout.

        Args:
            group: Run only the checks of this probe group.
            critical_only: Run only the critical checks (a monitor's rounds in between).
        """
        checks = self._selected(group, critical_only=critical_only)
        return self._report(checks, self._runner.run(checks))

    def recheck(self, name: str) -> ComponentHealth:
        """Run the check of component ``name`` now, whatever its TTL; its health."""
        checks = [self._one(name)]
        return self._report(checks, self._runner.run(checks, fresh=True)).components[name]

    async def arecheck(self, name: str) -> ComponentHealth:
        """:meth:`recheck` for asyncio."""
        checks = [self._one(name)]
        results = await self._runner.arun(checks, fresh=True)
        return self._report(checks, results).components[name]

    async def arun(self, group: str | None = None, *, critical_only: bool = False) -> HealthReport:
        """:meth:`run` for asyncio: async checks as tasks, sync ones on the thread pool."""
        checks = self._selected(group, critical_only=critical_only)
        return self._report(checks, await self._runner.arun(checks))

    def _one(self, name: str) -> Check:
        self._sync_breakers()
        with self._lock:
            check = self._checks.get(name)
        if check is None:
            raise KeyError(f"no health check named {name!r}; registered: {self.names()}")
        return check

    def _selected(self, group: str | None, *, critical_only: bool = False) -> list[Check]:
        self._sync_breakers()
        with self._lock:
            checks = list(self._checks.values())
        return [
            c
            for c in checks
            if (group is None or group in c.config.groups)
            and (not critical_only or c.config.critical)
        ]

    def _report(self, checks: list[Check], results: dict[str, ComponentHealth]) -> HealthReport:
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
        self._runner.close()

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
        self,
        *,
        interval: float | timedelta = 30.0,
        critical_interval: float | timedelta | None = None,
    ) -> HealthMonitor:
        """A monitor that runs the checks every ``interval`` seconds; start it with ``with``.

        Args:
            interval: Seconds (or a timedelta) between rounds of checks.
            critical_interval: If set, critical checks run this often instead.
        """
        return HealthMonitor(self, interval=interval, critical_interval=critical_interval)

    def __repr__(self) -> str:
        return f"HealthRegistry({len(self._checks)} checks)"
