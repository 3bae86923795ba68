"""What a configuration holds: the sections of a remote, and the models of the whole.

A remote's settings are sections, each named in :data:`SECTIONS` with the type its value
validates as and the strategy it adds to the remote's pipeline (outermost first). A new
strategy is one more entry there: the file gets the section, the loader validates it,
and :meth:`Configuration.policy` puts it in the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import GenericAlias
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, create_model, field_validator, model_validator

from resilience._breaker.config import BreakerConfig
from resilience._core.clock import Clock
from resilience._core.options import Options, Seconds
from resilience._core.strategy import Strategy
from resilience._core.timeout import Timeout
from resilience._limit.bulkhead import BulkheadConfig
from resilience._retry.backoff import Backoff
from resilience._retry.policy import RetryPolicy
from resilience.config._chaos import ChaosConfig, chaos
from resilience.config._limits import (
    HedgeConfig,
    LimiterConfig,
    RateLimitConfig,
    bulkhead,
    hedge,
    limiter,
    rate_limiter,
)
from resilience.config._wiring import Wiring
from resilience.recovery import LoggingNotifier, Notifier, RestartBudget, Severity, WebhookNotifier

__all__ = [
    "SECTIONS",
    "CheckConfig",
    "ConfigFile",
    "NotifierConfig",
    "RecoveryConfig",
    "RemoteConfig",
    "RetryConfig",
    "Section",
    "StoreConfig",
    "Wiring",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """One section of a remote's settings.

    Attributes:
        kind: The type its value validates as (a model, or ``Seconds``).
        strategy: Builds the strategy it adds to the remote's pipeline from its value
            (the remote's own, else the defaults', else None); None adds nothing.
        doc: One line for the documentation.
    """

    kind: Any
    strategy: Callable[[Any, Wiring], Strategy | None] | None
    doc: str


class RetryConfig(Options):
    """A remote's retry policy, as :class:`RetryPolicy` takes it."""

    attempts: int = Field(default=3, ge=1)
    backoff: Backoff = Backoff()
    deadline: Seconds | None = Field(default=None, gt=0)
    max_retry_after: Seconds = Field(default=60.0, ge=0)

    def policy(self, *, clock: Clock | None = None) -> RetryPolicy:
        """The :class:`RetryPolicy` these settings describe."""
        return RetryPolicy(
            attempts=self.attempts,
            backoff=self.backoff,
            deadline=self.deadline,
            max_retry_after=self.max_retry_after,
            clock=clock,
        )


class CheckConfig(Options):
    """A remote's health check: an HTTP GET, a TCP connect, or an SQLite file."""

    http: str | None = None
    """A URL whose GET must answer below 400."""
    tcp: str | None = None
    """``host:port`` that must accept a connection."""
    sqlite: str | None = None
    """The path of an SQLite database that must pass ``PRAGMA quick_check``."""
    timeout: Seconds = Field(default=2.0, gt=0)
    critical: bool = True

    @field_validator("http")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, ("http", "https"), "an http:// or https:// URL, e.g. "
                      "'https://billing.internal/health'")
        return value

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"[^:\s]+:\d{1,5}", value)
            or not value.isprintable()
            or not 0 < int(value.rpartition(":")[2]) <= 65535  # noqa: PLR2004
        ):
            raise ValueError("expected host:port, e.g. 'db.internal:5432'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("http", "tcp", "sqlite") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a check needs exactly one of http, tcp or sqlite, got {kinds or 'none'}"
            )
        return self


def _retry(value: RetryConfig | None, wiring: Wiring) -> Strategy | None:
    return value.policy(clock=wiring.clock) if value is not None else None


def _breaker(value: BreakerConfig | None, wiring: Wiring) -> Strategy:  # noqa: ARG001
    # Always: the registry's default covers a remote with no breaker section, and the
    # registry is what a reload reconfigures in place.
    return wiring.registry.protect(wiring.remote)


def _timeout(value: float | None, wiring: Wiring) -> Strategy | None:
    return Timeout(value, clock=wiring.clock) if value is not None else None


SECTIONS: dict[str, Section] = {
    "retry": Section(kind=RetryConfig, strategy=_retry, doc="the retry policy"),
    "breaker": Section(
        kind=BreakerConfig, strategy=_breaker,
        doc="the breaker: an override of the defaults' (it inherits what it does not set)",
    ),
    "rate_limiter": Section(
        kind=RateLimitConfig, strategy=rate_limiter,
        doc="the rate limit: rate calls per per seconds (this process's), burst, max_wait",
    ),
    "bulkhead": Section(
        kind=BulkheadConfig, strategy=bulkhead,
        doc="the bulkhead: max_concurrent calls at once, max_queue waiting queue_timeout",
    ),
    "limiter": Section(
        kind=LimiterConfig, strategy=limiter,
        doc="the adaptive limiter: algorithm (aimd or gradient2) and its fields",
    ),
    "hedge": Section(
        kind=HedgeConfig, strategy=hedge,
        doc="hedging (async calls only): delay or percentile, max_hedges",
    ),
    "timeout": Section(
        kind=Annotated[Seconds, Field(gt=0)], strategy=_timeout, doc="seconds per attempt"
    ),
    "chaos": Section(
        kind=ChaosConfig, strategy=chaos,
        doc="fault injection, innermost: a fault or a latency at rate, only if enabled = true",
    ),
    "check": Section(kind=CheckConfig, strategy=None, doc="the health check"),
}
"""A remote's sections, in pipeline order (outermost first): name -> :class:`Section`."""


def _remote_model(sections: Mapping[str, Section]) -> type[Options]:
    """The model of one remote: every section optional."""
    fields: dict[str, Any] = {
        name: (section.kind | None, Field(default=None, description=section.doc))
        for name, section in sections.items()
    }
    return create_model("RemoteConfig", __base__=Options, __doc__="One remote's sections.",
                        **fields)


RemoteConfig = _remote_model(SECTIONS)
"""One remote's settings: a field per entry of :data:`SECTIONS`, each optional."""


class StoreConfig(Options):
    """Where a fleet shares its breakers (to show their state) and its shared rate limits."""

    redis: str
    namespace: str = "resilience"

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        check_url(value, ("redis", "rediss", "unix"), "a redis://, rediss:// or unix:// URL, "
                  "e.g. 'redis://127.0.0.1:6379/0'")
        return value


class NotifierConfig(Options):
    """Where escalations go: a webhook URL, or a logger."""

    webhook: str | None = None
    """An http:// or https:// URL each incident is POSTed to as JSON."""
    log: str | None = None
    """The name of a logger each incident is logged to (``"resilience"``, say)."""
    min_severity: Severity = Severity.P3
    timeout: Seconds = Field(default=10.0, gt=0)
    """Seconds a webhook's whole exchange may take."""
    headers: dict[str, str] = Field(default_factory=dict)
    """A webhook's extra headers (an ``Authorization``, say)."""

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, ("http", "https"), "an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.webhook is None) == (self.log is None):
            raise ValueError("a notifier needs exactly one of webhook or log")
        return self

    def notifier(self) -> Notifier:
        """The notifier these settings describe."""
        if self.webhook is not None:
            return WebhookNotifier(
                self.webhook, min_severity=self.min_severity, timeout=self.timeout,
                headers=self.headers,
            )
        import logging  # noqa: PLC0415 - only a log notifier needs it

        return LoggingNotifier(logging.getLogger(self.log), min_severity=self.min_severity)


class RecoveryConfig(Options):
    """A :class:`~resilience.recovery.RecoveryManager`'s settings."""

    budget: RestartBudget = RestartBudget()
    notify_timeout: Seconds = Field(default=30.0, gt=0)
    notifiers: tuple[NotifierConfig, ...] = ()


_REMOTES: Any = GenericAlias(dict, (str, RemoteConfig))  # dict[str, RemoteConfig]

ConfigFile: type[Options] = create_model(
    "ConfigFile",
    __base__=Options,
    __doc__="A whole configuration: defaults, remotes, the store, recovery.",
    defaults=(RemoteConfig, Field(default_factory=RemoteConfig)),
    remotes=(_REMOTES, Field(min_length=1)),
    store=(StoreConfig | None, None),
    recovery=(RecoveryConfig | None, None),
)
"""The model of a whole configuration."""


def check_url(value: str, schemes: tuple[str, ...], expected: str) -> None:
    """Raise the ValueError pydantic reports unless ``value`` is a usable URL of ``schemes``."""
    try:
        parts = urlsplit(value)
        _ = parts.port  # a number up to 65535, or none
    except ValueError:
        raise ValueError(f"expected {expected}; its host or port is malformed") from None
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(f"expected {expected}, without spaces or control characters")
    if parts.scheme not in schemes:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"expected {expected}, got {got}")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"expected {expected}; a unix:// URL needs the socket's path")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"expected {expected}; it has no host")
