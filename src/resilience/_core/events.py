"""Events: what breakers report to listeners, and the dispatch that keeps listeners harmless."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from resilience._core.text import safe_repr

if TYPE_CHECKING:
    from resilience._classify.classifier import Classification

__all__ = [
    "CallRecorded",
    "CallRejected",
    "CircuitState",
    "Event",
    "Listener",
    "Outcome",
    "RetryScheduled",
    "StateChanged",
    "StoreDegraded",
    "StoreRecovered",
    "emit",
]

logger = logging.getLogger("resilience")


class CircuitState(enum.Enum):
    """The states of a circuit breaker."""

    CLOSED = "closed"
    """Calls go through; failures are counted."""
    OPEN = "open"
    """Calls are rejected until the open period has passed."""
    HALF_OPEN = "half_open"
    """A limited number of trial calls decide whether to close or re-open."""
    FORCED_OPEN = "forced_open"
    """Manual: every call is rejected until a manual transition or reset()."""
    DISABLED = "disabled"
    """Manual: every call goes through and nothing is recorded."""
    METRICS_ONLY = "metrics_only"
    """Manual: every call goes through and is recorded, but the circuit never trips."""

    def __repr__(self) -> str:
        return f"CircuitState.{self.name}"


class Outcome(enum.Enum):
    """How a finished call counts: for the remote, against it, or not at all."""

    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"
    """Neither (a cancellation, or an error that says nothing about the remote)."""

    def __repr__(self) -> str:
        return f"Outcome.{self.name}"


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A breaker moved from one state to another."""

    name: str
    old: CircuitState
    new: CircuitState
    reason: str
    at: float
    """The breaker's clock reading when it happened."""


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A breaker refused a call without running it."""

    name: str
    state: CircuitState
    retry_after: float | None
    at: float


@dataclass(frozen=True, slots=True)
class CallRecorded:
    """A call finished and its outcome was recorded (or, if stale, dropped)."""

    name: str
    outcome: Outcome
    duration: float
    error: BaseException | None
    at: float


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A retry policy will wait ``delay`` seconds, then make attempt ``attempt + 1``."""

    attempt: int
    """The attempt that just failed (1 for the first call)."""
    error: BaseException
    classification: Classification
    delay: float
    elapsed: float
    """Seconds since the operation started (or since its first failure)."""


@dataclass(frozen=True, slots=True)
class StoreDegraded:
    """A shared breaker store lost its server: its breakers follow ``on_error``."""

    store: str
    """The store, as its repr (credentials redacted)."""
    on_error: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class StoreRecovered:
    """A shared breaker store reached its server again and resynchronised."""

    store: str
    down_for: float
    """Seconds the store was unreachable."""


E = TypeVar("E")
Event: TypeAlias = StateChanged | CallRejected | CallRecorded
Listener: TypeAlias = Callable[[Event], object]

_reported: set[int] = set()


def emit(listeners: Iterable[Callable[[E], object]], event: E) -> None:
    """Deliver ``event`` to each listener; a listener that raises is logged, once."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            key = id(listener)
            if key not in _reported:
                _reported.add(key)
                logger.exception(
                    "resilience listener %s raised while handling %s; the call it reported "
                    "on is unaffected. Further errors from this listener are not logged.",
                    safe_repr(listener),  # its repr may raise too, and must not escape
                    type(event).__name__,
                )
