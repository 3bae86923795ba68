"""One registered check: its configuration, its run in flight, its cached result, its verdicts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeAlias, TypedDict

from pydantic import Field, ValidationInfo, field_validator

from resilience._classify.classifier import Classifier, FailureKind
from resilience._core.clock import Clock, wall_time
from resilience._core.options import Options, Seconds, seconds
from resilience._core.text import one_line, safe_repr, safe_str
from resilience.health._status import CheckResult, ComponentHealth, ComponentStatus

__all__ = ["Check", "CheckConfig", "CheckFn", "Flight", "positive_seconds"]

_OK: Final = ComponentStatus.OK
_WARNING: Final = ComponentStatus.WARNING
_ERROR: Final = ComponentStatus.ERROR

CheckFn: TypeAlias = Callable[[], object] | Callable[[], Awaitable[object]]


def positive_seconds(value: float | timedelta, *, what: str) -> float:
    """``value`` as float seconds, refused unless positive; ``what`` names it in the error."""
    number = seconds(value)
    if isinstance(number, bool) or not number > 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(number)


class CheckOptions(TypedDict, total=False):
    """The keyword options of :meth:`HealthRegistry.register`, for the decorator's form."""

    critical: bool
    timeout: float | timedelta | None
    ttl: float | timedelta | None
    failure_ttl: float | timedelta | None
    groups: Iterable[str]
    timeout_status: ComponentStatus


class CheckConfig(Options):
    """How one component is checked, validated once at registration."""

    name: str = Field(min_length=1)
    timeout: Seconds = Field(gt=0)
    ttl: Seconds | None = Field(default=None, gt=0)
    failure_ttl: Seconds | None = Field(default=None, gt=0)
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
class Flight:
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
class Check:
    """A registered check and what is known of its runs."""

    config: CheckConfig
    fn: CheckFn
    is_async: bool
    last: ComponentHealth | None = None
    last_at: float = 0.0  # injected-clock reading of ``last``
    flight: Flight | None = None  # the latest run started, until it has ended

    def cached(self, now: float) -> ComponentHealth | None:
        """The last result if its TTL has not passed at clock reading ``now``, else None."""
        last = self.last
        if last is None:
            return None
        ttl = self.config.ttl if last.status in (_OK, _WARNING) else self.config.failure_ttl
        if ttl is None or now - self.last_at >= ttl:
            return None
        return _replace_cached(last)

    def judge(
        self, value: object, duration: float, *, classifier: Classifier, clock: Clock
    ) -> ComponentHealth:
        """Turn what the check returned (or raised) into the component's health."""
        config = self.config
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
            verdict = classifier.classify(value)
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
        self.last, self.last_at = health, clock.monotonic()
        return health

    def overran(self, *, clock: Clock) -> ComponentHealth:
        """The component's health when the check gave no answer within its timeout."""
        config = self.config
        health = ComponentHealth(
            name=config.name,
            status=config.timeout_status,
            message=f"no answer within its timeout of {config.timeout:g} s",
            critical=config.critical,
            last_checked=wall_time(),
            duration=config.timeout,
            auto_recoverable=True,
        )
        self.last, self.last_at = health, clock.monotonic()
        return health

    def still_running(self) -> ComponentHealth:
        """The component's health while an overrun run of the check has not ended."""
        config = self.config
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
