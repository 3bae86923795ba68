"""Composable, typed resilience primitives for calls that fail."""

from __future__ import annotations

from resilience._breaker import BreakerSnapshot, CircuitBreaker
from resilience._budget import BudgetSnapshot, RetryBudget
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
)
from resilience._registry import BreakerRegistry
from resilience._retry import Attempt, Backoff, RetryPolicy
from resilience._version import __version__

__all__ = [
    "Attempt",
    "Backoff",
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BudgetSnapshot",
    "CallRecorded",
    "CallRejected",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Classification",
    "Classifier",
    "Clock",
    "Event",
    "FailureKind",
    "Listener",
    "Outcome",
    "PartialFailure",
    "RegistryFullError",
    "Resilient",
    "RetryBudget",
    "RetryPolicy",
    "RetryScheduled",
    "StateChanged",
    "SystemClock",
    "__version__",
    "resilient",
]
