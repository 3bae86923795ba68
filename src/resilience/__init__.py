"""Composable, typed resilience primitives for calls that fail."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from resilience._batch import BatchProcessor, BatchProgress, BatchResult, ItemFailure
from resilience._breaker import BreakerSnapshot, CircuitBreaker
from resilience._breaker_store import BreakerStore
from resilience._budget import BudgetSnapshot, RetryBudget
from resilience._checkpoint import (
    CheckpointError,
    CheckpointStore,
    ItemKey,
    ItemRecord,
    JobBusyError,
    JobLeases,
    LeaseLostError,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)
from resilience._classify import Classification, Classifier, FailureKind, PartialFailure
from resilience._clock import Clock, SystemClock
from resilience._compose import CallTimeoutError, Resilient, resilient
from resilience._config import BreakerConfig
from resilience._errors import CircuitOpenError, RegistryFullError
from resilience._events import (
    CallRecorded,
    CallRejected,
    CircuitState,
    Event,
    Listener,
    Outcome,
    RetryScheduled,
    StateChanged,
    StoreDegraded,
    StoreRecovered,
)
from resilience._gate import FeatureChanged, FeatureGate
from resilience._health import (
    CheckResult,
    ComponentChanged,
    ComponentHealth,
    ComponentStatus,
    HealthMonitor,
    HealthRegistry,
    HealthReport,
    HealthStatus,
)
from resilience._incident import (
    ActionRecord,
    Incident,
    IncidentStore,
    MemoryIncidentStore,
    NotifierRecord,
    Resolution,
    Severity,
    SQLiteIncidentStore,
)
from resilience._log import log_event
from resilience._notify import (
    CallbackNotifier,
    LoggingNotifier,
    Notifier,
    NotifyError,
    WebhookNotifier,
)
from resilience._recovery import RecoveryManager, RecoveryStats, RestartBudget, Stage
from resilience._registry import BreakerRegistry
from resilience._retry import Attempt, Backoff, RetryPolicy
from resilience._version import __version__

if TYPE_CHECKING:
    from resilience._pg_checkpoint import PostgresCheckpointStore as PostgresCheckpointStore
    from resilience._redis_breaker import RedisBreakerStore as RedisBreakerStore
    from resilience._redis_budget import RedisRetryBudget as RedisRetryBudget
    from resilience._redis_checkpoint import RedisCheckpointStore as RedisCheckpointStore

# Backed by optional extras (redis, postgres): imported on first use, so that
# ``import resilience`` needs neither client library.
_LAZY = {
    "PostgresCheckpointStore": "resilience._pg_checkpoint",
    "RedisBreakerStore": "resilience._redis_breaker",
    "RedisCheckpointStore": "resilience._redis_checkpoint",
    "RedisRetryBudget": "resilience._redis_budget",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'resilience' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY])

__all__ = [
    "ActionRecord",
    "Attempt",
    "Backoff",
    "BatchProcessor",
    "BatchProgress",
    "BatchResult",
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerStore",
    "BudgetSnapshot",
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
    "Event",
    "FailureKind",
    "FeatureChanged",
    "FeatureGate",
    "HealthMonitor",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "Incident",
    "IncidentStore",
    "ItemFailure",
    "ItemKey",
    "ItemRecord",
    "JobBusyError",
    "JobLeases",
    "LeaseLostError",
    "Listener",
    "LoggingNotifier",
    "MemoryCheckpointStore",
    "MemoryIncidentStore",
    "Notifier",
    "NotifierRecord",
    "NotifyError",
    "Outcome",
    "PartialFailure",
    "RecoveryManager",
    "RecoveryStats",
    "RegistryFullError",
    "Resilient",
    "Resolution",
    "RestartBudget",
    "RetryBudget",
    "RetryPolicy",
    "RetryScheduled",
    "SQLiteCheckpointStore",
    "SQLiteIncidentStore",
    "Severity",
    "Stage",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
    "SystemClock",
    "WebhookNotifier",
    "__version__",
    "log_event",
    "resilient",
]
