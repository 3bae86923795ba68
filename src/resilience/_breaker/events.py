"""What a circuit breaker reports: its states, how a call counts, and its three events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

from resilience._core.enums import ReadableEnum
from resilience._core.events import DEBUG, INFO, WARNING, Event

__all__ = [
    "TRANSITION_NAMES",
    "BreakerEvent",
    "CallRecorded",
    "CallRejected",
    "CircuitState",
    "Listener",
    "Outcome",
    "StateChanged",
]


class CircuitState(ReadableEnum):
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


class Outcome(ReadableEnum):
    """How a finished call counts: for the remote, against it, or not at all."""

    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"
    """Neither (a cancellation, or an error that says nothing about the remote)."""


# Members read through their enum cost a lookup each: the hot paths import these.
CLOSED: Final = CircuitState.CLOSED
OPEN: Final = CircuitState.OPEN
HALF_OPEN: Final = CircuitState.HALF_OPEN
FORCED_OPEN: Final = CircuitState.FORCED_OPEN
DISABLED: Final = CircuitState.DISABLED
METRICS_ONLY: Final = CircuitState.METRICS_ONLY
SUCCESS: Final = Outcome.SUCCESS
FAILURE: Final = Outcome.FAILURE
IGNORED: Final = Outcome.IGNORED


TRANSITION_NAMES: Final[Mapping[CircuitState, str]] = MappingProxyType(
    {
        CircuitState.CLOSED: "breaker.closed",
        CircuitState.OPEN: "breaker.opened",
        CircuitState.HALF_OPEN: "breaker.half_opened",
        CircuitState.FORCED_OPEN: "breaker.forced_open",
        CircuitState.DISABLED: "breaker.disabled",
        CircuitState.METRICS_ONLY: "breaker.metrics_only",
    }
)
"""The :attr:`~StateChanged.event_name` of a transition, by the state it moved to."""

# A circuit that refuses calls is worth a warning; every other move is news.
_STATE_LEVELS: Final = dict.fromkeys(CircuitState, INFO) | {
    CircuitState.OPEN: WARNING,
    CircuitState.FORCED_OPEN: WARNING,
}


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """A breaker moved from one state to another."""

    name: str
    old: CircuitState
    new: CircuitState
    reason: str
    at: float
    """The breaker's clock reading when it happened."""

    @property
    def event_name(self) -> str:
        """``"breaker.opened"``, ``"breaker.closed"``, ... (see :data:`TRANSITION_NAMES`)."""
        return TRANSITION_NAMES[self.new]

    @property
    def level(self) -> int:
        """WARNING when the circuit now refuses calls (OPEN, FORCED_OPEN), else INFO."""
        return _STATE_LEVELS[self.new]

    def describe(self) -> str:
        """``circuit 's3' CLOSED -> OPEN: 5 consecutive failures``."""
        return f"circuit {self.name!r} {self.old.name} -> {self.new.name}: {self.reason}"

    def fields(self) -> dict[str, object]:
        """The remote, both states' names and the reason."""
        return {
            "event": self.event_name,
            "remote": self.name,
            "old_state": self.old.name,
            "new_state": self.new.name,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CallRejected(Event):
    """A breaker refused a call without running it."""

    name: str
    state: CircuitState
    retry_after: float | None
    at: float

    event_name = "breaker.rejected"
    level = DEBUG  # one per refused call

    def describe(self) -> str:
        """``circuit 's3' rejected a call (OPEN; retry after 12.3 s)``."""
        after = "" if self.retry_after is None else f"; retry after {self.retry_after:.3g} s"
        return f"circuit {self.name!r} rejected a call ({self.state.name}{after})"

    def fields(self) -> dict[str, object]:
        """The remote, the state's name and the seconds until a trial (or None)."""
        return {
            "event": self.event_name,
            "remote": self.name,
            "state": self.state.name,
            "retry_after": self.retry_after,
        }


@dataclass(frozen=True, slots=True)
class CallRecorded(Event):
    """A call finished and its outcome was recorded (or, if stale, dropped)."""

    name: str
    outcome: Outcome
    duration: float
    error: BaseException | None
    at: float

    event_name = "breaker.call"
    level = DEBUG  # one per call

    def describe(self) -> str:
        """``call to 's3': failure (ConnectionResetError) in 0.012 s``."""
        error = None if self.error is None else type(self.error).__name__
        what = self.outcome.name.lower() + ("" if error is None else f" ({error})")
        return f"call to {self.name!r}: {what} in {self.duration:.3g} s"

    def fields(self) -> dict[str, object]:
        """The remote, the outcome's name, the duration and the error's type name."""
        return {
            "event": self.event_name,
            "remote": self.name,
            "outcome": self.outcome.name,
            "duration": self.duration,
            "error": None if self.error is None else type(self.error).__name__,
        }


BreakerEvent: TypeAlias = StateChanged | CallRejected | CallRecorded
"""What a breaker delivers to its listeners."""
Listener: TypeAlias = Callable[[BreakerEvent], object]
"""A breaker's (or a registry's) listener."""
