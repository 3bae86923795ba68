"""Composable, typed resilience primitives for calls that fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience import stores
from resilience._breaker.breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker.config import BreakerConfig
from resilience._breaker.errors import CircuitOpenError
from resilience._breaker.events import (
    CallRecorded,
    CallRejected,
    CircuitState,
    Listener,
    Outcome,
    StateChanged,
)
from resilience._breaker.registry import BreakerRegistry
from resilience._breaker.remote import RemoteBreakers
from resilience._breaker.store import BreakerLink, BreakerStore, SharedBreaker
from resilience._classify.classifier import Classification, Classifier, FailureKind, PartialFailure
from resilience._compose import Resilient, resilient
from resilience._core.clock import Clock, SystemClock
from resilience._core.errors import RegistryFullError, RejectedError, ResilienceError
from resilience._core.events import Event
from resilience._core.fallback import Fallback
from resilience._core.log import log_event
from resilience._core.measure import Measured, Measurement
from resilience._core.misuse import MisusedCallError
from resilience._core.pipeline import Pipeline
from resilience._core.remotes import PerRemote, Remotes
from resilience._core.strategy import Replace, Strategy
from resilience._core.timeout import CallTimeoutError, Timeout
from resilience._fallback.alternate import AlternateRemote, RemoteUnavailableError
from resilience._fallback.cached import CachedFallback, CachedResultServed
from resilience._hedge.events import HedgeStarted, HedgeWon
from resilience._hedge.hedge import Hedge
from resilience._limit.adaptive import AdaptiveLimiter, LimitExceededError
from resilience._limit.algorithms import AIMD, Gradient2
from resilience._limit.bulkhead import Bulkhead, BulkheadConfig, BulkheadFullError
from resilience._limit.events import BulkheadRejected, LimitChanged, LimiterRejected
from resilience._rate.bucket import RateLink, RateStore
from resilience._rate.config import RateLimiterOptions
from resilience._rate.errors import RateLimitedError
from resilience._rate.events import RateDelayed, RateLimited
from resilience._rate.limiter import RateLimiter
from resilience._retry.attempts import Attempt, Attempts
from resilience._retry.backoff import Backoff
from resilience._retry.budget import BudgetSnapshot, RetryBudget
from resilience._retry.events import RetryScheduled
from resilience._retry.policy import RetryPolicy
from resilience._retry.results import RetryResultError, retry_on_status
from resilience._version import __version__
from resilience.batch import (
    BatchProcessor,
    BatchProgress,
    BatchResult,
    CheckpointError,
    CheckpointStore,
    ItemFailure,
    ItemKey,
    ItemRecord,
    JobBusyError,
    JobLeases,
    LeaseLostError,
    MemoryCheckpointStore,
)
from resilience.health import (
    CheckResult,
    ComponentChanged,
    ComponentHealth,
    ComponentStatus,
    FeatureChanged,
    FeatureGate,
    HealthMonitor,
    HealthRegistry,
    HealthReport,
    HealthStatus,
)
from resilience.recovery import (
    ActionRecord,
    CallbackNotifier,
    EmailNotifier,
    EventRecorder,
    Incident,
    IncidentReport,
    IncidentStore,
    LoggingNotifier,
    MemoryIncidentStore,
    Notifier,
    NotifierRecord,
    NotifyError,
    PagerDutyNotifier,
    RecoveryManager,
    RecoveryStats,
    Resolution,
    RestartBudget,
    Router,
    RoutingMatrix,
    Severity,
    SlackNotifier,
    Stage,
    TelegramNotifier,
    WebhookNotifier,
    diagnostics_bundle,
    incident_report,
    postmortem,
)
from resilience.stores._events import StoreDegraded, StoreRecovered
from resilience.stores.sqlite._checkpoint import SQLiteCheckpointStore
from resilience.stores.sqlite._incidents import SQLiteIncidentStore

if TYPE_CHECKING:
    from resilience.stores.postgres._checkpoint import (
        PostgresCheckpointStore as PostgresCheckpointStore,
    )
    from resilience.stores.redis._breaker import RedisBreakerStore as RedisBreakerStore
    from resilience.stores.redis._budget import RedisRetryBudget as RedisRetryBudget
    from resilience.stores.redis._checkpoint import RedisCheckpointStore as RedisCheckpointStore
    from resilience.stores.redis._rate import RedisRateStore as RedisRateStore

# Backed by optional extras (redis, postgres): imported on first use, through
# resilience.stores, so that ``import resilience`` needs neither client library.
_FROM_STORES = frozenset({
    "PostgresCheckpointStore",
    "RedisBreakerStore",
    "RedisCheckpointStore",
    "RedisRateStore",
    "RedisRetryBudget",
})  # fmt: skip


def __getattr__(name: str) -> object:
    if name not in _FROM_STORES:
        raise AttributeError(f"module 'resilience' has no attribute {name!r}")
    return getattr(stores, name)


def __dir__() -> list[str]:
    return sorted([*__all__, *_FROM_STORES])


__all__ = [
    "AIMD",
    "ActionRecord",
    "AdaptiveLimiter",
    "AlternateRemote",
    "Attempt",
    "Attempts",
    "Backoff",
    "BatchProcessor",
    "BatchProgress",
    "BatchResult",
    "BreakerConfig",
    "BreakerLink",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerStore",
    "BudgetSnapshot",
    "Bulkhead",
    "BulkheadConfig",
    "BulkheadFullError",
    "BulkheadRejected",
    "CachedFallback",
    "CachedResultServed",
    "CallRecorded",
    "CallRejected",
    "CallTimeoutError",
    "CallbackNotifier",
    "CheckResult",
    "CheckpointError",
    "CheckpointStore",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Classification",
    "Classifier",
    "Clock",
    "ComponentChanged",
    "ComponentHealth",
    "ComponentStatus",
    "EmailNotifier",
    "Event",
    "EventRecorder",
    "FailureKind",
    "Fallback",
    "FeatureChanged",
    "FeatureGate",
    "Gradient2",
    "HealthMonitor",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "Hedge",
    "HedgeStarted",
    "HedgeWon",
    "Incident",
    "IncidentReport",
    "IncidentStore",
    "ItemFailure",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "LimitChanged",
    "LimitExceededError",
    "LimiterRejected",
    "Listener",
    "LoggingNotifier",
    "Measured",
    "Measurement",
    "MemoryCheckpointStore",
    "MemoryIncidentStore",
    "MisusedCallError",
    "Notifier",
    "NotifierRecord",
    "NotifyError",
    "Outcome",
    "PagerDutyNotifier",
    "PartialFailure",
    "PerRemote",
    "Pipeline",
    "RateDelayed",
    "RateLimited",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterOptions",
    "RateLink",
    "RateStore",
    "RecoveryManager",
    "RecoveryStats",
    "RegistryFullError",
    "RejectedError",
    "RemoteBreakers",
    "RemoteUnavailableError",
    "Remotes",
    "Replace",
    "ResilienceError",
    "Resilient",
    "Resolution",
    "RestartBudget",
    "RetryBudget",
    "RetryPolicy",
    "RetryResultError",
    "RetryScheduled",
    "Router",
    "RoutingMatrix",
    "SQLiteCheckpointStore",
    "SQLiteIncidentStore",
    "Severity",
    "SharedBreaker",
    "SlackNotifier",
    "Stage",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
    "Strategy",
    "SystemClock",
    "TelegramNotifier",
    "Timeout",
    "WebhookNotifier",
    "__version__",
    "diagnostics_bundle",
    "incident_report",
    "log_event",
    "postmortem",
    "resilient",
    "retry_on_status",
]
